"""Coupon codes and premium campaigns: batches shown once and stored as hashes,
redemption through holding, each refusal its own code, the throttle; premiums from the partner or
a municipality, capped per holder, stopping by themselves at their budget. Both databases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from partners_helpers import (
    YOKOSUKA,
    add_partner,
    balances,
    link,
    new_holder,
    new_id,
    pending,
    redeem,
    verified,
)
from sqlalchemy import func, select
from terminal_helpers import error_code

from mkp_core import cardproof, coupon
from mkp_core.errors import Throttled
from server.db.engine import read, run_write, write
from server.partners import coupons as coupon_service
from server.partners import service, throttle
from server.partners.tables import coupon_batches, coupons
from server.platform.mykey import registry


@pytest.fixture
def ana(mykey):
    return add_partner(mykey, "ANA", name="全日本空輸")


def _batch(mykey, count=3, points=1000, **extra):
    r = mykey.client.post(
        "/v1/partners/ANA/coupons",
        json={"client_id": new_id("batch"), "count": count, "points": points, **extra},
        headers=mykey.operators.central,
    )
    assert r.status_code == 201, r.json
    return r.json


def _wallet(mykey, holder) -> str:
    with read(mykey.app.extensions["mkp.engine"]) as conn:
        return registry.find(conn, holder.mykey_id).number


def test_batch_shown_once_and_stored_as_hashes(mykey, ana):
    body = {"client_id": new_id("batch"), "count": 5, "points": 1000}
    first = mykey.client.post("/v1/partners/ANA/coupons", json=body, headers=mykey.operators.central)
    assert first.status_code == 201 and len(first.json["codes"]) == 5
    assert all(coupon.check_ok(coupon.normalise(c)) for c in first.json["codes"])
    retry = mykey.client.post("/v1/partners/ANA/coupons", json=body, headers=mykey.operators.central)
    assert retry.json["codes"] is None and retry.json["batch_id"] == first.json["batch_id"]
    with read(mykey.app.extensions["mkp.engine"]) as conn:
        stored = set(conn.execute(select(coupons.c.code_hash)).scalars())
    assert stored == {coupon.digest(coupon.normalise(c)) for c in first.json["codes"]}
    # Through the partner's own API too.
    own = ana.post("/partner/v1/coupons", {"client_id": new_id("b"), "count": 2, "points": 500})
    assert own.status_code == 201 and len(own.json["codes"]) == 2 and own.json["partner"] == "ANA"


def test_redeemed_coupon_goes_through_holding(mykey, ana):
    holder = new_holder(mykey)
    code = _batch(mykey)["codes"][0]
    r = redeem(mykey, holder, code)
    assert r.status_code == 201, r.json
    assert (r.json["points"], r.json["point_code"], r.json["order_id"]) == (1000, YOKOSUKA, None)
    n = _wallet(mykey, holder)
    assert balances(mykey, f"holding:{n}") == {YOKOSUKA: 1000}
    assert balances(mykey, "partner:ANA") == {YOKOSUKA: -1000}
    assert [c["points"] for c in pending(mykey, holder)["conversions"]] == [1000]
    verified(mykey)


def _typo(code: str) -> str:
    i = 5
    return code[:i] + ("2" if code[i] != "2" else "3") + code[i + 1 :]


def _swap(code: str) -> str:
    plain = coupon.normalise(code)
    i = next(i for i in range(16) if plain[i] != plain[i + 1])
    return plain[:i] + plain[i + 1] + plain[i] + plain[i + 2 :]


def test_each_refusal_has_its_own_code(mykey, ana, engine):
    holder = new_holder(mykey)
    codes = _batch(mykey, count=4)["codes"]
    assert redeem(mykey, holder, codes[0]).status_code == 201
    assert error_code(redeem(mykey, holder, codes[0])) == (409, "coupon_used")
    assert error_code(redeem(mykey, holder, _typo(codes[1]))) == (422, "coupon_typo")
    assert error_code(redeem(mykey, holder, _swap(codes[1]))) == (422, "coupon_typo")
    assert "typo" in redeem(mykey, holder, _typo(codes[1])).json["error"]["message"]
    assert error_code(redeem(mykey, holder, coupon.pretty(coupon.new_code()))) == (422, "coupon_unknown")
    assert error_code(redeem(mykey, holder, "HELLO")) == (422, "invalid_coupon_code")

    cancel = mykey.client.post(
        "/v1/coupons/cancel",
        json={"client_id": new_id("c"), "code": codes[1]},
        headers=mykey.operators.central,
    )
    assert cancel.status_code == 200
    assert error_code(redeem(mykey, holder, codes[1])) == (409, "coupon_cancelled")

    with write(engine) as conn:  # the batch's last moment has passed
        conn.execute(coupon_batches.update().values(expires_at=datetime.now(UTC) - timedelta(seconds=1)))
    assert error_code(redeem(mykey, holder, codes[2])) == (409, "coupon_expired")
    n = _wallet(mykey, holder)
    assert balances(mykey, f"holding:{n}") == {YOKOSUKA: 1000}  # only the first one counted
    verified(mykey)


def test_cancelled_batch(mykey, ana):
    holder = new_holder(mykey)
    batch = _batch(mykey, count=2)
    assert redeem(mykey, holder, batch["codes"][0]).status_code == 201
    r = mykey.client.post(
        f"/v1/coupon-batches/{batch['batch_id']}/cancel",
        json={"client_id": new_id("cb")},
        headers=mykey.operators.central,
    )
    assert r.status_code == 200 and r.json["cancelled_at"] is not None
    assert error_code(redeem(mykey, holder, batch["codes"][1])) == (409, "coupon_cancelled")
    assert error_code(redeem(mykey, holder, batch["codes"][0])) == (409, "coupon_used")


def test_wrong_codes_are_throttled_per_source(mykey, ana):
    guesser, other = new_holder(mykey), new_holder(mykey)
    good = _batch(mykey, count=2)["codes"]
    for _ in range(coupon_service.MAX_FAILURES):
        assert error_code(redeem(mykey, guesser, coupon.pretty(coupon.new_code())))[1] == "coupon_unknown"
    assert error_code(redeem(mykey, guesser, coupon.pretty(coupon.new_code()))) == (429, "too_many_attempts")
    assert error_code(redeem(mykey, guesser, good[0])) == (429, "too_many_attempts")  # even a good one
    assert redeem(mykey, other, good[0]).status_code == 201  # another holder is not held back
    verified(mykey)


def test_a_thousand_guesses_win_nothing(mykey, ana, engine):
    """1,000 guesses from one holder (the domain, as the endpoint calls it, each refusal's count
    committed by its own request's transaction): the first MAX_FAILURES are unknown, the rest
    throttled, nothing redeemed."""
    _batch(mykey, count=10)
    guesser = new_holder(mykey)
    answers: dict[str, int] = {}
    for guess in coupon.new_codes(1000):
        try:
            refused = run_write(engine, lambda conn, guess=guess: _redeem_in(conn, guesser, guess))
        except Throttled as e:
            refused = e
        assert isinstance(refused, throttle.WrongCode | Throttled)
        answers[refused.code] = answers.get(refused.code, 0) + 1
    assert answers == {"coupon_unknown": coupon_service.MAX_FAILURES, "too_many_attempts": 990}
    with read(engine) as conn:
        assert conn.execute(select(func.count()).where(coupons.c.status == "redeemed")).scalar_one() == 0


def _redeem_in(conn, holder, code: str, now: datetime | None = None):
    """The endpoint's redemption for ``holder`` in ``conn``: the conversion, or the wrong code counted."""
    found = registry.find(conn, holder.mykey_id)
    return throttle.refusal_kept(
        lambda: service.redeem_coupon(conn, found, code, None, now or datetime.now(UTC))
    )


def test_the_throttle_lifts_when_its_window_ends(mykey, ana, engine):
    (code,) = _batch(mykey, count=1)["codes"]
    holder = new_holder(mykey)
    with read(engine) as conn:
        wallet = registry.find(conn, holder.mykey_id).wallet
    start = datetime.now(UTC)
    with write(engine) as conn:
        for _ in range(coupon_service.MAX_FAILURES):
            throttle.record_failure(conn, wallet, start)
    with pytest.raises(Throttled), write(engine) as conn:
        _redeem_in(conn, holder, code, start + coupon_service.WINDOW - timedelta(seconds=1))
    with write(engine) as conn:
        assert _redeem_in(conn, holder, code, start + coupon_service.WINDOW)["points"] == 1000


def test_redeem_at_a_terminal(mykey, ana):
    holder = new_holder(mykey)
    code = _batch(mykey, count=1)["codes"][0]
    terminal = mykey.terminal(None)
    challenge = terminal.post(
        mykey.client, "/v1/terminal/mykey/challenges", {"purpose": cardproof.COUPON}
    ).json
    proof = holder.card.proof(cardproof.COUPON, challenge["challenge"], cardproof.coupon_action(code, None))
    r = terminal.post(
        mykey.client, "/v1/terminal/coupons/redeem", {"client_id": new_id("t"), "code": code, "proof": proof}
    )
    assert r.status_code == 201, r.json
    assert r.json["points"] == 1000


# --- premium campaigns -------------------------------------------------------------------------


def _campaign(mykey, headers=None, **terms):
    now = datetime.now(UTC)
    body = {
        "client_id": new_id("camp"),
        "name": "春の応援",
        "starts_at": (now - timedelta(days=1)).isoformat(),
        "ends_at": (now + timedelta(days=30)).isoformat(),
        **terms,
    }
    return mykey.client.post(
        "/v1/partners/ANA/campaigns", json=body, headers=headers or mykey.operators.central
    )


def test_premium_capped_per_holder_and_stopping_at_its_budget(mykey, ana):
    r = _campaign(mykey, percent=10, budget=1500, cap_per_holder=1000)
    assert r.status_code == 201 and r.json["status"] == "running"
    one, two = new_holder(mykey), new_holder(mykey)
    link(mykey, one, ana, "A-1")
    link(mykey, two, ana, "A-2")
    assert ana.convert("o-1", "A-1", 8000).json["premium"] == 800
    assert ana.convert("o-2", "A-1", 8000).json["premium"] == 200  # the holder's cap: 1000 in all
    assert ana.convert("o-3", "A-1", 8000).json["premium"] == 0
    assert ana.convert("o-4", "A-2", 8000).json["premium"] == 500  # the rest of the budget
    last = ana.convert("o-5", "A-2", 8000)
    assert last.status_code == 201 and last.json["premium"] == 0 and last.json["campaign_id"] is None
    (camp,) = mykey.client.get("/v1/partners/ANA/campaigns", headers=mykey.operators.central).json[
        "campaigns"
    ]
    assert (camp["used"], camp["status"]) == (1500, "exhausted")
    n = _wallet(mykey, one)
    assert balances(mykey, f"holding:{n}") == {YOKOSUKA: 24_000 + 1000}
    assert balances(mykey, "partner:ANA") == {YOKOSUKA: -(40_000 + 1500)}
    verified(mykey)


def test_premium_funded_by_the_municipality(mykey, ana):
    r = _campaign(
        mykey,
        headers=mykey.operators.yokosuka,
        fixed=300,
        budget=10_000,
        funded_by="municipality",
        municipality=YOKOSUKA,
    )
    assert r.status_code == 201, r.json
    holder = new_holder(mykey)
    link(mykey, holder, ana, "A-1")
    assert ana.convert("o-1", "A-1", 1000).json["premium"] == 300
    assert ana.convert("o-2", "A-1", 1000, destination="011002").json["premium"] == 0  # not its points
    assert balances(mykey, f"muni:{YOKOSUKA}") == {YOKOSUKA: -300}
    assert balances(mykey, "partner:ANA") == {YOKOSUKA: -1000, "011002": -1000}
    verified(mykey)


def test_campaign_refusals(mykey, ana):
    assert error_code(_campaign(mykey, percent=10, fixed=5, budget=10)) == (422, "invalid_premium")
    assert error_code(_campaign(mykey, budget=10)) == (422, "invalid_premium")
    assert error_code(_campaign(mykey, percent=10, budget=10, funded_by="municipality")) == (
        422,
        "municipality_required",
    )
    other_city = _campaign(
        mykey,
        headers=mykey.operators.sapporo,
        percent=10,
        budget=10,
        funded_by="municipality",
        municipality=YOKOSUKA,
    )
    assert error_code(other_city) == (403, "out_of_scope")
    assert error_code(_campaign(mykey, headers=mykey.operators.yokosuka, percent=10, budget=10)) == (
        403,
        "central_operator_only",
    )
    now = datetime.now(UTC)
    backwards = _campaign(
        mykey, percent=10, budget=10, starts_at=now.isoformat(), ends_at=(now - timedelta(days=1)).isoformat()
    )
    assert error_code(backwards) == (422, "invalid_period")
