"""A partner's orders in batches (for throughput): ``POST /partner/v1/conversions/batch``
answers each order on its own, books the good ones with one ledger batch, and each order is
idempotent by its order id exactly as the single endpoint's. Every bad input of a batch. Both
databases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from partners_helpers import (
    SAPPORO,
    YOKOSUKA,
    add_partner,
    balances,
    end_holds,
    link,
    new_holder,
    new_id,
    order_body,
    pending,
    release,
    signed_by,
    verified,
)
from sqlalchemy import func, select
from terminal_helpers import error_code

from mkp_core import signing
from server.db.engine import read
from server.ledger.tables import transfers
from server.partners.tables import conversions
from server.platform.mykey import registry

BATCH = "/partner/v1/conversions/batch"


@pytest.fixture
def ana(mykey):
    return add_partner(mykey, "ANA", name="全日本空輸")


def _number(mykey, holder) -> int:
    with read(mykey.app.extensions["mkp.engine"]) as conn:
        return registry.find(conn, holder.mykey_id).number


def _booked(mykey) -> tuple[int, int]:
    """(conversions, transfers) in the database: what a refused or replayed order must not add to."""
    with read(mykey.app.extensions["mkp.engine"]) as conn:
        return (
            conn.execute(select(func.count()).select_from(conversions)).scalar_one(),
            conn.execute(select(func.count()).select_from(transfers)).scalar_one(),
        )


def _answers(response) -> list[tuple[str, str, str | None]]:
    """Each order's answer as (order id, accepted | refused, error code)."""
    assert response.status_code == 200, response.json
    return [
        (a["order_id"], a["status"], a["error"]["code"] if a["error"] else None)
        for a in response.json["results"]
    ]


def _holders(mykey, partner, *members: str) -> list:
    holders = []
    for member in members:
        holder = new_holder(mykey)
        link(mykey, holder, partner, member)
        holders.append(holder)
    return holders


def test_a_batch_books_every_order_and_answers_each_in_order(mykey, ana):
    one, two = _holders(mykey, ana, "A-1", "A-2")
    r = ana.convert_batch(("o-1", "A-1", 1000), ("o-2", "A-2", 2500), ("o-3", "A-1", 500, SAPPORO))
    assert _answers(r) == [("o-1", "accepted", None), ("o-2", "accepted", None), ("o-3", "accepted", None)]
    assert (r.json["accepted"], r.json["refused"]) == (3, 0)
    converted = [a["conversion"] for a in r.json["results"]]
    assert [(c["order_id"], c["points"], c["point_code"], c["premium"]) for c in converted] == [
        ("o-1", 1000, YOKOSUKA, 0),
        ("o-2", 2500, YOKOSUKA, 0),
        ("o-3", 500, SAPPORO, 0),
    ]
    due = datetime.fromisoformat(converted[0]["due_at"])
    assert timedelta(days=13, hours=23) < due - datetime.now(UTC) <= timedelta(days=14)
    n1, n2 = _number(mykey, one), _number(mykey, two)
    assert balances(mykey, f"holding:{n1}") == {YOKOSUKA: 1000, SAPPORO: 500}
    assert balances(mykey, f"holding:{n2}") == {YOKOSUKA: 2500}
    assert balances(mykey, "partner:ANA") == {YOKOSUKA: -3500, SAPPORO: -500}
    assert sorted(c["order_id"] for c in pending(mykey, one)["conversions"]) == ["o-1", "o-3"]

    end_holds(mykey)
    assert release(mykey)["conversions"] == 3  # batch conversions are released as any other
    assert balances(mykey, f"mykey:{n1}") == {YOKOSUKA: 1000, SAPPORO: 500}
    verified(mykey)


