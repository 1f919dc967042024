"""`mkp-admin` for municipal points as an operator uses it: commands run in-process through click,
against the real app behind the in-process transport (both databases)."""

from __future__ import annotations

import csv
import io
import json
import stat
from datetime import UTC, datetime, timedelta

import pytest
from mkp_testing import invoke, served_in_process
from points_helpers import DEPARTMENT, REASON, YOKOSUKA

from mkp_admin import cli as admin_cli
from mkp_core.dates import jst_date
from server.db.engine import write
from server.platform.mykey import registry, service_links
from server.platform.operators.service import Operator
from server.points import rules
from server.points.departments import grants
from server.points.expiry_policy import ExpiryPolicy

TODAY = jst_date(datetime.now(UTC)).isoformat()


@pytest.fixture
def admin(app, town, tmp_path):
    """Run mkp-admin as the central operator: (exit code, stdout, stderr)."""
    with served_in_process(app) as url:
        env = {
            "MKP_SERVER": url,
            "MKP_TOKEN": town.central["Authorization"].split()[1],
            "MKP_ADMIN_CONFIG": str(tmp_path / "none.toml"),
        }

        def run(*args: str) -> tuple[int, str, str]:
            result = invoke(admin_cli.main, *args, env=env)
            return result.exit_code, result.stdout, result.stderr

        yield run


def test_a_csv_file_is_checked_dry_run_applied_once(admin, tmp_path):
    rows = [
        ["自治体コード", "マイキーID", "ポイント", "付与種別", "備考"],
        ["142018", "HANAKO23", "500", "volunteer", "清掃活動 4月"],
        ["142018", "TAROU234", "1000", "childcare", ""],
        ["142018", "HANAKO23", "300", "childcare", ""],
    ]
    text = io.StringIO()
    csv.writer(text).writerows(rows)
    file = tmp_path / "4月分.csv"
    file.write_bytes(text.getvalue().encode("cp932"))  # Excel's Japanese CSV

    code, out, err = admin("grant", "--csv", str(file), "--department", DEPARTMENT, "--dry-run")
    assert code == 0, err
    assert "dry run: 3 rows, 2 holders, 1,800 142018 points" in out and "nothing was granted" in out
    assert admin("balance", "HANAKO23")[1].strip() == "HANAKO23 holds no points"

    code, out, err = admin("--json", "grant", "--csv", str(file), "--department", DEPARTMENT)
    summary = json.loads(out)
    assert code == 0 and (summary["applied"], summary["rows"], summary["points"]) == (True, 3, 1800)
    assert {k["grant_kind"]: k["points"] for k in summary["by_kind"]} == {"childcare": 1300, "volunteer": 500}

    code, out, err = admin("grant", "--csv", str(file), "--department", DEPARTMENT)
    assert code == 0 and "was applied already" in out and "nothing changed" in out
    assert "1,800" in admin("department", "show", DEPARTMENT)[1]  # granted once only
    assert "800" in admin("balance", "HANAKO23")[1]


@pytest.mark.parametrize(
    "bad_row,line,code",
    [
        ("142018,TAROU234,1.5,childcare\n", 4, "invalid_amount"),
        ("142018,NOBODY99,10,childcare\n", 4, "unknown_mykey"),
    ],
    ids=["checked here", "checked by the server"],
)
def test_a_file_with_a_bad_row_exits_1_naming_its_line(admin, tmp_path, bad_row, line, code):
    file = tmp_path / "grants.csv"
    file.write_text("municipality,mykey_id,amount,grant_kind\n142018,HANAKO23,5,childcare\n\n" + bad_row)
    exit_code, out, err = admin("grant", "--csv", str(file), "--department", DEPARTMENT)
    assert exit_code == 1 and out == ""
    assert f"line {line}: {code}" in err and err.strip().splitlines()[-1].startswith("error: ")
    assert f"line {line}" in err.strip().splitlines()[-1]
    assert "holds no points" in admin("balance", "HANAKO23")[1]


