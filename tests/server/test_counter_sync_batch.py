"""A terminal's sync books its card spends as one batch (server/counter/batch.py): the answers are
the ones entry by entry would give. Entries of one holder apply in their order (one that overdraws
is refused, the earlier ones stand, a later one that fits is taken); good, refused, resent, voucher
and already-taken entries mix in one request; two syncs of one batch at once take it once; and when
the ledger judges an entry otherwise than the batch foresaw, the batch goes entry by entry.
Both databases; the entries are made as the agent makes them (tests/server/test_counter_api.py).
"""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from points_helpers import DEPARTMENT, YOKOSUKA, grant, post
from terminal_helpers import signed
from test_counter_api import Counter, points, verified
from voucher_offline_helpers import vouchers

from mkp_core import cardproof, offline
from server.counter import service
from server.db.engine import run_write, write
from server.platform.mykey.card_checks import card_check
from server.platform.operators.service import Operator
from server.platform.terminal_auth import terminal_public_key
from server.points import balances, rules
from server.points.departments import grants
from server.points.expiry_policy import ExpiryPolicy

CENTRAL = Operator(1, "central", None)


@pytest.fixture
def desk(mykey, town) -> Counter:
    terminal = mykey.terminal(None)
    ping = signed(mykey.client, terminal.key, terminal.terminal_id, "/v1/terminal/ping")
    return Counter(mykey, terminal, ping.json["place"])


def holder(desk: Counter, town, amount: int):
    """A registered card holding ``amount`` of 横須賀市's points."""
    card = desk.world.card()
    grant(desk.world.client, town.central, desk.world.register(card)["mykey_id"], amount)
    return card


def statuses(answers: list[dict]) -> list[str]:
    return [a["status"] if a["status"] == "accepted" else a["error"]["code"] for a in answers]


def test_entries_of_one_holder_apply_in_order_and_the_one_that_overdraws_is_refused(desk, town):
    alice, bob = holder(desk, town, 1000), holder(desk, town, 1000)
    entries = [
        desk.entry(alice, 400, 1),
        desk.entry(bob, 900, 2),
        desk.entry(alice, 500, 3),
        desk.entry(alice, 300, 4),  # 100 left: refused, and it takes nothing
        desk.entry(alice, 100, 5),  # what is left still pays this one
    ]
    answers = desk.sync(entries)
    assert statuses(answers) == ["accepted", "accepted", "accepted", "insufficient_points", "accepted"]
    assert [a["seq"] for a in answers] == [1, 2, 3, 4, 5]
    assert "holds 100" in answers[3]["error"]["message"]
    assert (points(desk, alice), points(desk, bob)) == (0, 100)
    assert len({a["transfer_id"] for a in answers if a["status"] == "accepted"}) == 4
    report = desk.world.client.get("/v1/offline-exceptions", headers=town.central).json["exceptions"]
    assert [(e["seq"], e["code"], e["amount"]) for e in report] == [(4, "insufficient_points", 300)]
    assert desk.sync(entries) == answers  # the answers were lost: the same ones, nothing booked again
    assert (points(desk, alice), points(desk, bob)) == (0, 100)
    verified(desk.world)


def test_a_batch_mixing_good_refused_resent_taken_and_voucher_entries(desk, town, client):
    post(
        client, town.central, f"/v1/point-codes/{YOKOSUKA}/rules", {"vouchers": True, "place_kinds": ["shop"]}
    )
    alice, revoked = holder(desk, town, 1000), holder(desk, town, 1000)
    resent = desk.entry(alice, 100, 1)
    (first,) = desk.sync([resent])
    online = desk.spend_body(alice, 150)
    taken = desk.post("/spend", online).json  # taken online; the terminal never heard and queued it too
    desk.world.ca.revoke(x509.load_der_x509_certificate(revoked.certificate).serial_number)
    desk.world.upload_crl()
    twice = desk.entry(alice, 50, 7)
    (voucher,) = vouchers(client, town.central)
    batch = [
        desk.entry(alice, 200, 2),
        resent,
        desk.entry(alice, 150, 3, client_id=online["client_id"]),
        voucher_entry(desk, voucher["text"], 4),
        desk.entry(revoked, 100, 5),
        desk.entry(alice, 10_000, 6),
        twice,
        twice,
        {"transaction": "nonsense"},
        desk.entry(desk.world.card(), 100, 8),  # a card never registered
    ]
    answers = desk.sync(batch)
    assert statuses(answers) == [
        "accepted",
        "accepted",
        "accepted",
        "accepted",
        "certificate_revoked",
        "insufficient_points",
        "accepted",
        "accepted",
        "invalid_entry",
        "not_registered",
    ]
    assert answers[1] == first and answers[2]["transfer_id"] == taken["id"]
    assert answers[3]["amount"] == 500 and answers[6] == answers[7]
    assert points(desk, alice) == 1000 - 100 - 150 - 200 - 50
    report = desk.world.client.get("/v1/offline-exceptions", headers=town.central).json["exceptions"]
    assert sorted((e["seq"], e["code"]) for e in report) == [
        (5, "certificate_revoked"),
        (6, "insufficient_points"),
        (8, "not_registered"),
    ]
    assert desk.sync(batch) == answers
    verified(desk.world)
    again = desk.post("/spend", desk.spend_body(alice, 200, client_id=batch[0]["transaction"]["client_id"]))
    assert (again.status_code, again.json["id"]) == (201, answers[0]["transfer_id"])  # taken once
    assert again.json["lots"] and again.json["place"] == desk.place  # the spend's own answer
    assert points(desk, alice) == 500


