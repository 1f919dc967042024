"""Settlement: a month's statement reconciles with the ledger to the point, a closed
month never changes (late transfers land in the next one), and its exports (CSV UTF-8, Shift_JIS
with CRLF, JSON) sum back to the ledger. Both databases."""

from __future__ import annotations

import csv
import io
import json
import stat
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from mkp_testing import invoke, served_in_process
from points_helpers import DEPARTMENT, YOKOSUKA, error_of, new_id, observed, post
from sqlalchemy import text

from mkp_admin import cli as admin_cli
from mkp_core import signing
from mkp_core.dates import JST
from server import ledger
from server.db.engine import read, write
from server.ledger import periods
from server.ledger.transfers import TransferRequest as T
from server.partners import registry as partners
from server.platform.operators.service import Operator
from server.points import holders

NOVEMBER = datetime(2026, 11, 15, 12, 0, tzinfo=JST).astimezone(UTC)
CODE = YOKOSUKA


def book(engine, requests, now=NOVEMBER):
    """Post transfers as the ledger's callers do, dated ``now``; the results."""
    with write(engine) as conn:
        return ledger.create_transfers(conn, requests, "test", now)


def wallet(engine, mykey_id: str) -> str:
    with read(engine) as conn:
        return holders.find(conn, mykey_id).wallet


@pytest.fixture
def november(engine, town):
    """A November in Yokosuka: a grant, spends and a refund, a conversion from ANA with a partner
    premium and a city-funded one, a voucher-like redemption, and points expired."""
    hanako, tarou = wallet(engine, "HANAKO23"), wallet(engine, "TAROU234")
    with write(engine) as conn:
        key = (
            signing.generate_terminal_key()
            .public_key()
            .public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
        )
        partners.add(conn, Operator(0, "central", None), "ANA", "全日本空輸", key.decode())
    made = book(
        engine,
        [
            T("g1", CODE, f"dept:{DEPARTMENT}", hanako, 2900, "grant"),
            T(
                "g0",
                CODE,
                f"dept:{DEPARTMENT}",
                hanako,
                100,
                "grant",
                expires_at=NOVEMBER - timedelta(hours=1),
            ),
            T("c1", CODE, "partner:ANA", tarou, 10000, "convert"),
            T("p1", CODE, "partner:ANA", tarou, 1000, "premium"),
            T("p2", CODE, f"muni:{CODE}", tarou, 500, "premium"),
            T("s1", CODE, hanako, "payee:yokosuka-museum", 500, "spend"),
            T("s2", CODE, tarou, "payee:yokosuka-shop", 2000, "spend"),
            T("s3", CODE, tarou, "payee:yokosuka-shop", 700, "spend"),
            T("e1", CODE, hanako, f"breakage:{CODE}", 100, "expire"),
        ],
    )
    assert all(isinstance(t, ledger.Transfer) for t in made), made
    with write(engine) as conn:
        ledger.reverse(conn, made[7].id, "r1", "test", now=NOVEMBER + timedelta(days=1))  # s3 refunded
    return {t.client_id: t for t in made}


def lines_by_owner(statement: dict) -> dict[tuple[str, str], dict]:
    return {(x["counterparty_kind"], x["counterparty_id"]): x for x in statement["lines"]}


