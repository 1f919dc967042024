"""Limits on the MyKey Platform's card-facing endpoints, on SQLite and PostgreSQL.

* A refused lookup (a card that cannot be used, a card with no MyKey ID, no link) leaves no
  challenge row behind, as an accepted one does not.
* Holders' challenges need no credential, so anyone could fill ``card_challenges``: a client
  address gets so many a minute, and only so many may be open at once; 429
  ``too_many_challenges`` with ``Retry-After``. Terminals' challenges are not held up by them.
* A card trying MyKey IDs learns each time whether one is taken: so many tries an hour per
  holder, refused ones included; 429 ``too_many_id_changes`` with ``Retry-After``.
"""

from __future__ import annotations

import uuid
from dataclasses import replace

import pytest
from sqlalchemy import text
from terminal_helpers import error_code

from mkp_core import cardproof
from mkp_core.client import ApiError
from server.db.engine import read


@pytest.fixture
def street(mykey):
    mykey.service("A1", "shopping-street", name="中央商店街")
    return {"a1": mykey.terminal("A1")}


def _settings(app, **changed):
    app.extensions["mkp.config"] = replace(app.extensions["mkp.config"], **changed)


def _open_challenges(engine) -> int:
    with read(engine) as conn:
        return conn.execute(text("SELECT count(*) FROM card_challenges")).scalar_one()


def _ask(client, address="198.51.100.7"):
    return client.post(
        "/v1/mykey/challenges", json={"purpose": "register"}, environ_base={"REMOTE_ADDR": address}
    )


# --- a refused lookup ------------------------------------------------------------------------------


def test_a_refused_lookup_leaves_no_challenge_row(mykey, street, engine):
    a1 = street["a1"]
    unregistered, expired = mykey.card(), mykey.card(expired=True)
    linked_elsewhere = mykey.card()
    mykey.register(linked_elsewhere)
    for card, code in (
        (expired, "certificate_expired"),
        (unregistered, "not_registered"),
        (linked_elsewhere, "not_linked"),
    ):
        with pytest.raises(ApiError) as refused:
            a1.lookups.lookup(card.open)
        assert refused.value.code == code
        assert _open_challenges(engine) == 0, code


def test_a_refused_show_leaves_no_challenge_row(mykey, engine):
    with pytest.raises(ApiError) as refused:
        mykey.holder.show(mykey.card().open)
    assert refused.value.code == "not_registered"
    assert _open_challenges(engine) == 0


def test_a_refused_lookups_challenge_cannot_be_answered_again(mykey, street):
    """Discarded, not merely hidden: the same challenge, answered by a good card, is refused."""
    a1 = street["a1"]
    card = mykey.card()
    mykey.register(card)
    mykey.holder.link(card.open, "A1", "789")
    challenge = a1.post(mykey.client, "/v1/terminal/mykey/challenges", {"purpose": "lookup"}).json[
        "challenge"
    ]
    stranger = mykey.card()
    refused = a1.post(
        mykey.client,
        "/v1/terminal/lookup",
        {"proof": stranger.proof("lookup", challenge, cardproof.service_action("A1"))},
    )
    assert error_code(refused) == (404, "not_registered")
    again = a1.post(
        mykey.client,
        "/v1/terminal/lookup",
        {"proof": card.proof("lookup", challenge, cardproof.service_action("A1"))},
    )
    assert error_code(again) == (409, "challenge_used")


# --- challenges asked for with no credential -------------------------------------------------------


def test_challenges_from_one_address_are_limited_per_minute(app, client, engine):
    _settings(app, challenges_per_address_minute=3)
    assert [_ask(client).status_code for _ in range(3)] == [201, 201, 201]
    refused = _ask(client)
    assert error_code(refused) == (429, "too_many_challenges")
    assert "ask again in" in refused.json["error"]["message"]
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert _open_challenges(engine) == 3
    assert _ask(client, "203.0.113.50").status_code == 201  # another address is not held up


