"""The holder's side of partner points as mkp-agent does it (agent.partner_points over the server
in-process, with a virtual card): link, home, redeem, pending; a typo refused before the card."""

from __future__ import annotations

from mkp_testing import invoke
from partners_helpers import YOKOSUKA, add_partner, new_id

from agent.cli import main as agent_main
from agent.cli.coupon import _link_text
from agent.partner_points import PartnerPoints
from mkp_core import coupon
from mkp_core.client import ApiError


def test_holder_links_sets_home_redeems_and_sees_the_hold(mykey):
    ana = add_partner(mykey, "ANA")
    card = mykey.card()
    mykey.holder.register(card.open)
    points = PartnerPoints(mykey.api)
    asked = points.link_partner(card.open, "ANA", "A-1")
    assert asked["status"] == "pending" and asked["link_code"]
    assert ana.confirm("A-1", asked["link_code"]).json["status"] == "active"
    assert points.set_home(card.open, YOKOSUKA)["home_municipality"] == YOKOSUKA
    r = mykey.client.post(
        "/v1/partners/ANA/coupons",
        json={"client_id": new_id("b"), "count": 1, "points": 700},
        headers=mykey.operators.central,
    )
    (code,) = r.json["codes"]
    assert points.redeem_coupon(card.open, code)["points"] == 700
    try:
        points.redeem_coupon(card.open, code)
    except ApiError as e:
        assert e.code == "coupon_used"
    else:
        raise AssertionError("a code redeemed twice")
    assert [c["points"] for c in points.pending(card.open)["conversions"]] == [700]


def test_agent_refuses_a_typo_before_asking_for_the_card():
    code = coupon.pretty(coupon.new_code())
    typo = code[:2] + ("X" if code[2] != "X" else "Y") + code[3:]
    done = invoke(agent_main, "coupon", "redeem", typo, "--server", "http://127.0.0.1:9", "--pin", "1234")
    assert done.exit_code == 1 and "coupon_typo" in done.stderr
    bad = invoke(agent_main, "coupon", "redeem", "HELLO", "--server", "http://127.0.0.1:9", "--pin", "1234")
    assert bad.exit_code == 1 and "invalid_coupon_code" in bad.stderr


def test_the_demo_step_in_process(mykey):
    """mkp-demo's partner step against the server in-process, with cards in a reader of this
    process (the demo itself puts them behind pcscd)."""
    from types import SimpleNamespace

    from demo.cli import DemoState, step_partners
    from mkp_core.client import ApiClient, BearerToken

    cards = [mykey.card(), mykey.card()]
    ids = [mykey.holder.register(c.open)["mykey_id"] for c in cards]
    state = DemoState(workdir=None)  # type: ignore[arg-type]
    state.server = SimpleNamespace(url=mykey.url)  # type: ignore[assignment]
    state.api = ApiClient(mykey.url, BearerToken(mykey.operators.central["Authorization"].split()[1]))
    state.facts.update(cards=[c.open for c in cards], mykeys=ids)
    detail = step_partners(state)
    assert "2,000 + 200 premium" in detail and "coupon" in detail and "again: 0 moved" in detail
    assert "3,300 points to the wallet (+3,300)" in detail


def test_the_agent_shows_the_link_code_once_with_what_to_do():
    text = _link_text(
        {
            "partner": "ANA",
            "member": "A-1",
            "status": "pending",
            "link_code": "7KQ2-M9XD-H4TR-PZ3E-W",
            "code_expires_at": "2027-04-08T01:00:00+00:00",
        }
    )
    assert "7KQ2-M9XD-H4TR-PZ3E-W" in text and "2027-04-08 10:00 JST" in text
    assert "ANA's own site or app" in text and "shown only now" in text
    linked = _link_text({"partner": "ANA", "member": "A-1", "status": "active", "link_code": None})
    assert linked == "linked ANA: A-1 (active)"
