"""`mkp-admin conntest` through click against the in-process server (SQLite and PostgreSQL)."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta

import pytest
from conntest_helpers import SAPPORO_PLACE, body, soon

from mkp_admin.conntest import parse_at, parse_duration
from mkp_core.dates import JST


def test_schedule_list_status_report(town):
    museum = town.enroll(2)
    library = town.enroll(1, place=SAPPORO_PLACE)
    done = town.platform.admin("conntest", "schedule", "--at", "+0s", "--window", "2m", "--json")
    assert done.returncode == 0, done.stderr
    test = json.loads(done.stdout)
    assert test["window_seconds"] == 120 and test["municipality"] is None
    for t in museum:
        town.report(t, test["id"], body(latency_ms=15))
    town.report(library[0], test["id"], body(reader="no_reader"))

    listed = town.platform.admin("conntest", "list")
    assert listed.returncode == 0 and f"{test['id']:>4}  running" in listed.stdout

    once = town.platform.admin("conntest", "status", str(test["id"]), "--once")
    assert once.returncode == 0, once.stderr
    assert "reported 3 / 3 (100 %): ok 2, failed 1" in once.stdout
    assert "reader: no_reader" in once.stdout and "p50 15 ms" in once.stdout
    as_json = json.loads(town.platform.admin("conntest", "status", str(test["id"]), "--json").stdout)
    assert as_json["failures"] == [{"check": "reader", "code": "no_reader", "count": 1}]

    text = town.platform.admin("conntest", "report", str(test["id"]))
    assert text.returncode == 0 and "札幌市" in text.stdout and "reader: no_reader" in text.stdout
    areas = list(
        csv.DictReader(
            io.StringIO(town.platform.admin("conntest", "report", str(test["id"]), "--csv").stdout)
        )
    )
    assert [(a["municipality"], a["expected"], a["failed"]) for a in areas] == [
        ("011002", "1", "1"),
        ("142018", "2", "0"),
    ]
    full = json.loads(town.platform.admin("conntest", "report", str(test["id"]), "--json").stdout)
    assert full["missing"] == [] and len(full["failed_terminals"]) == 1


def test_report_lists_the_terminals_to_go_and_look_at(town):
    reported, silent = town.enroll(1, place=SAPPORO_PLACE) + town.enroll(1)
    test = json.loads(town.platform.admin("conntest", "schedule", "--at", "now", "--json").stdout)
    town.report(reported, test["id"], body(printer="printer_offline"))
    out = town.platform.admin("conntest", "report", str(test["id"]), "--csv", "--terminals")
    rows = list(csv.DictReader(io.StringIO(out.stdout)))
    assert [(r["problem"], r["terminal_id"]) for r in rows] == [
        ("missing", silent.terminal_id),
        ("failed", reported.terminal_id),
    ]
    assert rows[0]["address"] == "神奈川県横須賀市" and rows[0]["place_name"] == "横須賀美術館"
    assert rows[1]["check"] == "printer" and rows[1]["code"] == "printer_offline"
    text = town.platform.admin("conntest", "report", str(test["id"])).stdout
    assert f"{silent.terminal_id}  counter 2  横須賀美術館 (yokosuka-museum), 神奈川県横須賀市" in text


@pytest.mark.parametrize(
    "args,message",
    [
        (["--at", "tomorrow"], "--at: 'tomorrow' is not a time"),
        (["--at", "+1m", "--window", "0"], "--window: from 1s to 60m"),
        (["--at", "+1m", "--window", "-5s"], "--window: from 1s to 60m"),
        (["--at", "+1m", "--window", "2h"], "--window: from 1s to 60m"),
        (["--at", "+1m", "--window", "lots"], "--window: 'lots' is not a duration"),
    ],
)
def test_bad_schedule_options_exit_2_and_send_nothing(town, args, message):
    done = town.platform.admin("conntest", "schedule", *args)
    assert done.returncode == 2 and done.stderr.strip().startswith(f"error: {message}")
    assert town.api.get("/v1/conntests")["tests"] == []


def test_refusals_exit_1_with_the_code(town):
    past = town.platform.admin("conntest", "schedule", "--at", "2020-01-01T10:00")
    assert past.returncode == 1 and past.stderr.startswith("error: conntest_in_past:")
    unknown = town.platform.admin("conntest", "schedule", "--at", "+1m", "--municipality", "131016")
    assert unknown.returncode == 1 and unknown.stderr.startswith("error: unknown_municipality:")
    for command in ("status", "report"):
        done = town.platform.admin("conntest", command, "42")
        assert done.returncode == 1 and done.stderr.startswith("error: unknown_conntest:")
    bad_id = town.platform.admin("conntest", "status", "zero")
    assert bad_id.returncode == 2
    alone = town.platform.admin("conntest", "report", "1", "--terminals")
    assert alone.returncode == 2


def test_time_and_duration_parsing():
    now = datetime(2027, 3, 1, 0, 0, tzinfo=UTC)
    assert parse_at("2027-03-01T10:00", now) == datetime(2027, 3, 1, 10, 0, tzinfo=JST)
    assert parse_at("2027-03-01T10:00+00:00", now) == datetime(2027, 3, 1, 10, 0, tzinfo=UTC)
    assert parse_at("+90s", now) == now + timedelta(seconds=90)
    assert parse_at("now", now) == now
    assert [parse_duration(t) for t in ("60s", "5m", "1h", "45")] == [60, 300, 3600, 45]
    for bad in ("", "5d", "1.5m", "m"):
        with pytest.raises(ValueError):
            parse_duration(bad)
    assert soon(0) <= datetime.now(UTC)