def test_a_month_statement_says_who_owes_whom_and_reconciles_with_the_ledger(client, engine, town, november):
    data = client.get(f"/v1/settlement/statements?period=2026-11&municipality={CODE}", headers=town.central)
    assert data.status_code == 200, data.json
    (statement,) = data.json["statements"]
    assert statement["municipality_name"] == "横須賀市" and statement["closed"] is False
    lines = lines_by_owner(statement)
    assert lines[("place", "yokosuka-museum")]["points"] == 500
    assert lines[("place", "yokosuka-museum")]["counterparty_name"] == "横須賀美術館"
    shop = lines[("place", "yokosuka-shop")]
    assert (shop["points"], shop["credits"], shop["debits"], shop["transfers"]) == (2000, 2700, 700, 3)
    assert lines[("department", DEPARTMENT)]["transfers"] == 2
    assert lines[("partner", "ANA")]["points"] == -11000  # converted + the partner's premium
    assert lines[("partner", "ANA")]["counterparty_name"] == "全日本空輸"
    assert lines[("department", DEPARTMENT)]["points"] == -3000
    assert lines[("department", DEPARTMENT)]["counterparty_name"] == "子育て支援課"
    assert lines[("municipality", CODE)]["points"] == -500  # the city-funded premium
    assert lines[("breakage", CODE)]["points"] == 100
    assert lines[("holders", "*")]["points"] == 3000 + 11500 - 500 - 2000 - 100
    assert sum(x["points"] for x in statement["lines"]) == 0
    # Every account began in November: its line is its balance in the ledger, to the point.
    with read(engine) as conn:
        for (kind, ident), line in lines.items():
            if kind == "holders":
                continue
            owner = {"place": "payee", "department": "dept", "municipality": "muni"}.get(kind, kind)
            assert ledger.balances(conn, f"{owner}:{ident}")[CODE] == line["points"]


def test_a_closed_month_never_changes_and_late_transfers_land_in_the_next(client, engine, town, november):
    before = client.get(f"/v1/settlement/statements?period=2026-11&municipality={CODE}", headers=town.central)
    closed = post(
        client, town.central, "/v1/settlement/close", {"period": "2026-11", "municipality": CODE}, 201
    )
    (close,) = closed["closed"]
    assert close["period"] == "2026-11" and close["watermark"] >= november["s3"].id
    # December: a November spend refunded, and another spend (an offline one synced late is booked so too).
    r = client.post(
        f"/v1/transfers/{november['s2'].id}/reverse", json={"client_id": new_id()}, headers=town.central
    )
    assert r.status_code == 201, r.json
    book(engine, [T("d1", CODE, wallet(engine, "TAROU234"), "payee:yokosuka-shop", 300, "spend")], None)

    after = client.get(f"/v1/settlement/statements?period=2026-11&municipality={CODE}", headers=town.central)
    assert after.json["statements"][0]["lines"] == before.json["statements"][0]["lines"]
    assert after.json["statements"][0]["closed"] is True
    december = client.get(
        f"/v1/settlement/statements?period=2026-12&municipality={CODE}", headers=town.central
    )
    lines = lines_by_owner(december.json["statements"][0])
    assert lines[("place", "yokosuka-shop")]["points"] == 300 - 2000
    assert lines[("place", "yokosuka-shop")]["transfers"] == 2
    assert client.get("/v1/ledger/verify", headers=town.central).json["ok"] is True


def test_a_transfer_dated_into_a_closed_month_is_refused(client, engine, town, november):
    post(client, town.yokosuka, "/v1/settlement/close", {"period": "2026-11"}, 201)
    seen = observed(client, town.central)
    (refused,) = book(engine, [T("late", CODE, f"dept:{DEPARTMENT}", wallet(engine, "JIROU345"), 5, "grant")])
    assert isinstance(refused, periods.PeriodClosed) and refused.code == "period_closed"
    assert "2026-11" in refused.message
    assert observed(client, town.central) == seen
    # Sapporo has not closed November: its points may still be dated into it.
    (fine,) = book(engine, [T("sap", "011002", "muni:011002", wallet(engine, "JIROU345"), 5, "grant")])
    assert isinstance(fine, ledger.Transfer)


