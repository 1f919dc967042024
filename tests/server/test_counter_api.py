"""The counter's server side: a card tapped at a terminal spends, shows its balance and is refunded;
offline entries sync exactly once; refusals land in the exceptions report; heartbeats are kept.

Cards are virtual My Number cards of the test JPKI CA (tests/server/mykey_helpers.py); every
request is signed by an enrolled terminal. Both databases.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from mkp_testing import invoke
from mykey_helpers import Card, MyKeyWorld, Terminal
from points_helpers import grant
from terminal_helpers import error_code, signed

from mkp_admin import cli as admin_cli
from mkp_core import cardproof, offline, signing
from mkp_core.cardproof import CardProof
from server.counter import service
from server.db.engine import write


@dataclass
class Counter:
    """One terminal at a shop of 横須賀市, and what it sends for a card."""

    world: MyKeyWorld
    terminal: Terminal
    place: str

    def post(self, path: str, body: dict):
        return self.terminal.post(self.world.client, f"/v1/terminal{path}", body)

    def challenge(self, purpose: str) -> str:
        r = self.post("/mykey/challenges", {"purpose": purpose})
        assert r.status_code == 201, r.json
        return r.json["challenge"]

    def spend_body(self, card: Card, amount: int | None = 300, client_id: str | None = None, **kw) -> dict:
        client_id = client_id or new_client_id()
        item, quantity, code = kw.get("item"), kw.get("quantity", 1), kw.get("point_code")
        action = cardproof.spend_action(client_id, self.place, amount, item, quantity, code)
        proof = card.proof(cardproof.SPEND, self.challenge(cardproof.SPEND), action)
        body = {"client_id": client_id, "proof": proof, "quantity": quantity}
        body.update({k: v for k, v in (("amount", amount), ("item", item), ("point_code", code)) if v})
        return body

    def spend(self, card: Card, amount: int = 300) -> dict:
        r = self.post("/spend", self.spend_body(card, amount))
        assert r.status_code == 201, r.json
        return r.json

    def balance(self, card: Card) -> dict:
        proof = card.proof(cardproof.BALANCE, self.challenge(cardproof.BALANCE), {})
        r = self.post("/balance", {"proof": proof})
        assert r.status_code == 200, r.json
        return r.json

    def refund_body(self, card: Card, transfer_id: int) -> dict:
        client_id = new_client_id()
        action = cardproof.refund_action(transfer_id, client_id)
        proof = card.proof(cardproof.REFUND, self.challenge(cardproof.REFUND), action)
        return {"client_id": client_id, "transfer_id": transfer_id, "proof": proof}

    def entry(self, card: Card, amount: int, seq: int, client_id: str | None = None, **kw) -> dict:
        """An offline spend as the agent queues it: signed by the card, then by the terminal."""
        transaction = offline.Transaction(
            terminal=kw.get("terminal", self.terminal.terminal_id),
            seq=seq,
            client_id=client_id or new_client_id(),
            place=kw.get("place", self.place),
            at=datetime.now(UTC),
            amount=amount,
        )
        proof: CardProof = card.open.prove(
            cardproof.OFFLINE_SPEND, transaction.client_id, transaction.action()
        )
        return offline.seal(kw.get("key", self.terminal.key), transaction, proof)

    def sync(self, entries: list[dict]) -> list[dict]:
        r = self.post("/sync", {"entries": entries})
        assert r.status_code == 200, r.json
        return r.json["results"]


def new_client_id() -> str:
    return f"t-{uuid.uuid4()}"


def points(counter: Counter, card: Card) -> int:
    return counter.balance(card)["total"]


def verified(world: MyKeyWorld) -> dict:
    report = world.client.get("/v1/ledger/verify", headers=world.operators.central).json
    assert report["ok"], report
    return report


@pytest.fixture
def counter(mykey: MyKeyWorld, town) -> Counter:
    terminal = mykey.terminal(None)
    ping = signed(mykey.client, terminal.key, terminal.terminal_id, "/v1/terminal/ping")
    return Counter(mykey, terminal, ping.json["place"])


@pytest.fixture
def card(counter: Counter, town) -> Card:
    """A registered card holding 1,000 of 横須賀市's points."""
    card = counter.world.card()
    mykey_id = counter.world.register(card)["mykey_id"]
    grant(counter.world.client, town.central, mykey_id, 1000)
    return card


