"""A resident with a card, and what opens My Page for them: an activation code, a login link."""

from __future__ import annotations

import re
import uuid
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from mykey_helpers import Card, MyKeyWorld, Terminal
from points_helpers import YOKOSUKA

from mkp_core import cardproof

FEST = f"{YOKOSUKA}-FEST2026"


def new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4()}"


class Resident:
    def __init__(self, world: MyKeyWorld, card: Card, mykey_id: str) -> None:
        self.world, self.card, self.mykey_id = world, card, mykey_id


def coupon_codes(world: MyKeyWorld, count: int = 1) -> list[str]:
    """Fresh coupon codes of ANA, 1,000 points each (the central operator's batch)."""
    r = world.client.post(
        "/v1/partners/ANA/coupons",
        json={"client_id": new_id("batch"), "count": count, "points": 1000},
        headers=world.operators.central,
    )
    assert r.status_code == 201, r.json
    return list(r.json["codes"])


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


# --- a visitor of My Page (a browser's cookies, in this process) -------------------------------

PASSWORD = "umi no mieru machi 2026"
_TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


class Visitor:
    """One browser: its own cookies; every form sent with the CSRF token of a page it was shown."""

    def __init__(self, app: Flask) -> None:
        self.client: FlaskClient = app.test_client()

    def get(self, path: str, **kwargs: Any) -> Any:
        return self.client.get(path, **kwargs)

    def token(self) -> str:
        found = _TOKEN.search(self.client.get("/mypage/signup").text)
        assert found is not None
        return found.group(1)

    def post(self, path: str, data: dict[str, Any] | None = None, **kwargs: Any) -> Any:
        return self.client.post(path, data={"csrf_token": self.token(), **(data or {})}, **kwargs)

    def sign_up(self, code: str, login_id: str, password: str = PASSWORD) -> Any:
        step = self.post("/mypage/signup", {"code": code})
        assert step.status_code == 200, step.text
        return self.post(
            "/mypage/signup", {"code": code, "login_id": login_id, "password": password, "confirm": password}
        )

    def log_in(self, login_id: str, password: str = PASSWORD) -> Any:
        return self.post("/mypage/login", {"login_id": login_id, "password": password})

    def form_client_id(self, path: str) -> str:
        found = re.search(r'name="client_id" type="hidden" value="([^"]+)"', self.get(path).text)
        assert found is not None
        return found.group(1)