def test_a_retried_batch_books_nothing_twice(mykey, ana):
    _holders(mykey, ana, "A-1", "A-2")
    orders = [("o-1", "A-1", 1000), ("o-404", "A-404", 1000), ("o-2", "A-2", 2000)]
    first = ana.convert_batch(*orders)
    assert _answers(first) == [
        ("o-1", "accepted", None),
        ("o-404", "refused", "member_not_linked"),
        ("o-2", "accepted", None),
    ]
    booked = _booked(mykey)
    again = ana.convert_batch(*orders)
    assert again.json == first.json  # the same answers, the same conversions
    assert _booked(mykey) == booked
    # Some of its orders again, in another batch and singly: the first answers.
    part = ana.convert_batch(("o-2", "A-2", 2000), ("o-3", "A-1", 300))
    assert part.json["results"][0] == first.json["results"][2]
    assert _answers(part)[1] == ("o-3", "accepted", None)
    single = ana.convert("o-1", "A-1", 1000)
    assert single.status_code == 201 and single.json == first.json["results"][0]["conversion"]
    assert balances(mykey, "partner:ANA") == {YOKOSUKA: -3300}
    verified(mykey)


def test_an_order_sent_singly_then_in_a_batch_is_one_order(mykey, ana):
    _holders(mykey, ana, "A-1")
    single = ana.convert("o-1", "A-1", 1000)
    assert single.status_code == 201
    r = ana.convert_batch(("o-1", "A-1", 1000), ("o-2", "A-1", 1000))
    assert r.json["results"][0]["conversion"] == single.json
    assert balances(mykey, "partner:ANA") == {YOKOSUKA: -2000}
    verified(mykey)


def test_one_bad_order_among_good_ones_refuses_only_itself(mykey, ana):
    """Every refusal the single endpoint has, per order: the good ones go, the bad ones book nothing."""
    jal = add_partner(mykey, "JAL", rate_from=500, rate_to=100)
    holder = new_holder(mykey)
    link(mykey, holder, jal, "J-1")
    homeless = new_holder(mykey, home=None)
    link(mykey, homeless, jal, "J-2")
    link(mykey, new_holder(mykey), jal, "J-3", confirm=False)
    r = jal.convert_batch(
        ("j-1", "J-1", 1000),
        ("j-2", "J-1", 501),  # not a whole number of the rate's 500-mile units
        ("j-3", "J-404", 500),  # nobody linked this member number
        ("j-4", "J-3", 500),  # linked, not confirmed by the partner
        ("j-5", "J-2", 500),  # no home municipality, no destination
        ("j-6", "J-1", 500, "131016"),  # a point code the platform has not
        ("j-7", "J-2", 500, SAPPORO),
    )
    assert _answers(r) == [
        ("j-1", "accepted", None),
        ("j-2", "refused", "amount_not_whole_units"),
        ("j-3", "refused", "member_not_linked"),
        ("j-4", "refused", "link_not_confirmed"),
        ("j-5", "refused", "no_destination"),
        ("j-6", "refused", "unknown_point_code"),
        ("j-7", "accepted", None),
    ]
    assert (r.json["accepted"], r.json["refused"]) == (2, 5)
    refusal = r.json["results"][1]
    assert refusal["conversion"] is None and "500" in refusal["error"]["message"]
    assert [a["conversion"]["points"] for a in r.json["results"] if a["conversion"]] == [200, 100]
    assert balances(mykey, "partner:JAL") == {YOKOSUKA: -200, SAPPORO: -100}
    # A refused order is kept nowhere: fixed and sent again, it goes.
    assert _answers(jal.convert_batch(("j-2", "J-1", 500)))[0] == ("j-2", "accepted", None)
    verified(mykey)


def test_an_order_id_twice_in_one_batch(mykey, ana):
    _holders(mykey, ana, "A-1")
    r = ana.convert_batch(("o-1", "A-1", 1000), ("o-1", "A-1", 1000), ("o-1", "A-1", 5000), ("o-2", "A-1", 1))
    assert _answers(r) == [
        ("o-1", "accepted", None),
        ("o-1", "refused", "duplicate_order_id"),
        ("o-1", "refused", "duplicate_order_id"),
        ("o-2", "accepted", None),
    ]
    assert "order 1 of this batch" in r.json["results"][1]["error"]["message"]
    assert balances(mykey, "partner:ANA") == {YOKOSUKA: -1001}
    verified(mykey)


