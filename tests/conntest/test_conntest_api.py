"""The connection test over HTTP (in-process, SQLite and PostgreSQL): scheduling, the announcement
in the config download, reports (idempotent, late, refused), status, report, a restart."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from conntest_helpers import SAPPORO_PLACE, body, soon
from mkp_testing import tables_snapshot

from mkp_core.client import ApiError
from server.db.engine import make_engine


def refusal(call) -> tuple[int, str]:
    with pytest.raises(ApiError) as e:
        call()
    return e.value.status, e.value.code


def test_schedule_list_and_show(town):
    test = town.schedule(soon(120), window=60)
    assert test["state"] == "scheduled" and test["municipality"] is None and test["window_seconds"] == 60
    ends = datetime.fromisoformat(test["ends_at"]) - datetime.fromisoformat(test["starts_at"])
    assert ends == timedelta(seconds=60)
    local = town.schedule(soon(180), window=30, municipality="011002")
    listed = town.api.get("/v1/conntests")["tests"]
    assert [t["id"] for t in listed] == [local["id"], test["id"]]
    status = town.status(test["id"])
    assert status["expected"] == 0 and status["reported"] == 0 and status["latency_ms"]["count"] == 0


def test_schedule_is_idempotent_by_client_id(town):
    sent = {"client_id": "conntest-0001", "starts_at": soon(60).isoformat(), "window_seconds": 60}
    first = town.api.post("/v1/conntests", sent)
    assert town.api.post("/v1/conntests", sent)["id"] == first["id"]
    other = {**sent, "window_seconds": 120}
    assert refusal(lambda: town.api.post("/v1/conntests", other)) == (409, "idempotency_conflict")
    assert len(town.api.get("/v1/conntests")["tests"]) == 1


def test_announcement_rides_on_the_config_download(town):
    yokosuka = town.enroll(1)[0]
    sapporo = town.enroll(1, place=SAPPORO_PLACE)[0]
    assert yokosuka.client(town.url).get("/v1/terminal/config")["conntest"] is None
    local = town.schedule(soon(60), municipality="142018")
    announced = yokosuka.client(town.url).get("/v1/terminal/config")["conntest"]
    assert announced["test_id"] == local["id"] and announced["window_seconds"] == 60
    assert datetime.fromisoformat(announced["starts_at"]) == datetime.fromisoformat(local["starts_at"])
    assert sapporo.client(town.url).get("/v1/terminal/config")["conntest"] is None  # not its city
    nationwide = town.schedule(soon(600))
    assert sapporo.client(town.url).get("/v1/terminal/config")["conntest"]["test_id"] == nationwide["id"]


def test_after_reporting_the_next_test_is_announced(town):
    terminal = town.enroll(1)[0]
    first = town.schedule(soon(0), window=60)
    second = town.schedule(soon(3600), window=60)
    town.report(terminal, first["id"])
    assert terminal.client(town.url).get("/v1/terminal/config")["conntest"]["test_id"] == second["id"]


def test_report_is_idempotent_and_kept_once(town):
    terminal = town.enroll(1)[0]
    test = town.schedule(soon(0))
    sent = body()
    first = town.report(terminal, test["id"], sent)
    assert first["ok"] is True and first["late"] is False and first["terminal_id"] == terminal.terminal_id
    again = town.report(terminal, test["id"], sent)
    assert again == first
    status = town.status(test["id"])
    assert (status["expected"], status["reported"], status["ok"]) == (1, 1, 1)


def test_a_second_report_with_other_results_is_refused_and_changes_nothing(town):
    terminal = town.enroll(1)[0]
    test = town.schedule(soon(0))
    town.report(terminal, test["id"], body())
    engine = make_engine(town.platform.database_url)
    before = tables_snapshot(engine)
    assert refusal(lambda: town.report(terminal, test["id"], body(reader="no_reader"))) == (
        409,
        "report_conflict",
    )
    after = tables_snapshot(engine)
    engine.dispose()
    before.pop("terminal_nonces"), after.pop("terminal_nonces")  # every signed request leaves its nonce
    assert after == before


def test_a_report_after_the_window_is_late(town):
    on_time, late = town.enroll(2)
    test = town.schedule_in_the_past(timedelta(seconds=30), window=1)  # the window has passed
    assert test["state"] == "closed"
    receipt = town.report(late, test["id"], body(printer="printer_offline"))
    assert receipt["late"] is True and receipt["ok"] is False
    status = town.status(test["id"])
    assert (status["reported"], status["late"], status["failed"]) == (1, 1, 1)
    assert status["failures"] == [{"check": "printer", "code": "printer_offline", "count": 1}]
    assert on_time.client(town.url).get("/v1/terminal/config")["conntest"]["test_id"] == test["id"]


def test_status_and_report_contents(town):
    museum = town.enroll(3)
    library = town.enroll(2, place=SAPPORO_PLACE)
    test = town.schedule(soon(0), window=60)
    for n, t in enumerate(museum):
        town.report(t, test["id"], body(latency_ms=10 * (n + 1)))
    town.report(library[0], test["id"], body(latency_ms=40, clock="clock_skew", crl="crl_stale"))
    status = town.status(test["id"])
    assert (status["expected"], status["reported"], status["ok"], status["failed"]) == (5, 4, 3, 1)
    assert {(f["check"], f["code"]) for f in status["failures"]} == {
        ("clock", "clock_skew"),
        ("crl", "crl_stale"),
    }
    assert status["latency_ms"] == {"count": 4, "p50": 20, "p95": 40, "p99": 40}
    report = town.api.get(f"/v1/conntests/{test['id']}/report")
    areas = {a["municipality"]: a for a in report["areas"]}
    assert areas["011002"]["prefecture"] == "北海道" and areas["011002"]["municipality_name"] == "札幌市"
    assert (areas["011002"]["expected"], areas["011002"]["missing"], areas["011002"]["failed"]) == (2, 1, 1)
    assert (areas["142018"]["expected"], areas["142018"]["ok"], areas["142018"]["missing"]) == (3, 3, 0)
    (missing,) = report["missing"]
    assert missing["terminal_id"] == library[1].terminal_id and missing["place"] == SAPPORO_PLACE
    assert missing["place_name"] == "札幌市中央図書館"
    assert missing["address"] == "北海道札幌市 中央区南22条西13丁目"
    assert [(f["terminal_id"], f["check"], f["code"]) for f in report["failed_terminals"]] == [
        (library[0].terminal_id, "clock", "clock_skew"),
        (library[0].terminal_id, "crl", "crl_stale"),
    ]


def test_a_scoped_operator_sees_its_own_municipality(town):
    town.enroll(2)
    town.enroll(1, place=SAPPORO_PLACE)
    test = town.schedule(soon(0))
    from mkp_core.client import ApiClient, BearerToken
    from server.db.engine import write
    from server.platform.operators.service import create_operator

    engine = make_engine(town.platform.database_url)
    with write(engine) as conn:
        token = create_operator(conn, "sapporo-desk", "011002")
    engine.dispose()
    desk = ApiClient(town.url, BearerToken(token))
    assert desk.get(f"/v1/conntests/{test['id']}")["expected"] == 1
    assert [a["municipality"] for a in desk.get(f"/v1/conntests/{test['id']}/report")["areas"]] == ["011002"]
    assert refusal(lambda: desk.post("/v1/conntests", {"starts_at": soon(60).isoformat()})) == (
        403,
        "central_operator_only",
    )
    yokosuka = town.schedule(soon(60), municipality="142018")
    assert refusal(lambda: desk.get(f"/v1/conntests/{yokosuka['id']}")) == (404, "unknown_conntest")


@pytest.mark.parametrize(
    "fields,status,code",
    [
        ({"starts_at": "tomorrow"}, 422, "invalid_date"),
        ({"starts_at": "2027-03-01T10:00:00"}, 422, "invalid_date"),  # no offset
        ({"starts_at": "2020-01-01T10:00:00+09:00"}, 422, "conntest_in_past"),
        ({"starts_at": "2099-01-01T10:00:00+09:00"}, 422, "conntest_too_far"),
        ({"window_seconds": 0}, 422, "invalid_window"),
        ({"window_seconds": -60}, 422, "invalid_window"),
        ({"window_seconds": 86400 * 365}, 422, "invalid_window"),
        ({"window_seconds": "60"}, 422, "invalid_window"),
        ({"municipality": "131016"}, 404, "unknown_municipality"),  # 千代田区: a real code, not added
        ({"municipality": "131017"}, 422, "bad_check_digit"),  # wrong check digit
        ({"surprise": 1}, 422, "unknown_field"),
    ],
)
def test_bad_schedules_are_refused_and_make_nothing(town, fields, status, code):
    sent = {"starts_at": soon(60).isoformat(), "window_seconds": 60, **fields}
    assert refusal(lambda: town.api.post("/v1/conntests", sent)) == (status, code)
    assert town.api.get("/v1/conntests")["tests"] == []


def test_bad_reports_are_refused(town):
    terminal, revoked = town.enroll(2)
    sapporo = town.enroll(1, place=SAPPORO_PLACE)[0]
    test = town.schedule(soon(0), municipality="142018")
    later = town.schedule(soon(3600))
    assert refusal(lambda: town.report(terminal, 999)) == (404, "unknown_conntest")
    assert refusal(lambda: town.api.get("/v1/conntests/999")) == (404, "unknown_conntest")
    assert refusal(lambda: town.api.get("/v1/conntests/999/report")) == (404, "unknown_conntest")
    assert refusal(lambda: town.report(sapporo, test["id"])) == (403, "not_in_conntest")
    assert refusal(lambda: town.report(terminal, later["id"])) == (409, "conntest_not_started")
    town.api.post(f"/v1/terminals/{revoked.terminal_id}/revoke", {"reason": "stolen"})
    assert refusal(lambda: town.report(revoked, test["id"])) == (401, "revoked_key")
    bad = body()
    bad["checks"] = bad["checks"] + bad["checks"][:1]  # a check twice
    assert refusal(lambda: town.report(terminal, test["id"], bad))[0] == 422
    worse = {**body(), "checks": []}
    assert refusal(lambda: town.report(terminal, test["id"], worse)) == (422, "invalid_checks")
    unsigned = town.api.session  # an operator's token is no terminal signature
    r = unsigned.post(town.url + f"/v1/terminal/conntests/{test['id']}/report", json=body())
    assert r.status_code == 401 and r.json()["error"]["code"] == "missing_signature"
    status = town.status(test["id"])
    assert (status["expected"], status["reported"]) == (1, 0)  # the revoked one is no longer expected


def test_a_report_refused_by_the_tests_rules_leaves_not_even_its_nonce(town):
    terminal = town.enroll(1)[0]
    sapporo = town.enroll(1, place=SAPPORO_PLACE)[0]
    test, later = town.schedule(soon(0), municipality="142018"), town.schedule(soon(3600))
    engine = make_engine(town.platform.database_url)
    before = tables_snapshot(engine)
    assert refusal(lambda: town.report(terminal, later["id"])) == (409, "conntest_not_started")
    assert refusal(lambda: town.report(sapporo, test["id"])) == (403, "not_in_conntest")
    assert refusal(lambda: town.report(terminal, 999)) == (404, "unknown_conntest")
    assert tables_snapshot(engine) == before
    engine.dispose()
    assert town.report(terminal, test["id"])["ok"] is True  # and the terminal can still report


def test_a_server_restart_mid_window_loses_nothing(town):
    terminals = town.enroll(6)
    test = town.schedule(soon(0), window=600)
    sent = [body() for _ in terminals]
    receipts = [town.report(t, test["id"], b) for t, b in zip(terminals[:3], sent, strict=False)]
    town.platform.stop()  # the first server is gone
    with town.restarted() as url:
        status = town.api.__class__(url, town.api.session.auth).get(f"/v1/conntests/{test['id']}")
        assert (status["expected"], status["reported"]) == (6, 3)
        assert town.report(terminals[0], test["id"], sent[0], url=url) == receipts[0]  # a retry
        for t, b in zip(terminals[3:], sent[3:], strict=True):
            town.report(t, test["id"], b, url=url)
        status = town.api.__class__(url, town.api.session.auth).get(f"/v1/conntests/{test['id']}")
        assert (status["expected"], status["reported"], status["ok"]) == (6, 6, 6)


def test_the_clock_needs_no_signature_and_no_database(town):
    from mkp_core.client import ApiClient

    before = datetime.now(UTC)
    answer = ApiClient(town.url).get("/v1/terminal/clock")
    server_time = datetime.fromisoformat(answer["server_time"])
    assert before - timedelta(seconds=1) <= server_time <= datetime.now(UTC) + timedelta(seconds=1)


def test_a_replayed_or_revoked_report_is_refused_and_kept_nowhere(town):
    import requests
    from sqlalchemy import update

    from agent.conntest import report_path
    from mkp_core.signing import TerminalAuth
    from server.db.engine import write
    from server.platform.tables import terminals

    first, second = town.enroll(2)
    earlier, test = town.schedule(soon(0)), town.schedule(soon(0))
    town.report(first, earlier["id"])
    town.report(second, earlier["id"])  # both keys are known to the server now
    sent = requests.Request(
        "POST",
        town.url + report_path(test["id"]),
        json=body(),
        auth=TerminalAuth(first.terminal_id, first.key),
    ).prepare()
    session = town.api.session  # its transport to the server (send adds no operator token)
    assert session.send(sent).status_code == 201
    replayed = session.send(sent)  # the same signed request again: its nonce was kept
    assert replayed.status_code == 401 and replayed.json()["error"]["code"] == "replayed_nonce"
    engine = make_engine(town.platform.database_url)
    with write(engine) as conn:  # revoked by another server worker: this one is not told
        conn.execute(update(terminals).where(terminals.c.id == second.terminal_id).values(status="revoked"))
    before = tables_snapshot(engine)
    assert refusal(lambda: town.report(second, test["id"])) == (401, "revoked_key")
    assert tables_snapshot(engine) == before  # not even its nonce
    engine.dispose()
    status = town.status(test["id"])
    assert (status["expected"], status["reported"]) == (1, 1)


def test_a_revoked_terminal_hears_revoked_before_its_body_is_judged(town, monkeypatch):
    from sqlalchemy import update

    from server.db.engine import write
    from server.platform import terminal_auth
    from server.platform.tables import terminals

    good, stolen = town.enroll(2)
    earlier, test = town.schedule(soon(0)), town.schedule(soon(0))
    town.report(good, earlier["id"])
    town.report(stolen, earlier["id"])  # both keys are known to this server worker now
    engine = make_engine(town.platform.database_url)
    with write(engine) as conn:  # revoked by another server worker: this one is not told
        conn.execute(update(terminals).where(terminals.c.id == stolen.terminal_id).values(status="revoked"))
    engine.dispose()
    malformed = {"checks": "all fine"}
    twice = body()
    twice["checks"] = twice["checks"] + twice["checks"][:1]
    for sent in (malformed, {"started_at": "noon"}, twice, {**body(), "checks": []}):
        assert refusal(lambda sent=sent: town.report(stolen, test["id"], sent)) == (401, "revoked_key")
        assert refusal(lambda sent=sent: town.report(good, test["id"], sent))[0] == 422
    assert refusal(lambda: town.report(stolen, 999)) == (401, "revoked_key")
    assert refusal(lambda: town.report(good, 999)) == (404, "unknown_conntest")
    checked = []  # a good report is confirmed by the statement that keeps it, nothing more
    real = terminal_auth.confirm_key
    monkeypatch.setattr(terminal_auth, "confirm_key", lambda *a: checked.append(a) or real(*a))
    report = body()
    receipt = town.report(good, test["id"], report)
    assert receipt["terminal_id"] == good.terminal_id
    assert town.report(good, test["id"], report) == receipt  # a retry: the first receipt
    assert checked == []
    status = town.status(test["id"])
    assert (status["expected"], status["reported"]) == (1, 1)
