"""A resident with a card, and what opens My Page for them: an activation code, a login link."""

from __future__ import annotations

import uuid
from typing import Any

from mykey_helpers import Card, MyKeyWorld, Terminal

from mkp_core import cardproof


def new_client_id() -> str:
    return f"mp-{uuid.uuid4()}"


def activation_body(world: MyKeyWorld, terminal: Terminal, card: Card) -> dict[str, Any]:
    """What a terminal sends for the card's activation code."""
    client_id = new_client_id()
    r = terminal.post(world.client, "/v1/terminal/mykey/challenges", {"purpose": cardproof.MYPAGE_CODE})
    assert r.status_code == 201, r.json
    proof = card.proof(cardproof.MYPAGE_CODE, r.json["challenge"], cardproof.mypage_action(client_id))
    return {"client_id": client_id, "proof": proof}


def activation_reply(
    world: MyKeyWorld, terminal: Terminal, card: Card, body: dict[str, Any] | None = None
) -> Any:
    """The terminal's request for the card's activation code (the response)."""
    body = body or activation_body(world, terminal, card)
    return terminal.post(world.client, "/v1/terminal/mypage/activation-codes", body)


def activation_code(world: MyKeyWorld, terminal: Terminal, card: Card) -> str:
    r = activation_reply(world, terminal, card)
    assert r.status_code == 201, r.json
    return str(r.json["code"])


def login_link_body(world: MyKeyWorld, card: Card) -> dict[str, Any]:
    client_id = new_client_id()
    challenge = world.challenge(cardproof.MYPAGE_LOGIN)
    proof = card.proof(cardproof.MYPAGE_LOGIN, challenge, cardproof.mypage_action(client_id))
    return {"client_id": client_id, "proof": proof}


def login_link_reply(world: MyKeyWorld, card: Card, body: dict[str, Any] | None = None) -> Any:
    """The holder's own reader asking for a login link (the response)."""
    return world.post("/v1/mykey/mypage/login-links", body or login_link_body(world, card))