def test_an_order_id_already_used_with_another_amount(mykey, ana):
    jal = add_partner(mykey, "JAL")
    holder = new_holder(mykey)
    link(mykey, holder, ana, "A-1")
    link(mykey, holder, jal, "J-1")
    assert ana.convert("o-1", "A-1", 1000).status_code == 201
    assert _answers(ana.convert_batch(("o-2", "A-1", 1000)))[0][1] == "accepted"
    r = ana.convert_batch(
        ("o-1", "A-1", 2000), ("o-2", "A-1", 1000, SAPPORO), ("o-2b", "A-1", 1000), ("o-3", "A-1", 700)
    )
    assert _answers(r) == [
        ("o-1", "refused", "idempotency_conflict"),
        ("o-2", "refused", "idempotency_conflict"),  # same amount, another destination: another order
        ("o-2b", "accepted", None),
        ("o-3", "accepted", None),
    ]
    # Another partner's order o-1 is its own: no conflict with ANA's.
    assert _answers(jal.convert_batch(("o-1", "J-1", 2000)))[0] == ("o-1", "accepted", None)
    assert error_code(ana.convert("o-3", "A-1", 701)) == (409, "idempotency_conflict")  # and singly
    assert balances(mykey, "partner:ANA") == {YOKOSUKA: -3700}
    verified(mykey)


def test_empty_too_many_malformed_and_too_large_batches_change_nothing(mykey, ana):
    _holders(mykey, ana, "A-1")
    booked = _booked(mykey)
    assert error_code(ana.post(BATCH, {"orders": []})) == (422, "invalid_orders")
    many = [order_body(f"o-{i}", "A-1", 1) for i in range(501)]
    too_many = ana.post(BATCH, {"orders": many})
    assert error_code(too_many) == (422, "invalid_orders") and "500" in too_many.json["error"]["message"]
    assert _answers(ana.post(BATCH, {"orders": many[:500]}))[-1] == ("o-499", "accepted", None)
    booked_500 = _booked(mykey)
    assert booked_500[0] == booked[0] + 500
    # A malformed order refuses only itself: tests/server/test_partners_batch_malformed.py.
    assert error_code(ana.post(BATCH, {"order": []}))[0] == 422
    assert error_code(ana.post(BATCH, [order_body("o-a", "A-1", 10)])) == (422, "invalid_body")
    huge = [order_body(f"o-{i:036d}", "A-" + "9" * 60, 1) for i in range(2000)]
    assert error_code(ana.post(BATCH, {"orders": huge})) == (413, "too_large")
    assert _booked(mykey) == booked_500
    verified(mykey)


def test_revoked_partner_other_partners_signature_and_other_credentials(mykey, ana):
    jal = add_partner(mykey, "JAL")
    _holders(mykey, ana, "A-1")
    body = {"orders": [order_body("o-1", "A-1", 1000)]}
    # JAL's key under ANA's key id; JAL's own signature only reaches JAL's members.
    forged = signed_by(mykey.client, signing.partner_auth("ANA", jal.key), BATCH, body)
    assert error_code(forged) == (401, "bad_signature")
    assert _answers(jal.post(BATCH, body)) == [("o-1", "refused", "member_not_linked")]
    assert error_code(mykey.client.post(BATCH, json=body, headers=mykey.operators.central)) == (
        401,
        "wrong_credential",
    )
    terminal = mykey.terminal(None)
    as_terminal = signed_by(
        mykey.client, signing.TerminalAuth(terminal.terminal_id, terminal.key), BATCH, body
    )
    assert error_code(as_terminal) == (401, "missing_signature")
    assert error_code(mykey.client.post(BATCH, json=body)) == (401, "missing_signature")
    r = mykey.client.post(
        "/v1/partners/ANA/revoke", json={"client_id": new_id("revoke")}, headers=mykey.operators.central
    )
    assert r.status_code == 200
    assert error_code(ana.post(BATCH, body)) == (401, "revoked_key")
    assert _booked(mykey)[0] == 0
    verified(mykey)


