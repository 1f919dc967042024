"""A resident's own event support, reward claim and transit exchange with their card at a terminal:
the card signs what and how much, so nothing else can be taken with its proof; a repeat gets the
first answer; the ledger says the terminal did it. Both databases."""

from __future__ import annotations

import uuid

import pytest
from mykey_helpers import Card, MyKeyWorld, Terminal
from points_helpers import YOKOSUKA, festival_resident
from sqlalchemy import select
from terminal_helpers import error_code

from mkp_core import cardproof
from server.db.engine import read
from server.ledger.tables import transfers

FEST = f"{YOKOSUKA}-FEST2026"


def new_client_id() -> str:
    return f"r-{uuid.uuid4()}"


class Kiosk:
    """A terminal of 横須賀市 and the requests it sends for a card in its reader."""

    def __init__(self, world: MyKeyWorld, terminal: Terminal) -> None:
        self.world, self.terminal = world, terminal

    def post(self, path: str, body: dict):
        return self.terminal.post(self.world.client, f"/v1/terminal{path}", body)

    def proof(self, card: Card, purpose: str, action: dict[str, str]) -> dict[str, str]:
        r = self.post("/mykey/challenges", {"purpose": purpose})
        assert r.status_code == 201, r.json
        return card.proof(purpose, r.json["challenge"], action)

    def support_body(
        self, card: Card, amount: int, nickname: str | None = None, signed: dict | None = None
    ) -> dict:
        """``signed``: what the card signs instead of what is asked (a forged request)."""
        client_id = new_client_id()
        asked = {"point_code": FEST, "amount": amount, "nickname": nickname}
        action = cardproof.support_action(client_id, **{**asked, **(signed or {})})
        body = {"client_id": client_id, "proof": self.proof(card, cardproof.SUPPORT, action), **asked}
        return {k: v for k, v in body.items() if v is not None}

    def claim_body(self, card: Card, reward: str, points: int, signed_points: int | None = None) -> dict:
        client_id = new_client_id()
        action = cardproof.reward_action(client_id, reward, signed_points or points)
        proof = self.proof(card, cardproof.REWARD, action)
        return {"client_id": client_id, "proof": proof, "reward": reward, "points": points}

    def transit_body(self, card: Card, amount: int, signed_amount: int | None = None) -> dict:
        client_id = new_client_id()
        action = cardproof.transit_action(client_id, "keikyu-bus", signed_amount or amount, None)
        proof = self.proof(card, cardproof.TRANSIT, action)
        return {"client_id": client_id, "proof": proof, "place": "keikyu-bus", "amount": amount}


@pytest.fixture
def kiosk(mykey: MyKeyWorld, town) -> Kiosk:
    return Kiosk(mykey, mykey.terminal(None))


@pytest.fixture
def resident(kiosk: Kiosk, town, engine) -> tuple[Card, str]:
    """A Yokosuka resident with 1,000 of 横須賀市's points, 500 of the festival's, and a PASMO linked
    at the bus company; the festival's pool and a reward are open."""
    return festival_resident(kiosk.world, town.central, engine)


def held(world: MyKeyWorld, central, mykey_id: str) -> dict[str, int]:
    data = world.client.get(f"/v1/mykeys/{mykey_id}/balances", headers=central).json["balances"]
    return {b["point_code"]: b["balance"] for b in data}


def actor_of(engine, transfer_id: int) -> str:
    with read(engine) as conn:
        return conn.execute(select(transfers.c.actor).where(transfers.c.id == transfer_id)).scalar_one()


def test_a_resident_supports_an_event_with_their_card(kiosk, resident, town, engine):
    card, mykey_id = resident
    body = kiosk.support_body(card, 200, "はなこ")
    first = kiosk.post("/supports", body)
    assert first.status_code == 201, first.json
    assert (first.json["amount"], first.json["mykey_id"], first.json["nickname"]) == (200, mykey_id, "はなこ")
    again = kiosk.post("/supports", body)  # the answer was lost: the same request
    assert again.status_code == 201 and again.json["id"] == first.json["id"]
    assert held(kiosk.world, town.central, mykey_id)[FEST] == 300
    assert actor_of(engine, first.json["id"]) == f"terminal:{kiosk.terminal.terminal_id}"
    report = kiosk.world.client.get(f"/v1/events/{FEST}/report", headers=town.central).json
    assert [(s["mykey_id"], s["amount"]) for s in report["supporters"]] == [(mykey_id, 200)]


def test_a_resident_claims_a_reward_at_the_price_their_card_signed(kiosk, resident, town):
    card, mykey_id = resident
    claimed = kiosk.post("/reward-claims", kiosk.claim_body(card, "hanabi", 300))
    assert claimed.status_code == 201, claimed.json
    assert (claimed.json["claim_number"], claimed.json["points"]) == ("HANABI-00001", 300)
    assert held(kiosk.world, town.central, mykey_id)[YOKOSUKA] == 700


def test_a_resident_sends_points_to_their_transit_card(kiosk, resident, town):
    card, mykey_id = resident
    sent = kiosk.post("/transit-exchanges", kiosk.transit_body(card, 400))
    assert sent.status_code == 201, sent.json
    assert (sent.json["card_number"], sent.json["amount"], sent.json["kind"]) == (
        "PASMO-0042",
        400,
        "transit",
    )
    assert held(kiosk.world, town.central, mykey_id)[YOKOSUKA] == 600


def test_a_proof_for_one_amount_or_price_takes_nothing_else(kiosk, resident, town):
    """The card signed 10: a request for 400 with its proof is refused, and so is a claim at a
    price other than the reward's, whatever the card signed."""
    card, mykey_id = resident
    more = kiosk.support_body(card, 400, signed={"amount": 10})
    assert error_code(kiosk.post("/supports", more)) == (401, "bad_card_signature")
    assert error_code(kiosk.post("/transit-exchanges", kiosk.transit_body(card, 400, signed_amount=10))) == (
        401,
        "bad_card_signature",
    )
    assert error_code(
        kiosk.post("/reward-claims", kiosk.claim_body(card, "hanabi", 300, signed_points=30))
    ) == (
        401,
        "bad_card_signature",
    )
    cheaper = kiosk.post("/reward-claims", kiosk.claim_body(card, "hanabi", 30))
    assert error_code(cheaper) == (409, "price_changed")
    assert held(kiosk.world, town.central, mykey_id) == {YOKOSUKA: 1000, FEST: 500}


def test_a_card_with_no_mykey_id_takes_nothing(kiosk, resident, town):
    stranger = kiosk.world.card()
    assert error_code(kiosk.post("/supports", kiosk.support_body(stranger, 10))) == (404, "not_registered")
    _, mykey_id = resident
    assert held(kiosk.world, town.central, mykey_id) == {YOKOSUKA: 1000, FEST: 500}
