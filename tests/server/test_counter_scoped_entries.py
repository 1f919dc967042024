"""An offline entry's client id belongs to the terminal that signed it: another terminal's entry
under the same id, a stolen copy, or a tampered copy (its terminal signature or card proof no
longer verifies) sent first never consumes or poisons the id, and the genuine entry is booked at
its sync. Card spends (the batch path) and paper vouchers (entry by entry). Both databases."""

from __future__ import annotations

import copy
from datetime import UTC, datetime

import pytest
from points_helpers import grant
from terminal_helpers import signed
from test_counter_api import Counter, points, verified
from voucher_offline_helpers import Desk, balance, exceptions, ledger_ok, vouchers

from mkp_core import cardproof, offline
from mkp_core.client import new_client_id


def _counter(mykey) -> Counter:
    terminal = mykey.terminal(None)
    ping = signed(mykey.client, terminal.key, terminal.terminal_id, "/v1/terminal/ping")
    return Counter(mykey, terminal, ping.json["place"])


@pytest.fixture
def desks(mykey, town) -> tuple[Counter, Counter]:
    """Two terminals of one shop."""
    return _counter(mykey), _counter(mykey)


def _holder(desk: Counter, town, amount: int):
    card = desk.world.card()
    grant(desk.world.client, town.central, desk.world.register(card)["mykey_id"], amount)
    return card


def _outcome(answer: dict) -> str:
    return answer["status"] if answer["status"] == "accepted" else answer["error"]["code"]


def test_another_terminals_entry_under_the_same_id_does_not_stop_the_genuine_one(desks, town):
    """Terminal B sends a stolen copy of terminal A's queued entry, then books its own card spend
    under the same client id: A's entry is still booked at A's sync."""
    shop, other = desks
    alice, bob = _holder(shop, town, 1000), _holder(shop, town, 1000)
    genuine = shop.entry(alice, 300, 1)
    client_id = genuine["transaction"]["client_id"]
    (stolen,) = other.sync([genuine])
    (own,) = other.sync([other.entry(bob, 200, 1, client_id=client_id)])
    (booked,) = shop.sync([genuine])
    assert _outcome(booked) == "accepted" and booked["client_id"] == client_id
    assert _outcome(stolen) == "entry_of_another_terminal"
    assert _outcome(own) == "accepted" and own["client_id"] == client_id
    assert booked["transfer_id"] != own["transfer_id"]
    assert (points(shop, alice), points(shop, bob)) == (700, 800)
    assert shop.sync([genuine]) == [booked]  # resent: the same answer, nothing booked again
    verified(shop.world)


def test_a_tampered_copy_sent_first_does_not_stop_the_genuine_entry(desks, town):
    """Copies of a genuine entry with the amount changed, sent first by its own terminal: one whose
    terminal signature no longer verifies, one re-signed by the terminal whose card proof does not.
    Both are refused (the same again when resent), and the genuine entry is booked."""
    shop, _ = desks
    alice = _holder(shop, town, 1000)
    transaction = offline.Transaction(
        terminal=shop.terminal.terminal_id,
        seq=1,
        client_id=new_client_id(),
        place=shop.place,
        at=datetime.now(UTC),
        amount=300,
    )
    proof = alice.open.prove(cardproof.OFFLINE_SPEND, transaction.client_id, transaction.action())
    genuine = offline.seal(shop.terminal.key, transaction, proof)
    unsigned = copy.deepcopy(genuine)
    unsigned["transaction"]["amount"] = 900
    resigned = offline.seal(
        shop.terminal.key,
        offline.Transaction(**{**transaction.__dict__, "amount": 900}),
        proof,
    )
    refused = shop.sync([unsigned]) + shop.sync([resigned])
    resent = shop.sync([unsigned, resigned])
    (booked,) = shop.sync([genuine])
    assert _outcome(booked) == "accepted" and booked["amount"] == 300
    assert [_outcome(a) for a in refused] == ["invalid_entry", "bad_card_signature"]
    assert resent == refused  # each copy's first refusal, kept apart from the id
    assert shop.sync([unsigned]) == [booked]  # the id is the genuine entry's from now on: nothing more
    assert booked["client_id"] == transaction.client_id
    assert points(shop, alice) == 700
    report = shop.world.client.get("/v1/offline-exceptions", headers=town.central).json["exceptions"]
    assert sorted(e["code"] for e in report) == ["bad_card_signature", "invalid_entry"]
    assert {e["client_id"] for e in report} == {transaction.client_id}
    verified(shop.world)


def test_a_tampered_voucher_entry_sent_first_does_not_stop_the_genuine_one(client, engine, vouchers_town):
    """A paper voucher's entry, its amount-bearing body changed so the terminal's signature fails,
    sent first: refused; the genuine entry is then redeemed at its sync."""
    (voucher,) = vouchers(client, vouchers_town.central)
    shop = Desk(client, vouchers_town, "yokosuka-shop")
    genuine = shop.entry(voucher["text"])
    tampered = copy.deepcopy(genuine)
    tampered["body"]["place"] = "yokosuka-museum"
    (refused,) = shop.sync(tampered)
    (redeemed,) = shop.sync(genuine)
    assert _outcome(redeemed) == "accepted" and redeemed["amount"] == 500
    assert _outcome(refused) == "invalid_entry"
    assert balance(engine, "payee:yokosuka-shop") == 500
    assert [e["code"] for e in exceptions(client, vouchers_town.central)] == [refused["error"]["code"]]
    ledger_ok(client, vouchers_town.central)


def test_a_tampered_copy_ahead_of_the_genuine_entry_in_one_sync(desks, town):
    """The copy and the genuine entry in one request, the copy first: each gets its own answer."""
    shop, _ = desks
    alice = _holder(shop, town, 1000)
    genuine = shop.entry(alice, 250, 1)
    tampered = copy.deepcopy(genuine)
    tampered["transaction"]["amount"] = 950
    answers = shop.sync([tampered, genuine])
    assert [_outcome(a) for a in answers] == ["invalid_entry", "accepted"]
    assert points(shop, alice) == 750
    verified(shop.world)