def test_one_grant_spend_refund_balance_and_the_expiry_sweep(admin, engine):
    central = Operator(1, "central", None)
    past = datetime.now(UTC) - timedelta(days=5)
    with write(engine) as conn:  # 400 points granted five days ago, valid for one day
        change = rules.RuleChange(past, ("museum", "shop"), (), ExpiryPolicy("days", 1), 1, None, False)
        rules.add_rule(conn, central, YOKOSUKA, change, now=past)
        grants.grant(
            conn, central, DEPARTMENT, "g-old-0001", grants.GrantAsked("HANAKO23", 400, "childcare"), past
        )
    admin("rule", "set", YOKOSUKA, "--kinds", "museum,shop", "--expiry", "month_end:2")
    code, out, err = admin(
        "grant", "--department", DEPARTMENT, "--mykey", "HANAKO23", "--amount", "5001", "--kind", "volunteer"
    )
    assert code == 1 and "above_maximum" in err  # a volunteer grant gives at most 5,000
    code, out, err = admin(
        "grant", "--department", DEPARTMENT, "--mykey", "HANAKO23", "--amount", "1000", "--kind", "childcare"
    )
    assert code == 0 and "granted 1000 142018 points to HANAKO23, valid until" in out, err
    held = json.loads(admin("--json", "balance", "HANAKO23")[1])["balances"][0]
    assert (held["balance"], held["spendable"], held["expired"]) == (1400, 1000, 400)
    assert "400" in admin("balance", "HANAKO23")[1] and "expired 400" in admin("balance", "HANAKO23")[1]

    code, _, err = admin(
        "spend", "--reason", REASON, "--mykey", "HANAKO23", "--place", "yokosuka-shop", "--amount", "1001"
    )
    assert code == 1 and "points_expired" in err and len(err.strip().splitlines()) == 1
    code, out, err = admin(
        "--json",
        "spend",
        "--reason",
        REASON,
        "--mykey",
        "HANAKO23",
        "--place",
        "yokosuka-shop",
        "--amount",
        "250",
    )
    spent = json.loads(out)
    code, out, err = admin("refund", str(spent["id"]))
    assert code == 0 and "250 142018 points back to HANAKO23" in out, err

    code, out, err = admin("--json", "points", "expire", "--as-of", TODAY)
    report = json.loads(out)
    assert code == 0 and (report["points"], report["lots"], report["holders"]) == (400, 1, 1), err
    assert report["point_codes"][0]["breakage_account"] == "breakage:142018"
    assert json.loads(admin("--json", "points", "expire", "--as-of", TODAY)[1])["points"] == 0
    code, _, err = admin("points", "expire", "--as-of", "2999-01-01")
    assert code == 1 and "as_of_in_future" in err
    code, out, _ = admin("ledger", "verify")
    assert code == 0 and "ledger ok" in out


def test_the_grant_report_as_a_table_json_and_csv(admin):
    for mykey, amount, kind in (
        ("HANAKO23", 500, "volunteer"),
        ("TAROU234", 700, "volunteer"),
        ("HANAKO23", 300, "childcare"),
    ):
        admin("grant", "--department", DEPARTMENT, "--mykey", mykey, "--amount", str(amount), "--kind", kind)
    period = ("--municipality", YOKOSUKA, "--from", TODAY, "--to", TODAY)
    code, out, err = admin("report", "grants", *period)
    assert code == 0 and "子育てボランティア" in out and "1,200" in out and "total" in out, err
    data = json.loads(admin("report", "grants", *period, "--json")[1])
    assert [(r["grant_kind"], r["grants"], r["holders"], r["net"]) for r in data["rows"]] == [
        ("childcare", 1, 1, 300),
        ("volunteer", 2, 2, 1200),
    ]
    lines = list(csv.reader(io.StringIO(admin("report", "grants", *period, "--csv")[1].lstrip("\ufeff"))))
    assert lines[0][:3] == ["department", "name", "grant kind"] and lines[2][-1] == "1200"
    yesterday = (datetime.now(UTC) - timedelta(days=2)).date().isoformat()
    assert (
        json.loads(
            admin(
                "report",
                "grants",
                "--municipality",
                YOKOSUKA,
                "--from",
                yesterday,
                "--to",
                yesterday,
                "--json",
            )[1]
        )["rows"]
        == []
    )


