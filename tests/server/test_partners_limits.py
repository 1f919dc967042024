"""Limits of partner points that hold: the release never runs ahead of the clock, a conversion too
large to release is refused when it is converted (singly, in a batch, as a coupon), and one
release the ledger cannot book does not stop the others. Both databases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from partners_helpers import (
    YOKOSUKA,
    add_partner,
    balances,
    end_holds,
    link,
    new_holder,
    new_id,
    pending,
    redeem,
    release,
    verified,
)
from sqlalchemy import insert
from terminal_helpers import error_code

from mkp_core import dates, ids
from server.db.engine import read, write
from server.partners.tables import conversions
from server.platform.mykey import registry


@pytest.fixture
def ana(mykey):
    return add_partner(mykey, "ANA", name="全日本空輸")


def _number(mykey, holder) -> int:
    with read(mykey.app.extensions["mkp.engine"]) as conn:
        return registry.find(conn, holder.mykey_id).number


def _release(mykey, as_of: str):
    return mykey.client.post(
        "/v1/points/release-held",
        json={"client_id": new_id("release"), "as_of": as_of},
        headers=mykey.operators.central,
    )


def _campaign(mykey, percent: int, budget: int = ids.MAX_AMOUNT):
    now = datetime.now(UTC)
    r = mykey.client.post(
        "/v1/partners/ANA/campaigns",
        json={
            "client_id": new_id("camp"),
            "name": "春の応援",
            "percent": percent,
            "budget": budget,
            "starts_at": (now - timedelta(days=1)).isoformat(),
            "ends_at": (now + timedelta(days=30)).isoformat(),
        },
        headers=mykey.operators.central,
    )
    assert r.status_code == 201, r.json
    return r.json["campaign_id"]


def _used(mykey, campaign_id: int) -> int:
    listed = mykey.client.get("/v1/partners/ANA/campaigns", headers=mykey.operators.central).json
    return next(c["used"] for c in listed["campaigns"] if c["campaign_id"] == campaign_id)


def test_a_future_as_of_is_refused_and_nothing_leaves_the_hold(mykey, ana):
    """An operator's --as-of 15 days ahead would end every 14-day hold on day 0: refused."""
    holder = new_holder(mykey)
    link(mykey, holder, ana, "A-1")
    assert ana.convert("o-1", "A-1", 10_000).status_code == 201
    later = dates.jst_date(datetime.now(UTC) + timedelta(days=15)).isoformat()
    assert error_code(_release(mykey, later)) == (422, "as_of_in_future")
    an_hour = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    assert error_code(_release(mykey, an_hour)) == (422, "as_of_in_future")
    # A fast clock is forgiven, but nothing is released before it is due by the server's clock.
    fast = _release(mykey, (datetime.now(UTC) + timedelta(minutes=1)).isoformat())
    assert fast.status_code == 201 and fast.json["conversions"] == 0
    n = _number(mykey, holder)
    assert balances(mykey, f"mykey:{n}") == {}
    assert balances(mykey, f"holding:{n}") == {YOKOSUKA: 10_000}
    assert [c["points"] for c in pending(mykey, holder)["conversions"]] == [10_000]
    verified(mykey)


def test_a_conversion_too_large_to_release_is_refused_when_converted(mykey, ana):
    """With a +10 % campaign, the partner's maximum order would release MAX_AMOUNT plus its premium
    in one transfer, which the ledger cannot carry: refused now, nothing booked, no budget spent."""
    holder = new_holder(mykey)
    link(mykey, holder, ana, "A-1")
    campaign = _campaign(mykey, percent=10)
    assert error_code(ana.convert("o-big", "A-1", ids.MAX_AMOUNT)) == (422, "conversion_too_large")
    assert balances(mykey, "partner:ANA") == {}
    assert _used(mykey, campaign) == 0
    fits = ana.convert("o-fits", "A-1", 900_000_000)
    assert fits.status_code == 201, fits.json
    assert fits.json["points"] + fits.json["premium"] == 990_000_000
    end_holds(mykey)
    done = release(mykey)
    assert (done["conversions"], done["points"], done["refused"]) == (1, 990_000_000, [])
    verified(mykey)