def test_membership_is_the_watermark_and_booking_time(engine, town, november):
    """A transfer booked in a closed month after its close (a close that raced a commit would leave
    one) is not in the closed month but in the next one: the rule is the watermark, not the date."""
    with write(engine) as conn:
        close = periods.close_period(conn, CODE, periods.parse_period("2026-11"), "test")
    hanako = wallet(engine, "HANAKO23")
    with write(engine) as conn:
        # Past the refusal, as a transaction that drew its id before the close would have written it.
        (late,) = ledger.create_transfers(
            conn, [T("raced", CODE, hanako, "payee:yokosuka-museum", 7, "spend")], "test", None
        )
        conn.execute(
            text(
                "INSERT INTO transfers (client_id, body_hash, kind, point_code, debit_account_id, "
                "credit_account_id, amount, actor, created_at) SELECT 'raced-copy', body_hash, kind, "
                "point_code, debit_account_id, credit_account_id, amount, actor, :nov FROM transfers "
                "WHERE id = :id"
            ),
            {
                "nov": NOVEMBER.replace(tzinfo=None) if engine.dialect.name == "sqlite" else NOVEMBER,
                "id": late.id,
            },
        )
    with read(engine) as conn:
        november_lines = periods.movements(conn, CODE, close.period)
        assert november_lines == periods.stored_movements(conn, close.id)
        december = {m.owner: m for m in periods.movements(conn, CODE, close.period.next())}
    assert (
        december["payee:yokosuka-museum"].credits == 14 and december["payee:yokosuka-museum"].transfers == 2
    )


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"period": "2026-13"}, 422, "invalid_period"),
        ({"period": "202611"}, 422, "invalid_period"),
        ({"period": "1999-01"}, 422, "invalid_period"),
        ({"period": "2026-11", "municipality": "142019"}, 422, "bad_check_digit"),
        ({"period": "2026-11", "municipality": "131016"}, 403, "out_of_scope"),
        ({"period": datetime.now(JST).strftime("%Y-%m")}, 409, "period_not_ended"),
    ],
)
def test_bad_closes_are_refused_and_change_nothing(client, town, november, body, status, code):
    seen = observed(client, town.central)
    r = client.post("/v1/settlement/close", json={"client_id": new_id(), **body}, headers=town.yokosuka)
    assert error_of(r) == (status, code)
    assert client.get("/v1/settlement/closes", headers=town.central).json == {"closes": []}
    assert observed(client, town.central) == seen


def test_periods_close_in_order_once_and_retries_get_the_first_answer(client, town, november):
    first = {"client_id": "close-sep", "period": "2026-09", "municipality": CODE}
    done = client.post("/v1/settlement/close", json=first, headers=town.central)
    assert done.status_code == 201
    again = client.post("/v1/settlement/close", json=first, headers=town.central)
    assert again.json == done.json
    other = client.post("/v1/settlement/close", json={**first, "period": "2026-10"}, headers=town.central)
    assert error_of(other) == (409, "idempotency_conflict")
    gap = client.post(
        "/v1/settlement/close",
        json={**first, "client_id": new_id(), "period": "2026-11"},
        headers=town.central,
    )
    assert error_of(gap) == (409, "period_out_of_order") and "2026-10" in gap.json["error"]["message"]
    twice = client.post("/v1/settlement/close", json={**first, "client_id": new_id()}, headers=town.central)
    assert error_of(twice) == (409, "period_already_closed")
    # The first close took everything before it: November's transfers are November's still.
    sep = client.get(f"/v1/settlement/statements?period=2026-09&municipality={CODE}", headers=town.central)
    assert sep.json["statements"][0]["lines"] == []
    nov = client.get(f"/v1/settlement/statements?period=2026-11&municipality={CODE}", headers=town.central)
    assert len(nov.json["statements"][0]["lines"]) == 7


def test_a_central_close_without_a_municipality_closes_every_one(client, town, november):
    done = post(client, town.central, "/v1/settlement/close", {"period": "2026-11"}, 201)
    assert sorted(c["municipality"] for c in done["closed"]) == ["011002", "131016", CODE]
    scoped = client.get("/v1/settlement/closes", headers=town.sapporo).json["closes"]
    assert [c["municipality"] for c in scoped] == ["011002"]
    theirs = client.get(f"/v1/settlement/statements?period=2026-11&municipality={CODE}", headers=town.sapporo)
    assert error_of(theirs) == (403, "out_of_scope")