def test_a_card_spends_here_once_however_often_the_request_is_sent(counter, card):
    body = counter.spend_body(card, 300)
    first = counter.post("/spend", body)
    assert first.status_code == 201, first.json
    assert first.json["amount"] == 300 and first.json["place"] == counter.place
    again = counter.post("/spend", body)  # the answer was lost: the same request, its challenge spent
    assert again.status_code == 201 and again.json["id"] == first.json["id"]
    assert points(counter, card) == 700
    verified(counter.world)


def test_the_balance_shows_what_expires_next(counter, card):
    reply = counter.balance(card)
    assert reply["total"] == 1000
    assert [b["point_code"] for b in reply["balances"]] == ["142018"]


@pytest.mark.parametrize(
    "change,code",
    [
        ({"amount": 900}, "bad_card_signature"),  # the card signed 300
        ({"point_code": "011002"}, "bad_card_signature"),
        ({"quantity": 2}, "bad_card_signature"),
    ],
)
def test_a_spend_the_card_did_not_sign_is_refused(counter, card, change, code):
    body = {**counter.spend_body(card, 300), **change}
    assert error_code(counter.post("/spend", body)) == (401, code)
    assert points(counter, card) == 1000


def test_a_spend_over_the_balance_or_by_an_unregistered_card_takes_nothing(counter, card):
    assert error_code(counter.post("/spend", counter.spend_body(card, 1001))) == (409, "insufficient_points")
    stranger = counter.world.card()
    assert error_code(counter.post("/spend", counter.spend_body(stranger, 100))) == (404, "not_registered")
    assert points(counter, card) == 1000
    verified(counter.world)


def test_a_used_challenge_cannot_carry_another_spend(counter, card):
    body = counter.spend_body(card, 100)
    assert counter.post("/spend", body).status_code == 201
    other = {**body, "client_id": new_client_id()}  # the card's signature covers the client id
    assert error_code(counter.post("/spend", other))[1] in ("challenge_used", "bad_card_signature")
    assert points(counter, card) == 900


def test_a_refund_today_gives_the_points_back_to_the_card_that_paid(counter, card):
    spent = counter.spend(card, 400)
    other = counter.world.card()
    counter.world.register(other)
    assert error_code(counter.post("/refund", counter.refund_body(other, spent["id"]))) == (
        403,
        "not_this_card",
    )
    body = counter.refund_body(card, spent["id"])
    r = counter.post("/refund", body)
    assert r.status_code == 201, r.json
    assert counter.post("/refund", body).json["id"] == r.json["id"]  # a repeat: the first answer
    assert points(counter, card) == 1000
    verified(counter.world)


def test_a_refund_of_a_spend_elsewhere_is_refused(counter, card):
    spent = counter.spend(card, 100)
    elsewhere = counter.world.terminal(None)
    ping = signed(counter.world.client, elsewhere.key, elsewhere.terminal_id, "/v1/terminal/ping")
    there = Counter(counter.world, elsewhere, ping.json["place"])
    assert error_code(there.post("/refund", there.refund_body(card, spent["id"]))) == (403, "not_spent_here")
    assert points(counter, card) == 900


# --- offline entries --------------------------------------------------------------------------------


def test_offline_entries_are_taken_once_however_often_they_are_sent(counter, card):
    entries = [counter.entry(card, 100, seq) for seq in (1, 2, 3)]
    first = counter.sync(entries)
    assert [a["status"] for a in first] == ["accepted"] * 3
    assert counter.sync(entries) == first  # the answer was lost: the batch again
    assert points(counter, card) == 700
    verified(counter.world)


def test_an_entry_past_the_balance_is_refused_for_good_and_reported(counter, card, town):
    answers = counter.sync([counter.entry(card, 800, 1), counter.entry(card, 300, 2)])
    assert [a["status"] for a in answers] == ["accepted", "refused"]
    assert answers[1]["error"]["code"] == "insufficient_points"
    assert points(counter, card) == 200
    report = counter.world.client.get("/v1/offline-exceptions", headers=town.central).json["exceptions"]
    assert [(e["seq"], e["code"], e["amount"], e["place"]) for e in report] == [
        (2, "insufficient_points", 300, counter.place)
    ]
    scoped = counter.world.client.get("/v1/offline-exceptions", headers=town.sapporo).json["exceptions"]
    assert scoped == []  # Sapporo's desk sees none of Yokosuka's
    grant(counter.world.client, town.central, counter.balance(card)["mykey_id"], 1000)
    assert counter.sync([counter.entry(card, 300, 2, client_id=answers[1]["client_id"])])[0] == answers[1]


