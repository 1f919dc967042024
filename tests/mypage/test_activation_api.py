"""What opens My Page with the card: a kiosk's activation code and a login link at home, as the
terminal and the holder's reader get them. Both databases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from mykey_helpers import MyKeyWorld
from mypage_helpers import activation_body, activation_reply, login_link_body, login_link_reply, new_client_id
from sqlalchemy import Engine, select

from mkp_core import activation_code as codec
from mkp_core import cardproof
from server.db.engine import read
from server.db.tables import idempotency
from server.logins import tokens
from server.logins.tables import login_tokens


@pytest.fixture
def kiosk(mykey: MyKeyWorld):
    return mykey.terminal(None)


def stored_text(engine: Engine) -> str:
    with read(engine) as conn:
        rows = [*conn.execute(select(login_tokens)), *conn.execute(select(idempotency))]
    return repr(rows)


def test_a_kiosk_gets_a_code_for_the_cards_holder_kept_only_as_a_digest(
    mykey: MyKeyWorld, kiosk, engine: Engine
) -> None:
    card = mykey.card()
    mykey_id = mykey.register(card)["mykey_id"]
    body = activation_body(mykey, kiosk, card)
    first = activation_reply(mykey, kiosk, card, body)
    assert first.status_code == 201, first.json
    code = first.json["code"]
    assert len(code) == 11 and code[4] == code[9] == "-" and codec.normalise(code)
    assert first.json["mykey_id"] == mykey_id
    expires = datetime.fromisoformat(first.json["expires_at"])
    assert timedelta(hours=23, minutes=59) < expires - datetime.now(UTC) <= timedelta(hours=24)
    assert codec.normalise(code) not in stored_text(engine)
    again = activation_reply(mykey, kiosk, card, body)  # the answer was lost: asked again
    assert again.json["code"] == code
    with read(engine) as conn:
        assert tokens.peek_token(conn, "activation", codec.normalise(code)) is not None


def test_a_new_code_voids_the_earlier_one(mykey: MyKeyWorld, kiosk, engine: Engine) -> None:
    card = mykey.card()
    mykey.register(card)
    old = activation_reply(mykey, kiosk, card).json["code"]
    new = activation_reply(mykey, kiosk, card).json["code"]
    with read(engine) as conn:
        assert tokens.peek_token(conn, "activation", codec.normalise(old)) is None
        assert tokens.peek_token(conn, "activation", codec.normalise(new)) is not None


def test_a_suspended_or_unregistered_card_gets_no_code(mykey: MyKeyWorld, kiosk) -> None:
    stranger = mykey.card()
    assert activation_reply(mykey, kiosk, stranger).status_code == 404
    card = mykey.card()
    mykey.register(card)
    mykey.holder.suspend(card.open)
    refused = activation_reply(mykey, kiosk, card)
    assert (refused.status_code, refused.json["error"]["code"]) == (403, "mykey_suspended")


def test_a_proof_made_for_something_else_gets_no_code(mykey: MyKeyWorld, kiosk) -> None:
    card = mykey.card()
    mykey.register(card)
    client_id = new_client_id()
    r = kiosk.post(mykey.client, "/v1/terminal/mykey/challenges", {"purpose": cardproof.BALANCE})
    proof = card.proof(cardproof.BALANCE, r.json["challenge"], cardproof.mypage_action(client_id))
    refused = kiosk.post(
        mykey.client, "/v1/terminal/mypage/activation-codes", {"client_id": client_id, "proof": proof}
    )
    assert refused.status_code == 422 and refused.json["error"]["code"] == "unknown_challenge", refused.json


def test_at_home_the_card_gets_a_ten_minute_login_link(mykey: MyKeyWorld, engine: Engine) -> None:
    card = mykey.card()
    mykey.register(card)
    body = login_link_body(mykey, card)
    r = login_link_reply(mykey, card, body)
    assert r.status_code == 201, r.json
    path = r.json["path"]
    assert path.startswith("/mypage/link#") and len(path) > 50
    assert path.split("#")[1] not in stored_text(engine)
    assert login_link_reply(mykey, card, body).json["path"] == path
    expires = datetime.fromisoformat(r.json["expires_at"])
    assert expires - datetime.now(UTC) <= timedelta(minutes=10)