def test_verify_finds_a_closed_month_that_changed(client, engine, town, november):
    post(client, town.central, "/v1/settlement/close", {"period": "2026-11", "municipality": CODE}, 201)
    assert client.get("/v1/ledger/verify", headers=town.central).json["ok"] is True
    with write(engine) as conn:
        with pytest.raises(Exception, match="never change"):
            with conn.begin_nested():
                conn.execute(text("UPDATE settlement_lines SET credits = credits + 1"))
        close_id = conn.execute(text("SELECT id FROM settlement_closes")).scalar_one()
        conn.execute(
            text(
                "INSERT INTO settlement_lines (close_id, point_code, owner, debits, credits, transfers) "
                "VALUES (:c, :p, 'payee:ghost', 0, 5, 1)"
            ),
            {"c": close_id, "p": CODE},
        )
    report = client.get("/v1/ledger/verify", headers=town.central).json
    assert report["ok"] is False
    codes = {b["code"]: b["message"] for b in report["breaches"]}
    assert "payee:ghost" in codes["settlement_changed"]
    assert "sum to 5" in codes["settlement_unbalanced"]


# --- the exports -----------------------------------------------------------------------------


@pytest.fixture
def admin(app, town, tmp_path):
    with served_in_process(app) as url:
        env = {
            "MKP_SERVER": url,
            "MKP_TOKEN": town.central["Authorization"].split()[1],
            "MKP_ADMIN_CONFIG": str(tmp_path / "none.toml"),
        }
        yield lambda *args: invoke(admin_cli.main, *args, env=env)


def ledger_net(engine) -> dict[str, int]:
    """What each non-wallet account of Yokosuka's code holds, straight from the accounts."""
    with read(engine) as conn:
        rows = conn.execute(
            text(
                "SELECT owner, credits_posted - debits_posted FROM accounts "
                "WHERE point_code = :p AND kind <> 'wallet'"
            ),
            {"p": CODE},
        )
        return {owner: int(net) for owner, net in rows if net}


def test_the_shift_jis_export_decodes_and_sums_back_to_the_ledger(admin, engine, november, tmp_path):
    assert admin("settlement", "close", "--period", "2026-11", "--municipality", CODE).exit_code == 0
    out = tmp_path / "2026-11.csv"
    result = admin(
        "settlement",
        "export",
        "--period",
        "2026-11",
        "--municipality",
        CODE,
        "--format",
        "csv-sjis",
        "--out",
        str(out),
    )
    assert result.exit_code == 0, result.stderr
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    raw = out.read_bytes()
    assert raw.count(b"\r\n") == raw.count(b"\n") == 8  # a header and 7 lines, CRLF each
    table = list(csv.DictReader(io.StringIO(raw.decode("shift_jis"), newline="")))
    assert {r["counterparty_name"] for r in table} >= {"横須賀美術館", "子育て支援課", "失効ポイント"}
    assert all(r["period"] == "2026-11" and r["municipality_name"] == "横須賀市" for r in table)
    assert sum(int(r["points"]) for r in table) == 0
    prefixes = {
        "place": "payee",
        "department": "dept",
        "municipality": "muni",
        "partner": "partner",
        "breakage": "breakage",
    }
    exported = {
        f"{prefixes[r['counterparty_kind']]}:{r['counterparty_id']}": int(r["points"])
        for r in table
        if r["counterparty_kind"] != "holders"
    }
    assert exported == ledger_net(engine)


def test_utf8_csv_and_json_exports_say_the_same(admin, november):
    as_csv = admin("settlement", "export", "--period", "2026-11", "--municipality", CODE)
    assert as_csv.exit_code == 0, as_csv.stderr
    table = list(csv.DictReader(io.StringIO(as_csv.stdout)))
    as_json = admin("settlement", "export", "--period", "2026-11", "--municipality", CODE, "--format", "json")
    (statement,) = json.loads(as_json.stdout)["statements"]
    assert [int(r["points"]) for r in table] == [x["points"] for x in statement["lines"]]
    assert {r["closed"] for r in table} == {"open"}


