"""Partner links belong to the member: the holder's card-proven request gives a one-time link code,
the member gives it to the partner in the partner's own site, and only the request whose code the
partner presents becomes the link. Wrong codes are refused and throttled. Both databases."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from partners_helpers import (
    AT_ONCE,
    YOKOSUKA,
    add_partner,
    balances,
    holder_post,
    new_holder,
    new_id,
    pending,
    race,
    verified,
)
from sqlalchemy import select, text, update
from sqlalchemy.exc import IntegrityError
from terminal_helpers import error_code

from mkp_core import cardproof, coupon, link_code
from server.db import migrate
from server.db.engine import make_engine, read, write
from server.db.tables import idempotency
from server.partners import throttle
from server.partners.tables import partner_links
from server.platform.mykey import registry


@pytest.fixture
def ana(mykey):
    return add_partner(mykey, "ANA", name="全日本空輸")


def _ask(mykey, holder, member: str):
    """The holder asks, with the card, to link ANA member ``member``."""
    return holder_post(
        mykey,
        holder.card,
        cardproof.PARTNER_LINK,
        "/v1/holder/partner-links",
        {"client_id": new_id("link"), "partner": "ANA", "member": member},
        cardproof.partner_link_action("ANA", member),
    )


def _number(mykey, holder) -> int:
    with read(mykey.app.extensions["mkp.engine"]) as conn:
        return registry.find(conn, holder.mykey_id).number


def _guess() -> str:
    """A well-formed link code that no request gave."""
    return link_code.new_code()


def test_the_link_goes_to_the_member_whose_code_the_partner_presents(mykey, ana):
    """The attack: someone's card asks first to link the victim's member number; then the victim
    asks. The victim gives their code to the partner in the partner's own site, the partner
    confirms with it: the link, and the points the partner converts, go to the victim. The
    attacker's request never becomes a link, even with the attacker's own code."""
    attacker, victim = new_holder(mykey), new_holder(mykey)
    first = _ask(mykey, attacker, "V-1")
    assert first.status_code == 201, first.json
    second = _ask(mykey, victim, "V-1")
    assert second.status_code == 201, second.json
    assert first.json["status"] == second.json["status"] == "pending"
    assert first.json["link_code"] != second.json["link_code"]

    confirmed = ana.confirm("V-1", second.json["link_code"])
    assert confirmed.status_code == 200, confirmed.json
    assert (confirmed.json["member"], confirmed.json["status"]) == ("V-1", "active")
    converted = ana.convert("o-1", "V-1", 10_000)
    assert converted.status_code == 201, converted.json
    assert balances(mykey, f"holding:{_number(mykey, victim)}") == {YOKOSUKA: 10_000}
    assert balances(mykey, f"holding:{_number(mykey, attacker)}") == {}
    assert [c["order_id"] for c in pending(mykey, victim)["conversions"]] == ["o-1"]
    assert pending(mykey, attacker)["conversions"] == []

    late = ana.confirm("V-1", first.json["link_code"])  # the attacker's code, presented after
    assert error_code(late) == (409, "member_taken")
    assert ana.convert("o-2", "V-1", 500).status_code == 201
    assert balances(mykey, f"holding:{_number(mykey, attacker)}") == {}
    with read(mykey.app.extensions["mkp.engine"]) as conn:
        rows = conn.execute(select(partner_links.c.mykey, partner_links.c.status)).all()
    assert [tuple(r) for r in rows] == [(_number(mykey, victim), "active")]  # the attacker's is gone
    verified(mykey)


def test_the_attackers_code_confirms_only_the_attackers_request(mykey, ana):
    """Had the partner taken the attacker's code, that would link the attacker; so the partner
    must take the code in its own site, from the member it knows. Two requests wait: each code
    names its own request, whichever came first."""
    early, late = new_holder(mykey), new_holder(mykey)
    _ask(mykey, early, "M-1")
    code = _ask(mykey, late, "M-1").json["link_code"]
    assert ana.confirm("M-1", code).json["status"] == "active"
    assert ana.convert("o-1", "M-1", 100).status_code == 201
    assert balances(mykey, f"holding:{_number(mykey, late)}") == {YOKOSUKA: 100}
    assert balances(mykey, f"holding:{_number(mykey, early)}") == {}


def test_wrong_codes_are_refused_and_throttled_per_member_number(mykey, ana):
    holder = new_holder(mykey)
    code = _ask(mykey, holder, "A-1").json["link_code"]
    typo = code[:2] + ("X" if code[2] != "X" else "Y") + code[3:]
    assert error_code(ana.confirm("A-1", typo)) == (422, "link_code_typo")
    assert error_code(ana.confirm("A-1", "HELLO")) == (422, "invalid_link_code")
    missing = ana.post("/partner/v1/links/confirm", {"member": "A-1"})
    assert error_code(missing) == (422, "missing_field")
    for _ in range(throttle.MAX_FAILURES - 2):
        assert error_code(ana.confirm("A-1", _guess())) == (422, "wrong_link_code")
    assert error_code(ana.confirm("A-1", _guess())) == (429, "too_many_attempts")
    assert error_code(ana.confirm("A-1", code)) == (429, "too_many_attempts")  # even the right one, now
    assert error_code(ana.convert("o-1", "A-1", 100)) == (409, "link_not_confirmed")

    other = new_holder(mykey)  # another member number is not held back
    other_code = _ask(mykey, other, "A-2").json["link_code"]
    assert ana.confirm("A-2", other_code).json["status"] == "active"
    verified(mykey)


def test_a_code_is_shown_once_kept_as_a_hash_and_renewed_by_asking_again(mykey, ana):
    holder = new_holder(mykey)
    challenge = mykey.challenge(cardproof.PARTNER_LINK)
    proof = holder.card.proof(cardproof.PARTNER_LINK, challenge, cardproof.partner_link_action("ANA", "A-1"))
    body = {"client_id": new_id("link"), "partner": "ANA", "member": "A-1", "proof": proof}
    first = mykey.client.post("/v1/holder/partner-links", json=body)
    assert first.status_code == 201, first.json
    code = first.json["link_code"]
    assert coupon.check_ok(coupon.normalise(code)) and len(code) == len("XXXX-XXXX-XXXX-XXXX-C")
    expires = datetime.fromisoformat(first.json["code_expires_at"])
    assert timedelta(days=6, hours=23) < expires - datetime.now(UTC) <= timedelta(days=7)
    retried = mykey.client.post("/v1/holder/partner-links", json=body)  # sent again: its answer, no code
    assert retried.status_code == 201 and retried.json["link_code"] is None
    engine = mykey.app.extensions["mkp.engine"]
    with read(engine) as conn:
        stored = [json.dumps(list(r), default=str) for r in conn.execute(select(partner_links)).all()]
        stored += [r.response for r in conn.execute(select(idempotency.c.response))]
    plain = coupon.normalise(code)
    assert not any(code in text or plain in text for text in stored)

    renewed = _ask(mykey, holder, "A-1")  # lost the receipt: ask again, a new code
    assert renewed.json["link_code"] not in (None, code)
    assert error_code(ana.confirm("A-1", code)) == (422, "wrong_link_code")
    assert (
        ana.confirm("A-1", renewed.json["link_code"].lower()).json["status"] == "active"
    )  # typed as it comes
    again = _ask(mykey, holder, "A-1")  # linked: the link as it is, no code
    assert (again.json["status"], again.json["link_code"]) == ("active", None)


def test_an_expired_code_confirms_nothing(mykey, ana):
    holder = new_holder(mykey)
    code = _ask(mykey, holder, "A-1").json["link_code"]
    with write(mykey.app.extensions["mkp.engine"]) as conn:
        conn.execute(update(partner_links).values(code_expires_at=datetime.now(UTC) - timedelta(seconds=1)))
    assert error_code(ana.confirm("A-1", code)) == (409, "link_code_expired")
    fresh = _ask(mykey, holder, "A-1").json["link_code"]
    assert ana.confirm("A-1", fresh).json["status"] == "active"


def test_confirmations_racing_for_one_member_number_make_one_link(mykey, ana):
    """AT_ONCE holders asked for one member number; the partner's confirmations with each code
    arrive at once (on PostgreSQL really side by side): one link, the others ``member_taken``."""
    holders = [new_holder(mykey) for _ in range(AT_ONCE)]
    codes = [_ask(mykey, h, "M-1").json["link_code"] for h in holders]

    def confirm(i: int) -> object:
        r = ana.post_with(
            mykey.app.test_client(), "/partner/v1/links/confirm", {"member": "M-1", "link_code": codes[i]}
        )
        return r.json["error"]["code"] if r.status_code >= 400 else r.json["status"]

    answers = race(confirm)
    assert sorted(map(str, answers)) == ["active"] + ["member_taken"] * (AT_ONCE - 1)
    with read(mykey.app.extensions["mkp.engine"]) as conn:
        rows = conn.execute(select(partner_links.c.status)).scalars().all()
    assert rows == ["active"]


def test_upgrade_keeps_links_and_lets_requests_share_a_member_number(empty_database_url):
    """0014 on a database with links: they are kept (a pending one has no code, so nothing confirms
    it until its holder asks again); a member number may then wait in several requests, but be
    in one active link only."""
    old = make_engine(empty_database_url)
    migrate.upgrade(old, "0013")
    with write(old) as conn:
        conn.execute(
            text(
                "INSERT INTO partners (id, name, rate_from, rate_to, hold_days, public_key_pem, status, "
                "created_at) VALUES ('ANA', 'ANA', 1, 1, 14, 'pem', 'active', CURRENT_TIMESTAMP)"
            )
        )
        for n, mykey_id in enumerate(["HANAKO23", "TAROU234", "JIROU345"], start=1):
            conn.execute(
                text(
                    "INSERT INTO mykeys (id, mykey_id, folded, status, changes_left, created_at) "
                    "VALUES (:n, :m, :m, 'active', 3, CURRENT_TIMESTAMP)"
                ),
                {"n": n, "m": mykey_id},
            )
        conn.execute(
            text(
                "INSERT INTO partner_links (partner_id, member, mykey, status, created_at, confirmed_at) "
                "VALUES ('ANA', 'A-1', 1, 'active', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP), "
                "('ANA', 'A-2', 2, 'pending', CURRENT_TIMESTAMP, NULL)"
            )
        )
    assert migrate.upgrade(old) == migrate.head_revision()
    with read(old) as conn:
        kept = conn.execute(
            text("SELECT member, mykey, status, code_hash FROM partner_links ORDER BY member")
        ).all()
    assert [tuple(r) for r in kept] == [("A-1", 1, "active", None), ("A-2", 2, "pending", None)]
    with write(old) as conn:
        conn.execute(
            text(
                "INSERT INTO partner_links (partner_id, member, mykey, status, created_at) "
                "VALUES ('ANA', 'A-2', 3, 'pending', CURRENT_TIMESTAMP)"
            )
        )
    with pytest.raises(IntegrityError), write(old) as conn:
        conn.execute(text("UPDATE partner_links SET status = 'active' WHERE member = 'A-2'"))
    old.dispose()
