"""The coupon throttle counts a holder's wrong codes wherever they try them (at home and at every
terminal: one count), and counts them atomically: requests racing one another never all slip
under the limit. Both databases (on PostgreSQL the racing requests really run side by side)."""

from __future__ import annotations

import pytest
from partners_helpers import AT_ONCE, add_partner, new_holder, new_id, race, redeem, verified
from sqlalchemy import select
from terminal_helpers import error_code

from mkp_core import cardproof, coupon
from server.db.engine import read
from server.partners import coupons as coupon_service
from server.partners.tables import coupon_failures
from server.platform.mykey import registry


@pytest.fixture
def ana(mykey):
    return add_partner(mykey, "ANA", name="全日本空輸")


def _codes(mykey, count: int) -> list[str]:
    r = mykey.client.post(
        "/v1/partners/ANA/coupons",
        json={"client_id": new_id("batch"), "count": count, "points": 1000},
        headers=mykey.operators.central,
    )
    assert r.status_code == 201, r.json
    return r.json["codes"]


def _guess() -> str:
    """A well-formed code that was never issued (its check character fits)."""
    return coupon.pretty(coupon.new_code())


def _at_terminal(mykey, terminal, holder, code: str):
    challenge = terminal.post(mykey.client, "/v1/terminal/mykey/challenges", {"purpose": cardproof.COUPON})
    assert challenge.status_code == 201, challenge.json
    proof = holder.card.proof(
        cardproof.COUPON, challenge.json["challenge"], cardproof.coupon_action(code, None)
    )
    return terminal.post(
        mykey.client, "/v1/terminal/coupons/redeem", {"client_id": new_id("t"), "code": code, "proof": proof}
    )


def _failures(mykey, holder) -> int:
    with read(mykey.app.extensions["mkp.engine"]) as conn:
        wallet = registry.find(conn, holder.mykey_id).wallet
        found = conn.execute(select(coupon_failures.c.failures).where(coupon_failures.c.source == wallet))
        return int(found.scalar_one_or_none() or 0)


def test_wrong_codes_count_per_holder_at_home_and_at_every_terminal(mykey, ana):
    """A guesser who spreads their tries over home and two kiosks gets no more than
    MAX_FAILURES in all; the next resident at those kiosks is not held back by them."""
    guesser, neighbour = new_holder(mykey), new_holder(mykey)
    (good,) = _codes(mykey, 1)
    kiosk, other_kiosk = mykey.terminal(None), mykey.terminal(None)
    half = coupon_service.MAX_FAILURES // 2
    for _ in range(half):
        assert error_code(redeem(mykey, guesser, _guess())) == (422, "coupon_unknown")
    for _ in range(coupon_service.MAX_FAILURES - half):
        assert error_code(_at_terminal(mykey, kiosk, guesser, _guess())) == (422, "coupon_unknown")
    assert error_code(_at_terminal(mykey, other_kiosk, guesser, _guess())) == (429, "too_many_attempts")
    assert error_code(_at_terminal(mykey, kiosk, guesser, good)) == (429, "too_many_attempts")
    assert error_code(redeem(mykey, guesser, _guess())) == (429, "too_many_attempts")
    assert _failures(mykey, guesser) == coupon_service.MAX_FAILURES

    ok = _at_terminal(mykey, kiosk, neighbour, good)  # the kiosk itself is not throttled
    assert ok.status_code == 201, ok.json
    assert ok.json["points"] == 1000
    verified(mykey)


def test_racing_wrong_codes_never_pass_the_limit(mykey, ana):
    """One try left, then AT_ONCE wrong codes sent at once (each with its own card proof, each a
    request of its own): exactly one is judged (``coupon_unknown``), the others are refused
    ``too_many_attempts``, and the count stops at the limit."""
    guesser = new_holder(mykey)
    _codes(mykey, 1)
    for _ in range(coupon_service.MAX_FAILURES - 1):
        assert error_code(redeem(mykey, guesser, _guess()))[1] == "coupon_unknown"
    bodies = []
    for _ in range(AT_ONCE):
        code = _guess()
        challenge = mykey.challenge(cardproof.COUPON)
        proof = guesser.card.proof(cardproof.COUPON, challenge, cardproof.coupon_action(code, None))
        bodies.append({"client_id": new_id("r"), "code": code, "proof": proof})

    def send(i: int) -> object:
        r = mykey.app.test_client().post("/v1/holder/coupons/redeem", json=bodies[i])
        return r.json["error"]["code"] if r.status_code >= 400 else r.status_code

    answers = race(send)
    assert sorted(map(str, answers)) == ["coupon_unknown"] + ["too_many_attempts"] * (AT_ONCE - 1)
    assert _failures(mykey, guesser) == coupon_service.MAX_FAILURES