def test_open_challenges_are_capped_for_everyone(app, client, engine, mykey, street):
    _settings(app, max_open_challenges=4)
    assert [_ask(client, f"192.0.2.{n}").status_code for n in range(4)] == [201] * 4
    refused = _ask(client, "192.0.2.99")
    assert error_code(refused) == (429, "too_many_challenges")
    assert 1 <= int(refused.headers["Retry-After"]) <= app.extensions["mkp.config"].challenge_seconds
    terminal = street["a1"].post(client, "/v1/terminal/mykey/challenges", {"purpose": "lookup"})
    assert terminal.status_code == 201  # a terminal's challenge is not an anonymous one
    assert _open_challenges(engine) == 5


def test_behind_a_proxy_the_forwarded_address_is_counted(app, client, engine):
    from server.app import create_app

    behind = create_app(
        replace(app.extensions["mkp.config"], forwarded_hops=1, challenges_per_address_minute=1)
    )
    try:
        proxied = behind.test_client()

        def ask(forwarded):
            return proxied.post(
                "/v1/mykey/challenges",
                json={"purpose": "register"},
                headers={"X-Forwarded-For": forwarded},
                environ_base={"REMOTE_ADDR": "10.0.0.1"},  # the proxy
            )

        assert ask("198.51.100.1").status_code == 201
        assert ask("198.51.100.2").status_code == 201
        assert error_code(ask("198.51.100.1")) == (429, "too_many_challenges")
    finally:
        behind.extensions["mkp.engine"].dispose()


# --- MyKey ID change tries -------------------------------------------------------------------------


def _change_id(mykey, card, new_id):
    challenge = mykey.challenge(cardproof.CHANGE_ID)
    proof = card.proof(cardproof.CHANGE_ID, challenge, cardproof.change_id_action(new_id))
    body = {"client_id": f"id-{uuid.uuid4().hex[:12]}", "new_id": new_id, "proof": proof}
    return mykey.client.post("/v1/mykey/id", json=body)


def test_mykey_id_change_tries_are_limited_per_holder(app, mykey):
    _settings(app, mykey_id_tries_hour=3)
    taken = [
        mykey.register(mykey.card(), chosen)["mykey_id"] for chosen in ("SAKURA01", "SAKURA02", "SAKURA03")
    ]
    prober, other = mykey.card(), mykey.card()
    mykey.register(prober)
    mine = mykey.register(other)["mykey_id"]
    for mykey_id in taken:
        assert error_code(_change_id(mykey, prober, mykey_id)) == (409, "mykey_taken")
    refused = _change_id(mykey, prober, "SAKURA04")  # free, but the tries are used up
    assert error_code(refused) == (429, "too_many_id_changes")
    assert "try again in 60 minutes" in refused.json["error"]["message"]
    assert 3500 <= int(refused.headers["Retry-After"]) <= 3600
    assert mykey.holder.show(prober.open)["mykey_id"] not in ("SAKURA04",)
    changed = _change_id(mykey, other, "SAKURA05")  # another holder has tries of their own
    assert changed.status_code == 200, changed.json
    assert changed.json["mykey_id"] == "SAKURA05" != mine


def _register(mykey, card, chosen):
    challenge = mykey.challenge(cardproof.REGISTER)
    proof = card.proof(cardproof.REGISTER, challenge, cardproof.register_action(chosen, None))
    body = {"client_id": f"reg-{uuid.uuid4().hex[:12]}", "mykey_id": chosen, "proof": proof}
    return mykey.client.post("/v1/mykey/register", json=body)


def test_registering_with_chosen_ids_is_limited_per_card_too(app, mykey):
    """The same probe by a card with no MyKey ID yet: a register refused as taken creates nothing,
    so it could be asked again and again."""
    _settings(app, mykey_id_tries_hour=2)
    taken = [mykey.register(mykey.card(), chosen)["mykey_id"] for chosen in ("HANA0001", "HANA0002")]
    prober = mykey.card()
    for mykey_id in taken:
        assert error_code(_register(mykey, prober, mykey_id)) == (409, "mykey_taken")
    refused = _register(mykey, prober, "HANA0003")
    assert error_code(refused) == (429, "too_many_id_changes")
    assert "Retry-After" in refused.headers
    assert _register(mykey, mykey.card(), "HANA0004").status_code == 201  # another card
