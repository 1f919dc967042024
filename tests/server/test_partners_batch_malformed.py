"""A malformed order in a partner's batch refuses only itself: ``POST
/partner/v1/conversions/batch`` answered 422 ``invalid_orders`` for the whole batch when one order
was malformed. Now each such order is refused with the code the single endpoint would give it,
the good ones are booked and each stays idempotent by its order id; a body that is no batch at
all (not an object, no ``orders``, more than 500) is still refused whole. Both databases."""

from __future__ import annotations

import pytest
from partners_helpers import YOKOSUKA, add_partner, balances, link, new_holder, order_body, verified
from terminal_helpers import error_code

BATCH = "/partner/v1/conversions/batch"


@pytest.fixture
def ana(mykey):
    partner = add_partner(mykey, "ANA")
    link(mykey, new_holder(mykey), partner, "A-1")
    return partner


MALFORMED = {
    "amount past 2^63": ({"order_id": "o-bad", "member": "A-1", "amount": 2**64}, "o-bad", "invalid_amount"),
    "amount zero": ({"order_id": "o-bad", "member": "A-1", "amount": 0}, "o-bad", "invalid_amount"),
    "amount negative": ({"order_id": "o-bad", "member": "A-1", "amount": -5}, "o-bad", "invalid_amount"),
    "amount a fraction": ({"order_id": "o-bad", "member": "A-1", "amount": 10.5}, "o-bad", "invalid_amount"),
    "NUL in the order id": ({"order_id": "o-\x00", "member": "A-1", "amount": 10}, None, "invalid_order_id"),
    "order id longer than its column": (
        {"order_id": "o" * 41, "member": "A-1", "amount": 10},
        None,
        "invalid_order_id",
    ),
    "member longer than its column": (
        {"order_id": "o-bad", "member": "A" * 65, "amount": 10},
        "o-bad",
        "invalid_member",
    ),
    "destination unknown in form": (
        {"order_id": "o-bad", "member": "A-1", "amount": 10, "destination": "x\x00"},
        "o-bad",
        "invalid_point_code",
    ),
    "a missing member": ({"order_id": "o-bad", "amount": 10}, "o-bad", "missing_field"),
    "an unknown field": (
        {"order_id": "o-bad", "member": "A-1", "amount": 10, "extra": 1},
        "o-bad",
        "unknown_field",
    ),
    "not an object": (7, None, "invalid_order"),
}


@pytest.mark.parametrize("case", list(MALFORMED))
def test_a_malformed_order_is_refused_alone_and_the_good_ones_are_booked(mykey, ana, case):
    bad, order_id, code = MALFORMED[case]
    body = {"orders": [order_body("o-1", "A-1", 100), bad, order_body("o-2", "A-1", 200)]}
    r = ana.post(BATCH, body)
    assert r.status_code == 200, r.json
    assert (r.json["accepted"], r.json["refused"]) == (2, 1)
    first, refused, second = r.json["results"]
    assert (first["order_id"], first["status"]) == ("o-1", "accepted")
    assert (second["order_id"], second["status"]) == ("o-2", "accepted")
    assert (refused["order_id"], refused["status"], refused["error"]["code"]) == (order_id, "refused", code)
    assert refused["error"]["message"].startswith("order 2"), refused
    assert balances(mykey, "partner:ANA") == {YOKOSUKA: -300}
    again = ana.post(BATCH, body)  # each good order once, by its order id
    assert again.json["results"] == r.json["results"]
    assert balances(mykey, "partner:ANA") == {YOKOSUKA: -300}
    verified(mykey)


def test_a_malformed_order_is_no_duplicate_of_a_good_one(mykey, ana):
    body = {"orders": [{"order_id": "o-1", "member": "A-1", "amount": 0}, order_body("o-1", "A-1", 100)]}
    r = ana.post(BATCH, body)
    assert [(a["order_id"], a["status"]) for a in r.json["results"]] == [
        ("o-1", "refused"),
        ("o-1", "accepted"),
    ]
    assert balances(mykey, "partner:ANA") == {YOKOSUKA: -100}


def test_a_body_that_is_no_batch_is_refused_whole(mykey, ana):
    assert error_code(ana.post(BATCH, [order_body("o-1", "A-1", 10)])) == (422, "invalid_body")
    assert error_code(ana.post(BATCH, {"order": []})) == (422, "missing_field")
    assert error_code(ana.post(BATCH, {"orders": []})) == (422, "invalid_orders")
    assert error_code(ana.post(BATCH, {"orders": {"o-1": 1}})) == (422, "invalid_orders")
    many = [order_body(f"o-{i}", "A-1", 1) for i in range(501)]
    assert error_code(ana.post(BATCH, {"orders": many})) == (422, "invalid_orders")
    assert balances(mykey, "partner:ANA") == {}