def test_a_name_shift_jis_cannot_hold_is_refused_naming_the_row(
    admin, client, town, engine, november, tmp_path
):
    post(
        client,
        town.central,
        "/v1/places",
        {"place_id": "yoshinoya", "name": "𠮷野家 横須賀店", "kind": "shop", "municipality": CODE},
        201,
    )
    book(engine, [T("y1", CODE, wallet(engine, "TAROU234"), "payee:yoshinoya", 50, "spend")])
    out = tmp_path / "never.csv"
    result = admin(
        "settlement",
        "export",
        "--period",
        "2026-11",
        "--municipality",
        CODE,
        "--format",
        "csv-sjis",
        "--out",
        str(out),
    )
    assert result.exit_code == 1
    assert "not_shift_jis" in result.stderr and "row 9" in result.stderr and "U+20BB7" in result.stderr
    assert not out.exists()
    assert admin("settlement", "export", "--period", "2026-11", "--municipality", CODE).exit_code == 0


def test_the_cli_closes_and_lists(admin):
    closed = admin("--json", "settlement", "close", "--period", "2026-10", "--municipality", CODE)
    assert closed.exit_code == 0, closed.stderr
    assert json.loads(closed.stdout)["closed"][0]["period"] == "2026-10"
    again = admin("settlement", "close", "--period", "2026-10", "--municipality", CODE)
    assert again.exit_code == 1 and "period_already_closed" in again.stderr
    listed = admin("settlement", "closes")
    assert listed.exit_code == 0 and "2026-10" in listed.stdout
    assert admin("settlement", "export", "--period", "11-2026").exit_code == 1


def test_a_close_waits_for_a_transfer_that_drew_its_id_before_it(engine, town):
    """PostgreSQL: transfer A draws its id and has not committed; B, drawn later, has. A close
    must not take B's id as its watermark while A can still commit below it, into the closed
    month: it waits for A (SQLite lets one writer in at a time, so there is nothing to race)."""
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite's single writer serialises a close and every booking")
    hanako = wallet(engine, "HANAKO23")
    booked, release = threading.Event(), threading.Event()

    def transfer_a() -> None:
        with write(engine) as conn:
            (a,) = ledger.create_transfers(
                conn, [T("race-a", CODE, f"muni:{CODE}", hanako, 7, "grant")], "t", NOVEMBER
            )
            assert isinstance(a, ledger.Transfer)
            booked.set()
            release.wait(30)

    first = threading.Thread(target=transfer_a)
    first.start()
    assert booked.wait(30)
    book(engine, [T("race-b", CODE, "partner:ANA", wallet(engine, "TAROU234"), 11, "convert")])
    closed: list[periods.Close | Exception] = []

    def close() -> None:
        try:
            with write(engine) as conn:
                closed.append(periods.close_period(conn, CODE, periods.parse_period("2026-11"), "test"))
        except Exception as e:  # shown by the assertion below
            closed.append(e)

    closing = threading.Thread(target=close)
    closing.start()
    with engine.connect() as probe:  # until the close waits on the lock A holds
        waiting = "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
        for _ in range(300):
            if probe.execute(text(waiting)).scalar_one() or closed:
                break
            time.sleep(0.01)
        else:
            pytest.fail("the close never waited for the uncommitted transfer")
    assert not closed, closed
    release.set()
    first.join(30)
    closing.join(30)
    with read(engine) as conn:
        (done,) = closed
        assert isinstance(done, periods.Close), done
        stored = {m.owner: m for m in periods.stored_movements(conn, done.id)}
        assert done.watermark == 2
        assert (stored[f"muni:{CODE}"].debits, stored["partner:ANA"].debits) == (7, 11)
        assert ledger.verify(conn).ok