def test_a_spend_that_reached_the_ledger_and_was_queued_too_is_taken_once(counter, card):
    body = counter.spend_body(card, 250)
    online = counter.post("/spend", body).json  # taken, but the terminal never heard and queued it
    (answer,) = counter.sync([counter.entry(card, 250, 1, client_id=body["client_id"])])
    assert answer["status"] == "accepted" and answer["transfer_id"] == online["id"]
    assert points(counter, card) == 750


def test_a_card_revoked_since_is_refused_at_sync(counter, card):
    entry = counter.entry(card, 100, 1)
    counter.world.ca.revoke(x509.load_der_x509_certificate(card.certificate).serial_number)
    counter.world.upload_crl()
    (answer,) = counter.sync([entry])
    assert answer["error"]["code"] == "certificate_revoked"


def test_entries_the_terminal_did_not_sign_are_refused(counter, card):
    tampered = counter.entry(card, 100, 1)
    tampered["transaction"]["amount"] = 10
    stranger_key = signing.generate_terminal_key()
    other = counter.world.terminal(None)
    answers = counter.sync(
        [
            tampered,
            counter.entry(card, 100, 2, key=stranger_key),
            counter.entry(card, 100, 3, terminal=other.terminal_id),
            counter.entry(card, 100, 4, place="yokosuka-museum"),
            {"transaction": "nonsense"},
            {},
        ]
    )
    codes = [a["error"]["code"] for a in answers]
    assert codes == [
        "invalid_entry",
        "invalid_entry",
        "entry_of_another_terminal",
        "wrong_place",
        "invalid_entry",
        "invalid_entry",
    ]
    assert points(counter, card) == 1000
    verified(counter.world)


@pytest.mark.parametrize(
    "body,status,code",
    [
        ({"entries": []}, 422, "too_short"),
        ({"entries": "all of them"}, 422, "invalid_type"),
        ({}, 422, "missing_field"),
    ],
)
def test_bad_sync_bodies(counter, body, status, code):
    r = counter.post("/sync", body)
    assert r.status_code == status, r.json
    assert r.json["error"]["code"]  # a coded refusal, never a server error


def test_too_many_entries_in_one_batch(counter, card):
    entry = counter.entry(card, 1, 1)
    r = counter.post("/sync", {"entries": [entry] * 501})
    assert r.status_code == 422
    assert points(counter, card) == 1000


def test_a_heartbeat_is_what_the_operator_sees_of_a_terminal(counter, town):
    beat = {
        "version": "1.2.0",
        "reader": "ACS ACR39U",
        "printer": "ok",
        "queue_pending": 2,
        "queue_amount": 500,
    }
    r = counter.post("/heartbeat", beat)
    assert r.status_code == 200, r.json
    rows = counter.world.client.get("/v1/terminal-status", headers=town.central).json["terminals"]
    mine = next(t for t in rows if t["terminal_id"] == counter.terminal.terminal_id)
    assert (mine["version"], mine["queue_pending"], mine["queue_amount"]) == ("1.2.0", 2, 500)
    assert counter.post("/heartbeat", {**beat, "queue_pending": 0}).status_code == 200
    rows = counter.world.client.get("/v1/terminal-status", headers=town.central).json["terminals"]
    assert next(t for t in rows if t["terminal_id"] == counter.terminal.terminal_id)["queue_pending"] == 0


def test_the_config_carries_the_price_list(counter, town):
    r = counter.world.client.post(
        f"/v1/places/{counter.place}/items",
        json={"client_id": new_client_id(), "code": "ippan", "name": "一般", "price": 500},
        headers=town.central,
    )
    assert r.status_code in (200, 201), r.json
    config = signed(
        counter.world.client, counter.terminal.key, counter.terminal.terminal_id, "/v1/terminal/config"
    )
    assert config.json["price_list"] == [{"code": "ippan", "name": "一般", "price": 500}]