def test_in_a_batch_the_too_large_order_is_refused_alone(mykey, ana):
    holder = new_holder(mykey)
    link(mykey, holder, ana, "A-1")
    campaign = _campaign(mykey, percent=10)
    r = ana.convert_batch(("o-1", "A-1", 1000), ("o-big", "A-1", ids.MAX_AMOUNT), ("o-2", "A-1", 2000))
    assert r.status_code == 200, r.json
    answers = [(a["order_id"], a["status"], (a["error"] or {}).get("code")) for a in r.json["results"]]
    assert answers == [
        ("o-1", "accepted", None),
        ("o-big", "refused", "conversion_too_large"),
        ("o-2", "accepted", None),
    ]
    assert _used(mykey, campaign) == 100 + 200  # the refused order spent none of the budget
    assert balances(mykey, f"holding:{_number(mykey, holder)}") == {YOKOSUKA: 3300}
    again = ana.convert("o-big", "A-1", 1000)  # a refused order is kept nowhere: its id is free
    assert again.status_code == 201, again.json
    alone = ana.convert_batch(("o-big-2", "A-1", ids.MAX_AMOUNT))
    assert (alone.status_code, alone.json["accepted"], alone.json["refused"]) == (200, 0, 1)
    verified(mykey)


def test_a_coupon_too_large_to_release_is_refused_and_stays_unredeemed(mykey, ana):
    holder = new_holder(mykey)
    _campaign(mykey, percent=10)
    r = mykey.client.post(
        "/v1/partners/ANA/coupons",
        json={"client_id": new_id("batch"), "count": 1, "points": ids.MAX_AMOUNT},
        headers=mykey.operators.central,
    )
    (code,) = r.json["codes"]
    assert error_code(redeem(mykey, holder, code)) == (422, "conversion_too_large")
    assert pending(mykey, holder)["conversions"] == []
    cancelled = mykey.client.post(
        "/v1/coupons/cancel", json={"client_id": new_id("cc"), "code": code}, headers=mykey.operators.central
    )
    assert cancelled.status_code == 200  # not redeemed: the issuer may still cancel it
    verified(mykey)


def test_one_release_the_ledger_refuses_does_not_stop_the_others(mykey, ana):
    """A conversion booked before the limit held (points plus premium past MAX_AMOUNT) is due with
    two good ones: the good ones reach their wallets, the bad one stays on hold and is reported."""
    one, two = new_holder(mykey), new_holder(mykey)
    link(mykey, one, ana, "A-1")
    link(mykey, two, ana, "A-2")
    assert ana.convert("o-1", "A-1", 1000).status_code == 201
    assert ana.convert("o-2", "A-2", 2000).status_code == 201
    now = datetime.now(UTC)
    with write(mykey.app.extensions["mkp.engine"]) as conn:
        legacy = conn.execute(
            insert(conversions).values(
                partner_id="ANA",
                order_id="o-legacy",
                mykey=_number(mykey, one),
                point_code=YOKOSUKA,
                partner_amount=ids.MAX_AMOUNT,
                points=ids.MAX_AMOUNT,
                premium=1,
                created_at=now,
                due_at=now,
            )
        ).inserted_primary_key[0]
    end_holds(mykey)
    r = _release(mykey, datetime.now(UTC).isoformat())
    assert r.status_code == 201, r.json
    assert (r.json["conversions"], r.json["points"], r.json["holders"]) == (2, 3000, 2)
    assert [(f["conversion_id"], f["points"], f["code"]) for f in r.json["refused"]] == [
        (legacy, ids.MAX_AMOUNT + 1, "invalid_amount")
    ]
    assert balances(mykey, f"mykey:{_number(mykey, one)}") == {YOKOSUKA: 1000}
    assert balances(mykey, f"mykey:{_number(mykey, two)}") == {YOKOSUKA: 2000}
    assert [c["order_id"] for c in pending(mykey, one)["conversions"]] == ["o-legacy"]
    assert release(mykey)["refused"][0]["conversion_id"] == legacy  # reported on every run until dealt with