def voucher_entry(desk: Counter, text: str, seq: int) -> dict:
    redemption = offline.VoucherRedemption(
        terminal=desk.terminal.terminal_id,
        seq=seq,
        client_id=f"{desk.terminal.terminal_id}-{uuid.uuid4()}",
        place=desk.place,
        at=datetime.now(UTC),
        voucher=text,
    )
    return offline.seal_voucher(desk.terminal.key, redemption)


def test_two_syncs_of_one_batch_at_once_take_it_once(desk, town, app, engine):
    alice = holder(desk, town, 1000)
    entries = [desk.entry(alice, 100, seq) for seq in range(1, 9)] + [desk.entry(alice, 500, 9)]
    with app.app_context():
        at = service.CardAtCounter(card_check(), desk.terminal.terminal_id)
    start, results = threading.Barrier(2), []

    def sync() -> None:
        def work(conn):
            return service.sync(conn, at, terminal_public_key(conn, at.terminal_id), entries)

        start.wait()
        results.append(run_write(engine, work))

    threads = [threading.Thread(target=sync) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(results) == 2 and results[0] == results[1]
    assert statuses(results[0]) == ["accepted"] * 8 + ["insufficient_points"]
    assert points(desk, alice) == 200
    verified(desk.world)


def test_when_the_ledger_judges_otherwise_the_batch_goes_entry_by_entry(desk, town, monkeypatch):
    """The batch's forecast is wrong here on purpose (every spend said to fit): the ledger refuses
    the one that overdraws, the batch is undone and every entry answered one by one, the same."""
    alice = holder(desk, town, 1000)
    monkeypatch.setattr(balances.Held, "take", lambda self, amount, now: True)
    one_by_one = []
    entry_by_entry = service._sync_entry
    monkeypatch.setattr(service, "_sync_entry", lambda *a: one_by_one.append(a) or entry_by_entry(*a))
    entries = [desk.entry(alice, 600, 1), desk.entry(alice, 600, 2), desk.entry(alice, 400, 3)]
    answers = desk.sync(entries)
    assert statuses(answers) == ["accepted", "insufficient_points", "accepted"]
    assert len(one_by_one) == 3
    assert points(desk, alice) == 0
    assert desk.sync(entries) == answers
    verified(desk.world)


def test_a_refused_entry_sent_again_after_the_points_came_back_is_still_refused(desk, town):
    alice = holder(desk, town, 100)
    entries = [desk.entry(alice, 80, 1), desk.entry(alice, 80, 2)]
    answers = desk.sync(entries)
    assert statuses(answers) == ["accepted", "insufficient_points"]
    grant(desk.world.client, town.central, desk.balance(alice)["mykey_id"], 1000)
    assert desk.sync(entries + [desk.entry(alice, 80, 3)])[:2] == answers  # never retried
    assert points(desk, alice) == 1100 - 160


def test_the_batch_foresees_the_ledger_through_expired_and_expiring_lots(desk, town, engine, monkeypatch):
    """Lots expired (600), expiring (300) and never expiring (200): the batch decides each spend
    against the lots as the ledger takes them (expired ones never), so it books them all at once."""
    card = desk.world.card()
    mykey_id = desk.world.register(card)["mykey_id"]
    now = datetime.now(UTC)
    for days_ago, policy, amount in ((10, ExpiryPolicy("days", 1), 600), (9, ExpiryPolicy("days", 30), 300)):
        at = now - timedelta(days=days_ago)
        give_dated(engine, mykey_id, amount, at, policy)
    give_dated(engine, mykey_id, 200, now - timedelta(days=8), ExpiryPolicy())
    one_by_one = []
    entry_by_entry = service._sync_entry
    monkeypatch.setattr(service, "_sync_entry", lambda *a: one_by_one.append(a) or entry_by_entry(*a))
    answers = desk.sync(
        [
            desk.entry(card, 250, 1),
            desk.entry(card, 200, 2),
            desk.entry(card, 100, 3),
            desk.entry(card, 50, 4),
        ]
    )
    assert [a["status"] for a in answers] == ["accepted", "accepted", "refused", "accepted"]
    assert answers[2]["error"]["code"] in ("insufficient_points", "points_expired")
    assert one_by_one == []  # the ledger agreed with every forecast: no entry went one by one
    held = desk.balance(card)
    assert (held["total"], held["balances"][0]["balance"]) == (0, 600)  # the expired lot untouched
    verified(desk.world)


def give_dated(engine, mykey_id: str, amount: int, at: datetime, policy: ExpiryPolicy) -> None:
    """Points granted at ``at`` under ``policy`` (the expiry rule set just before)."""
    change = rules.RuleChange(at, ("museum", "shop"), (), policy, 1, 5000, False)
    with write(engine) as conn:
        rules.add_rule(conn, CENTRAL, YOKOSUKA, change, now=at)
        grants.grant(
            conn,
            CENTRAL,
            DEPARTMENT,
            f"g-{uuid.uuid4()}",
            grants.GrantAsked(mykey_id, amount, "childcare"),
            now=at,
        )


def test_the_batch_answers_as_entry_by_entry_does(desk, town, client, monkeypatch):
    """The same kinds of entries (price-list items, a named point code, bad amounts, an overdraw)
    for two holders alike: booked as a batch for one, entry by entry for the other; the same answers."""
    r = client.post(
        f"/v1/places/{desk.place}/items",
        json={"client_id": f"i-{uuid.uuid4()}", "code": "ippan", "name": "一般", "price": 300},
        headers=town.central,
    )
    assert r.status_code in (200, 201), r.json

    def entries(card) -> list[dict]:
        return [
            entry_of(desk, card, 1, amount=None, item="ippan", quantity=2),
            entry_of(desk, card, 2, amount=None, item="nope"),
            entry_of(desk, card, 3, amount=100, item="ippan"),
            entry_of(desk, card, 4, amount=None),
            entry_of(desk, card, 5, amount=100, point_code=YOKOSUKA),
            entry_of(desk, card, 6, amount=500),
            entry_of(desk, card, 7, amount=300),
        ]

    def shape(answers: list[dict]) -> list[tuple]:
        return [(a["seq"], a["status"], a.get("amount"), a.get("error", {}).get("code")) for a in answers]

    batched = desk.sync(entries(holder(desk, town, 1000)))
    monkeypatch.setattr(
        "server.counter.batch.book_spends",
        lambda conn, terminal, items, now, context: ({}, [i for i, _, _ in items]),
    )
    one_by_one = desk.sync(entries(holder(desk, town, 1000)))
    assert shape(batched) == shape(one_by_one)
    assert shape(batched) == [
        (1, "accepted", 600, None),
        (2, "refused", None, "unknown_item"),
        (3, "refused", None, "amount_mismatch"),
        (4, "refused", None, "missing_amount"),
        (5, "accepted", 100, None),
        (6, "refused", None, "insufficient_points"),
        (7, "accepted", 300, None),
    ]
    verified(desk.world)


def entry_of(desk: Counter, card, seq: int, **fields) -> dict:
    """An offline spend of any shape the counter can take (an item, a quantity, a point code)."""
    transaction = offline.Transaction(
        terminal=desk.terminal.terminal_id,
        seq=seq,
        client_id=f"t-{uuid.uuid4()}",
        place=desk.place,
        at=datetime.now(UTC),
        **fields,
    )
    proof = card.open.prove(cardproof.OFFLINE_SPEND, transaction.client_id, transaction.action())
    return offline.seal(desk.terminal.key, transaction, proof)