def test_mkp_admin_lists_exceptions_and_terminal_status(counter, card, town):
    counter.sync([counter.entry(card, 5000, 1)])
    counter.post("/heartbeat", {"version": "1.2.0", "queue_pending": 0})
    env = {
        "MKP_SERVER": counter.world.url,
        "MKP_TOKEN": town.central["Authorization"].split()[1],
        "MKP_ADMIN_CONFIG": "/nonexistent/none.toml",
    }
    listed = invoke(admin_cli.main, "exceptions", "list", "--json", env=env)
    assert listed.exit_code == 0, listed.stderr
    (row,) = json.loads(listed.stdout)["exceptions"]
    assert (row["code"], row["amount"], row["seq"]) == ("insufficient_points", 5000, 1)
    text = invoke(admin_cli.main, "exceptions", "list", "--place", counter.place, env=env)
    assert "insufficient_points" in text.stdout and "5,000" in text.stdout
    status = invoke(admin_cli.main, "terminal", "status", "--json", env=env)
    assert status.exit_code == 0, status.stderr
    mine = [
        t for t in json.loads(status.stdout)["terminals"] if t["terminal_id"] == counter.terminal.terminal_id
    ]
    assert mine[0]["version"] == "1.2.0"
    bad = invoke(admin_cli.main, "exceptions", "list", "--since", "yesterday", env=env)
    assert bad.exit_code == 1 and "error" in bad.stderr


def test_the_heartbeat_announces_the_connection_test(counter, town):
    assert counter.post("/heartbeat", {"queue_pending": 0}).json["conntest"] is None
    starts = (datetime.now(UTC) + timedelta(minutes=5)).isoformat()
    r = counter.world.client.post(
        "/v1/conntests",
        json={"client_id": new_client_id(), "starts_at": starts, "window_seconds": 60},
        headers=town.central,
    )
    assert r.status_code == 201, r.json
    announced = counter.post("/heartbeat", {"queue_pending": 0}).json["conntest"]
    assert announced["test_id"] == r.json["id"] and announced["window_seconds"] == 60


def test_an_offline_spend_tapped_in_a_closed_month_lands_in_the_next_one(counter, card, town, engine):
    """Settlement: tapped on 30 November, synced after November was closed, it is booked
    when it reached the server; November's statement stays as it was closed."""
    client, central = counter.world.client, town.central
    r = client.post(
        "/v1/settlement/close", json={"client_id": new_client_id(), "period": "2026-11"}, headers=central
    )
    assert r.status_code == 201, r.json
    november = client.get(
        "/v1/settlement/statements?period=2026-11&municipality=142018", headers=central
    ).json
    tapped = datetime(2026, 11, 30, 14, 0, tzinfo=UTC)  # 23:00 JST
    with write(engine) as conn:  # its last contact, nothing queued, an hour before the tap
        service.heartbeat(conn, counter.terminal.terminal_id, {}, now=tapped - timedelta(hours=1))
    transaction = offline.Transaction(
        terminal=counter.terminal.terminal_id, seq=1, client_id=new_client_id(), place=counter.place,
        at=tapped, amount=250,
    )  # fmt: skip
    proof = card.open.prove(cardproof.OFFLINE_SPEND, transaction.client_id, transaction.action())
    entry = offline.seal(counter.terminal.key, transaction, proof)
    (answer,) = counter.sync([entry])
    assert answer["status"] == "accepted", answer
    again = client.get("/v1/settlement/statements?period=2026-11&municipality=142018", headers=central).json
    assert again == november
    now = datetime.now(UTC) + timedelta(hours=9)
    current = client.get(
        f"/v1/settlement/statements?period={now:%Y-%m}&municipality=142018", headers=central
    ).json
    places = {
        x["counterparty_id"]: x["points"]
        for x in current["statements"][0]["lines"]
        if x["counterparty_kind"] == "place"
    }
    assert places[counter.place] == 250
    verified(counter.world)


def test_an_entry_whose_client_id_breaks_the_rules_is_refused_and_the_rest_go(counter, card):
    """A client id is 8-64 of A-Z a-z 0-9 . _ : - everywhere (mkp_core.ids): an entry signed with
    a longer or odder one is refused as invalid, and the entries beside it are taken."""
    too_long = counter.entry(card, 100, 1, client_id="t-" + "x" * 98)
    odd = counter.entry(card, 100, 2, client_id="t-with spaces/and slashes")
    good = counter.entry(card, 100, 3)
    answers = counter.sync([too_long, odd, good])
    assert [a.get("error", {}).get("code") for a in answers[:2]] == ["invalid_entry", "invalid_entry"]
    assert answers[2]["status"] == "accepted"
    assert points(counter, card) == 900
    verified(counter.world)