def _campaign(mykey, **terms):
    now = datetime.now(UTC)
    body = {
        "client_id": new_id("camp"),
        "name": "春の応援",
        "starts_at": (now - timedelta(days=1)).isoformat(),
        "ends_at": (now + timedelta(days=30)).isoformat(),
        **terms,
    }
    r = mykey.client.post("/v1/partners/ANA/campaigns", json=body, headers=mykey.operators.central)
    assert r.status_code == 201, r.json
    return r.json


def test_a_batch_that_crosses_a_campaigns_budget(mykey, ana):
    """Its orders earn their premiums one after the other, as singly sent orders would: the holder's
    cap, then the rest of the budget, then none; the campaign ends exhausted, to the point."""
    _campaign(mykey, percent=10, budget=1500, cap_per_holder=1000)
    one, two = _holders(mykey, ana, "A-1", "A-2")
    assert ana.convert("o-0", "A-1", 3000).json["premium"] == 300  # sent singly before the batch
    r = ana.convert_batch(
        ("o-1", "A-1", 5000),
        ("o-2", "A-1", 8000),  # the holder's cap: 1000 in all, 200 left
        ("o-3", "A-404", 8000),  # refused: earns nothing, spends nothing
        ("o-4", "A-1", 8000),
        ("o-5", "A-2", 8000),  # the rest of the budget
        ("o-6", "A-2", 8000),
    )
    results = r.json["results"]
    assert [a["conversion"]["premium"] if a["conversion"] else None for a in results] == [
        500,
        200,
        None,
        0,
        500,
        0,
    ]
    assert results[5]["conversion"]["campaign_id"] is None
    (camp,) = mykey.client.get("/v1/partners/ANA/campaigns", headers=mykey.operators.central).json[
        "campaigns"
    ]
    assert (camp["used"], camp["status"]) == (1500, "exhausted")
    assert balances(mykey, f"holding:{_number(mykey, one)}") == {YOKOSUKA: 24_000 + 1000}
    assert balances(mykey, f"holding:{_number(mykey, two)}") == {YOKOSUKA: 16_000 + 500}
    assert balances(mykey, "partner:ANA") == {YOKOSUKA: -(40_000 + 1500)}
    assert _answers(ana.convert_batch(("o-7", "A-2", 8000)))[0][1] == "accepted"
    assert ana.convert_batch(("o-1", "A-1", 5000)).json["results"][0] == results[0]  # replay: same premium
    verified(mykey)


def test_a_municipality_funded_campaign_pays_only_into_its_own_points(mykey, ana):
    now = datetime.now(UTC)
    body = {
        "client_id": new_id("camp"),
        "name": "横須賀応援",
        "starts_at": (now - timedelta(days=1)).isoformat(),
        "ends_at": (now + timedelta(days=30)).isoformat(),
        "fixed": 300,
        "budget": 10_000,
        "funded_by": "municipality",
        "municipality": YOKOSUKA,
    }
    r = mykey.client.post("/v1/partners/ANA/campaigns", json=body, headers=mykey.operators.yokosuka)
    assert r.status_code == 201, r.json
    _holders(mykey, ana, "A-1")
    r = ana.convert_batch(("o-1", "A-1", 1000), ("o-2", "A-1", 1000, SAPPORO), ("o-3", "A-1", 1000))
    assert [a["conversion"]["premium"] for a in r.json["results"]] == [300, 0, 300]
    assert balances(mykey, f"muni:{YOKOSUKA}") == {YOKOSUKA: -600}
    verified(mykey)
