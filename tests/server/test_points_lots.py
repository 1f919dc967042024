"""Expiry lots as a holder lives them, with the clock in the test's hands (domain calls, both databases):
earliest-expiring first, expired points refused at spend time, refunds back into the same lots,
the sweep to breakage, budgets, and `ledger verify` proving lots sum to balances."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from points_helpers import DEPARTMENT, YOKOSUKA
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from mkp_core.errors import MkpError
from server import ledger
from server.db.engine import read, write
from server.platform import authority
from server.platform.operators.service import Operator
from server.points import balances, expiry, holders, rules, spending
from server.points.departments import grants, service
from server.points.expiry_policy import ExpiryPolicy

CENTRAL = Operator(1, "central", None)
BY_CENTRAL = authority.OperatorAct(CENTRAL)  # refunds of a named transfer: an operator's own
T0 = datetime(2027, 4, 1, 3, 0, tzinfo=UTC)  # 12:00 in Japan


def set_expiry(engine, policy: ExpiryPolicy, at: datetime) -> None:
    change = rules.RuleChange(at, ("museum", "shop"), (), policy, 1, 5000, False)
    with write(engine) as conn:
        rules.add_rule(conn, CENTRAL, YOKOSUKA, change, now=at)


def give(engine, mykey_id: str, amount: int, at: datetime, client_id: str) -> dict:
    with write(engine) as conn:
        asked = grants.GrantAsked(mykey_id, amount, "childcare")
        return grants.grant(conn, CENTRAL, DEPARTMENT, client_id, asked, now=at)


def pay(engine, mykey_id: str, amount: int, at: datetime, client_id: str, place="yokosuka-museum") -> dict:
    with write(engine) as conn:
        holder = holders.find(conn, mykey_id)
        return spending.spend(conn, holder, spending.Spend(client_id, place, amount), "test", now=at)


def refused(call) -> str:
    with pytest.raises(MkpError) as e:
        call()
    return e.value.code


def holding(engine, mykey_id: str, at: datetime) -> balances.Holding:
    with read(engine) as conn:
        (held,) = balances.holdings(conn, holders.find(conn, mykey_id).wallet, at)
    return held


def verified(engine) -> ledger.VerifyReport:
    with read(engine) as conn:
        return ledger.verify(conn)


@pytest.fixture
def lots(town, engine):
    """HANAKO23 holds three lots: 100 valid through 30 Apr, 200 through 31 May, 300 never expiring."""
    set_expiry(engine, ExpiryPolicy("month_end", 0), T0)
    give(engine, "HANAKO23", 100, T0, "g-april-01")
    set_expiry(engine, ExpiryPolicy("month_end", 1), T0 + timedelta(minutes=1))
    give(engine, "HANAKO23", 200, T0 + timedelta(minutes=1), "g-may-0001")
    set_expiry(engine, ExpiryPolicy(), T0 + timedelta(minutes=2))
    give(engine, "HANAKO23", 300, T0 + timedelta(minutes=2), "g-never-01")
    return engine


END_OF_APRIL = datetime(2027, 4, 30, 15, 0, tzinfo=UTC)  # 1 May 00:00 JST: April's points are gone


def test_every_credit_carries_the_expiry_of_the_rule_in_force(lots):
    held = holding(lots, "HANAKO23", T0 + timedelta(minutes=3))
    assert (held.balance, held.spendable, held.expired) == (600, 600, 0)
    assert (held.next_expiry, held.next_expiry_amount) == (END_OF_APRIL, 100)
    assert held.to_dict()["next_expiry"]["last_day"] == "2027-04-30"


def test_a_spend_takes_the_earliest_expiring_points_first(lots):
    first = pay(lots, "HANAKO23", 250, T0 + timedelta(hours=1), "s-first-01")
    assert [(m["last_day"], m["amount"]) for m in first["lots"]] == [("2027-04-30", 100), ("2027-05-31", 150)]
    second = pay(lots, "HANAKO23", 100, T0 + timedelta(hours=2), "s-second-1")
    assert [(m["last_day"], m["amount"]) for m in second["lots"]] == [("2027-05-31", 50), (None, 50)]
    assert holding(lots, "HANAKO23", T0 + timedelta(hours=3)).spendable == 250
    assert verified(lots).ok


def test_expired_points_are_refused_one_second_past_expiry(lots):
    before = pay(lots, "HANAKO23", 1, END_OF_APRIL - timedelta(seconds=1), "s-in-time1")
    assert before["lots"][0]["last_day"] == "2027-04-30"
    late = END_OF_APRIL + timedelta(seconds=1)
    # 99 of April's points are left but expired: 500 are spendable, 599 held.
    assert refused(lambda: pay(lots, "HANAKO23", 501, late, "s-too-late")) == "points_expired"
    assert holding(lots, "HANAKO23", late).to_dict() | {"name": ""} == {
        "point_code": YOKOSUKA,
        "name": "",
        "balance": 599,
        "spendable": 500,
        "expired": 99,
        "next_expiry": {
            "amount": 200,
            "expires_at": datetime(2027, 5, 31, 15, 0, tzinfo=UTC),
            "last_day": "2027-05-31",
        },
    }
    assert refused(lambda: pay(lots, "HANAKO23", 600, late, "s-too-much")) == "insufficient_points"
    spent = pay(lots, "HANAKO23", 500, late, "s-all-vald")  # the valid ones still go
    assert [m["amount"] for m in spent["lots"]] == [200, 300]
    assert verified(lots).ok


def test_a_refund_gives_back_the_very_lots_within_the_period(lots):
    spent = pay(lots, "HANAKO23", 250, T0 + timedelta(hours=1), "s-refund-1")
    with write(lots) as conn:
        back = spending.refund(conn, spent["id"], "r-refund-1", BY_CENTRAL, 30, now=T0 + timedelta(days=2))
    assert back["reverses"] == spent["id"] and back["mykey_id"] == "HANAKO23"
    assert sorted((m["last_day"], m["amount"]) for m in back["lots"]) == [
        ("2027-04-30", 100),
        ("2027-05-31", 150),
    ]
    held = holding(lots, "HANAKO23", T0 + timedelta(days=2))
    assert (held.spendable, held.next_expiry, held.next_expiry_amount) == (600, END_OF_APRIL, 100)
    with write(lots) as conn:  # the same refund again: the first answer
        assert (
            spending.refund(conn, spent["id"], "r-refund-1", BY_CENTRAL, 30, now=T0 + timedelta(days=3))
            == back
        )

    late = pay(lots, "HANAKO23", 10, T0 + timedelta(hours=5), "s-refund-2")

    def refund_late():
        with write(lots) as conn:
            spending.refund(conn, late["id"], "r-refund-2", BY_CENTRAL, 30, now=T0 + timedelta(days=31))

    assert refused(refund_late) == "refund_period_over"
    assert verified(lots).ok


def test_taking_back_a_grant_takes_its_own_lot(lots):
    with read(lots) as conn:
        grant_id = ledger.get_transfer(conn, 2).id  # the 200 of May
    with write(lots) as conn:
        back = ledger.reverse(conn, grant_id, "rev-may-01", "test", now=T0 + timedelta(hours=1))
    assert back.amount == 200
    held = holding(lots, "HANAKO23", T0 + timedelta(hours=1))
    assert (held.spendable, held.next_expiry_amount) == (400, 100)
    with read(lots) as conn:
        dept = service.get_department(conn, DEPARTMENT)
    assert (dept["granted"], dept["left"]) == (400, 99_600)  # the budget is given back too
    pay(lots, "HANAKO23", 150, T0 + timedelta(hours=2), "s-first-01")  # April's 100, then 50 never-expiring

    def take_back_april():
        with write(lots) as conn:
            ledger.reverse(conn, 1, "rev-apr-01", "test", now=T0 + timedelta(hours=3))

    assert refused(take_back_april) == "insufficient_points"  # April's lot was spent
    assert verified(lots).ok


def test_the_sweep_moves_expired_points_to_breakage_once(lots):
    pay(lots, "HANAKO23", 30, T0 + timedelta(hours=1), "s-sweep-01")
    give(lots, "TAROU234", 50, T0 + timedelta(minutes=5), "g-taro-001")  # never expires (the rule now)

    def sweep(as_of, client_id, now=None):
        with write(lots) as conn:
            return expiry.sweep(conn, client_id, as_of, "test", now=now or as_of + timedelta(days=1))

    assert sweep(END_OF_APRIL - timedelta(seconds=1), "x-before-1")["points"] == 0
    with write(lots) as conn:  # Sapporo's sweep leaves Yokosuka's points alone
        sapporo = expiry.sweep(
            conn, "x-sapporo", END_OF_APRIL, "test", "011002", END_OF_APRIL + timedelta(days=1)
        )
    assert (sapporo["points"], sapporo["municipality"]) == (0, "011002")
    report = sweep(END_OF_APRIL, "x-april-01")
    assert {k: report[k] for k in ("transfers", "lots", "holders", "points")} == {
        "transfers": 1,
        "lots": 1,
        "holders": 1,
        "points": 70,
    }
    assert report["point_codes"] == [
        {
            "point_code": YOKOSUKA,
            "municipality": YOKOSUKA,
            "breakage_account": "breakage:142018",
            "lots": 1,
            "holders": 1,
            "points": 70,
        }
    ]
    assert sweep(END_OF_APRIL, "x-april-02")["points"] == 0  # swept once only
    with read(lots) as conn:
        assert ledger.balances(conn, "breakage:142018") == {YOKOSUKA: 70}
    held = holding(lots, "HANAKO23", END_OF_APRIL)
    assert (held.balance, held.spendable, held.expired) == (500, 500, 0)
    assert (
        refused(lambda: sweep(datetime.now(UTC) + timedelta(days=1), "x-future1", datetime.now(UTC)))
        == "as_of_in_future"
    )
    assert verified(lots).ok


def test_a_department_grants_only_within_its_budget(town, engine):
    give(engine, "HANAKO23", 60_000, T0, "g-budget-1")
    assert refused(lambda: give(engine, "TAROU234", 40_001, T0, "g-budget-2")) == "over_budget"
    give(engine, "TAROU234", 40_000, T0, "g-budget-3")

    def budget(amount):
        with write(engine) as conn:
            return service.set_budget(conn, CENTRAL, DEPARTMENT, amount)

    assert refused(lambda: budget(99_999)) == "budget_below_spent"
    assert budget(150_000)["left"] == 50_000
    give(engine, "TAROU234", 40_001, T0, "g-budget-2")
    assert verified(engine).ok


def test_verify_finds_lots_that_do_not_add_up(lots):
    assert verified(lots).ok and verified(lots).lots == 3
    with write(lots) as conn:
        conn.execute(text("UPDATE lots SET remaining = remaining - 1 WHERE amount = 300"))
    codes = [b["code"] for b in verified(lots).breaches]
    assert codes == ["lots_mismatch", "lot_moves_mismatch"]


def test_lot_moves_are_append_only_in_the_database(lots):
    pay(lots, "HANAKO23", 10, T0 + timedelta(hours=1), "s-append-1")
    for statement in ("UPDATE lot_moves SET amount = 1", "DELETE FROM lot_moves"):
        with pytest.raises(DBAPIError, match="append-only"), write(lots) as conn:
            conn.execute(text(statement))
    assert verified(lots).ok


def test_a_batch_that_empties_a_lot_then_refills_it_counts_it_once(town, engine):
    def req(client_id, debit, credit, amount, kind="spend", reverses=None):
        return ledger.TransferRequest(client_id, YOKOSUKA, debit, credit, amount, kind, reverses=reverses)

    with write(engine) as conn:
        ledger.transfer(conn, req("b-grant-01", "muni:142018", "mykey:1", 100, "grant"), "test")
        first = ledger.transfer(conn, req("b-spend-01", "mykey:1", "payee:shop", 30), "test")
    with write(engine) as conn:
        results = ledger.create_transfers(
            conn,
            [
                req("b-spend-02", "mykey:1", "payee:shop", 70),  # the lot is empty now
                req("b-refund-1", "payee:shop", "mykey:1", 30, "reverse", first.id),  # 30 back into it
                req("b-spend-03", "mykey:1", "payee:shop", 50),  # only 30 are there
                req("b-spend-04", "mykey:1", "payee:shop", 30),
            ],
            "test",
        )
    assert [getattr(r, "code", "ok") for r in results] == ["ok", "ok", "insufficient_points", "ok"]
    assert verified(engine).ok