def test_rules_agreements_and_price_lists(admin):
    admin(
        "grant", "--department", DEPARTMENT, "--mykey", "HANAKO23", "--amount", "3000", "--kind", "childcare"
    )
    code, out, err = admin(
        "rule", "set", YOKOSUKA, "--kinds", "museum", "--place", "tokyo-antenna", "--max", "1000"
    )
    assert code == 0 and "museum + tokyo-antenna" in out, err
    assert admin("rule", "set", YOKOSUKA, "--effective", "2001-01-01")[2].count("rule_in_past") == 1
    assert admin("rule", "set", YOKOSUKA, "--expiry", "weekly")[0] == 2
    assert "version" in admin("rule", "show", YOKOSUKA)[1]
    code, _, err = admin(
        "spend", "--reason", REASON, "--mykey", "HANAKO23", "--place", "yokosuka-shop", "--amount", "10"
    )
    assert code == 1 and "not_allowed_here" in err
    admin("price-list", "set", "yokosuka-museum", "ippan", "--name", "一般", "--price", "500")
    assert "一般" in admin("price-list", "show", "yokosuka-museum")[1]
    code, out, err = admin(
        "spend",
        "--reason",
        REASON,
        "--mykey",
        "HANAKO23",
        "--place",
        "yokosuka-museum",
        "--item",
        "ippan",
        "--quantity",
        "2",
    )
    assert code == 0 and "spent 1000 142018 points at 横須賀美術館" in out, err
    sides = ("--points-of", YOKOSUKA, "--usable-in", "011002")
    assert "waiting for the other side" in admin("agreement", "record", *sides, "--by", YOKOSUKA)[1]
    assert "in force" in admin("agreement", "record", *sides, "--by", "011002")[1]
    assert "in force" in admin("agreement", "list")[1]


def test_events_rewards_and_the_transit_exchange(admin, engine, tmp_path):
    admin(
        "grant", "--department", DEPARTMENT, "--mykey", "HANAKO23", "--amount", "5000", "--kind", "childcare"
    )
    admin("point-code", "add", YOKOSUKA, "SCHOOL", "--name", "旧校舎リノベーション")
    admin(
        "department",
        "add",
        YOKOSUKA,
        "kyoiku",
        "--name",
        "教育委員会",
        "--budget",
        "5000",
        "--point-code",
        "142018-SCHOOL",
    )
    admin("department", "grant-kind", "142018-kyoiku", "alumni", "--name", "同窓会")
    admin(
        "grant", "--department", "142018-kyoiku", "--mykey", "HANAKO23", "--amount", "600", "--kind", "alumni"
    )
    assert admin("event", "add", "142018-SCHOOL", "--organiser", "yokosuka-library")[0] == 0
    admin(
        "event",
        "support",
        "142018-SCHOOL",
        "--reason",
        REASON,
        "--mykey",
        "HANAKO23",
        "--amount",
        "600",
        "--nickname",
        "卒業生",
    )
    code, out, _ = admin("event", "report", "142018-SCHOOL")
    assert code == 0 and "HANAKO23" in out and "卒業生" in out
    code, out, err = admin("event", "handover", "142018-SCHOOL")
    assert code == 0 and "payee:yokosuka-library" in out, err

    start, end = TODAY, (datetime.now(UTC) + timedelta(days=10)).date().isoformat()
    code, out, err = admin(
        "reward",
        "add",
        "omikoshi",
        "--municipality",
        YOKOSUKA,
        "--name",
        "神輿を担ぐ権利",
        "--price",
        "1500",
        "--stock",
        "1",
        "--from",
        start,
        "--until",
        end,
    )
    assert code == 0, err
    code, out, err = admin("reward", "claim", "omikoshi", "--mykey", "HANAKO23", "--reason", REASON)
    assert code == 0 and "claim OMIKOSHI-00001" in out, err
    assert "OMIKOSHI-00001" in admin("reward", "claims", "omikoshi")[1]
    assert "0 left" in admin("reward", "list", "--public")[1] and "0 of 1 left" in admin("reward", "list")[1]

    with write(engine) as conn:
        service_links.link(conn, registry.find(conn, "HANAKO23"), "KQBUS", "PASMO-0042")
    code, out, err = admin(
        "transit",
        "exchange",
        "--reason",
        REASON,
        "--mykey",
        "HANAKO23",
        "--place",
        "keikyu-bus",
        "--amount",
        "800",
    )
    assert code == 0 and "card PASMO-0042" in out, err
    daily = tmp_path / "daily.csv"
    code, _, err = admin("transit", "daily", "keikyu-bus", "--date", TODAY, "--out", str(daily))
    assert code == 0 and stat.S_IMODE(daily.stat().st_mode) == 0o600
    rows = list(csv.reader(io.StringIO(daily.read_text(encoding="utf-8-sig"))))
    assert rows[0][:3] == ["date", "card_number", "points"] and rows[1][1:3] == ["PASMO-0042", "800"]
    assert admin("ledger", "verify")[0] == 0
