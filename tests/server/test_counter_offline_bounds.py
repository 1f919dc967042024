"""An offline entry's tap time is bounded by the terminal's contacts with the server: not before
its last contact with nothing queued, not after the sync, within the offline window after the
latest contact before it (server/counter/contacts.py). Outside them the entry is refused, kept in
the exceptions report, and never paid. Both databases.

Times are moved by the server's own clock (``now=`` on the heartbeat and the sync), the entries
made as the agent makes them: voucher entries (no card, so nothing else depends on the clock)
and, at the present time over HTTP, card spends.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from points_helpers import grant
from sqlalchemy import select
from terminal_helpers import signed
from test_counter_api import Counter, new_client_id, points, verified
from voucher_offline_helpers import Desk, balance, exceptions, ledger_ok, vouchers

from mkp_core import cardproof, offline, signing
from server.counter import service as counter
from server.counter.tables import terminal_contacts
from server.db.engine import read, write
from server.platform.mykey.card_checks import card_check

SHOP = "yokosuka-shop"


def contact(engine, shop: Desk, at: datetime, pending: int = 0) -> None:
    """A heartbeat of ``shop`` at ``at`` (server time), with ``pending`` entries in its queue."""
    with write(engine) as conn:
        counter.heartbeat(conn, shop.tid, {"queue_pending": pending}, now=at)


def sync_at(engine, shop: Desk, entries: list[dict], at: datetime) -> list[dict]:
    """``shop``'s sync of ``entries`` reaching the server at ``at``; the answers."""
    with write(engine) as conn:
        terminal = counter.CardAtCounter(None, shop.tid)  # type: ignore[arg-type]  # voucher entries: no card
        key = signing.load_public_key(signing.public_key_pem(shop.key))
        return counter.sync(conn, terminal, key, entries, now=at)  # the default window: 24 h


def codes(answers: list[dict]) -> list[str]:
    return [a["status"] if a["status"] == "accepted" else a["error"]["code"] for a in answers]


def test_a_voucher_expired_days_ago_is_not_paid_by_backdating_its_scan(client, engine, vouchers_town):
    """The attack: a voucher that expired five days ago, scanned at the shop with the terminal's
    clock set back to when it was still good, synced while the terminal was in touch all along.
    Refused, kept as an exception with the time it claimed, the voucher not paid."""
    central = vouchers_town.central
    last_day = (datetime.now(UTC) + timedelta(days=1)).date().isoformat()
    (voucher,) = vouchers(client, central, amount=500, last_day=last_day)
    shop = Desk(client, vouchers_town, SHOP)
    claimed = datetime.now(UTC).replace(microsecond=0)  # good then
    later = datetime.now(UTC) + timedelta(days=6)  # five days after its last day
    contact(engine, shop, later - timedelta(minutes=10))  # online, nothing queued
    (answer,) = sync_at(engine, shop, [shop.entry(voucher["text"], at=claimed)], later)
    assert answer["status"] == "refused"
    assert answer["error"]["code"] == "taken_before_last_contact", answer
    assert "set back" in answer["error"]["message"]
    assert balance(engine, f"payee:{SHOP}") == 0
    assert client.get(f"/v1/vouchers/{voucher['serial']}", headers=central).json["status"] == "printed"
    (kept,) = exceptions(client, central)
    assert (kept["code"], kept["kind"], kept["voucher"]) == (
        "taken_before_last_contact",
        "voucher",
        voucher["serial"],
    )
    assert datetime.fromisoformat(kept["taken_at"]) == claimed
    ledger_ok(client, central)


def test_entries_queued_across_a_sync_that_failed_half_way_are_taken(client, engine, vouchers_town):
    """The last contact before an entry is the last one with nothing queued: syncs and heartbeats
    while entries wait do not move it, so the rest of a sync that failed half-way is taken; an
    entry claiming a time before that contact is refused."""
    central = vouchers_town.central
    good = vouchers(client, central, count=3, amount=100)
    (backdated,) = vouchers(client, central, amount=100)
    shop = Desk(client, vouchers_town, SHOP)
    t0 = datetime.now(UTC) + timedelta(minutes=1)
    contact(engine, shop, t0)
    queued = [shop.entry(v["text"], at=t0 + timedelta(hours=i + 1)) for i, v in enumerate(good)]
    assert codes(sync_at(engine, shop, queued[:1], t0 + timedelta(hours=4))) == ["accepted"]
    contact(engine, shop, t0 + timedelta(hours=4, minutes=1), pending=2)  # the rest still wait
    early = shop.entry(backdated["text"], at=t0 - timedelta(hours=1))
    answers = sync_at(engine, shop, [*queued[1:], early], t0 + timedelta(hours=6))
    assert codes(answers) == ["accepted", "accepted", "taken_before_last_contact"]
    assert balance(engine, f"payee:{SHOP}") == 300
    contact(engine, shop, t0 + timedelta(hours=6, minutes=1))  # now nothing waits
    late = shop.entry(backdated["text"], at=t0 + timedelta(hours=5))  # before that contact
    assert codes(sync_at(engine, shop, [late], t0 + timedelta(hours=7))) == ["taken_before_last_contact"]
    ledger_ok(client, central)


def test_an_entry_long_after_the_last_contact_before_it_is_refused(client, engine, vouchers_town):
    """The offline window (24 h) runs from the latest contact before the entry: 30 h after a
    contact with none since is refused; 10 h after a later contact (entries still waiting) is taken."""
    central = vouchers_town.central
    first, second = vouchers(client, central, count=2, amount=100)
    shop = Desk(client, vouchers_town, SHOP)
    t0 = datetime.now(UTC) + timedelta(minutes=1)
    contact(engine, shop, t0)
    (answer,) = sync_at(
        engine, shop, [shop.entry(first["text"], at=t0 + timedelta(hours=30))], t0 + timedelta(hours=31)
    )
    assert answer["error"]["code"] == "offline_too_long" and "24 h" in answer["error"]["message"], answer
    other = Desk(client, vouchers_town, SHOP)
    contact(engine, other, t0)
    contact(engine, other, t0 + timedelta(hours=20), pending=1)
    entry = other.entry(second["text"], at=t0 + timedelta(hours=30))
    assert codes(sync_at(engine, other, [entry], t0 + timedelta(hours=31))) == ["accepted"]
    ledger_ok(client, central)


def test_the_clocks_have_five_minutes_either_way(client, engine, vouchers_town):
    central = vouchers_town.central
    texts = [v["text"] for v in vouchers(client, central, count=4, amount=100)]
    shop = Desk(client, vouchers_town, SHOP)
    t0 = datetime.now(UTC) + timedelta(minutes=1)
    contact(engine, shop, t0)
    sync = t0 + timedelta(hours=1)
    entries = [
        shop.entry(texts[0], at=t0 - timedelta(minutes=4)),
        shop.entry(texts[1], at=t0 - timedelta(minutes=6)),
        shop.entry(texts[2], at=sync + timedelta(minutes=4)),
        shop.entry(texts[3], at=sync + timedelta(minutes=6)),
    ]
    answers = sync_at(engine, shop, entries, sync)
    assert codes(answers) == ["accepted", "taken_before_last_contact", "accepted", "taken_after_sync"]
    assert balance(engine, f"payee:{SHOP}") == 200
    ledger_ok(client, central)


def _spend_at(desk: Counter, card, amount: int, seq: int, at: datetime) -> dict:
    transaction = offline.Transaction(
        terminal=desk.terminal.terminal_id,
        seq=seq,
        client_id=new_client_id(),
        place=desk.place,
        at=at,
        amount=amount,
    )
    proof = card.open.prove(cardproof.OFFLINE_SPEND, transaction.client_id, transaction.action())
    return offline.seal(desk.terminal.key, transaction, proof)


def test_card_spends_dated_1999_2099_and_9999_are_refused_and_never_paid(mykey, town):
    """Spends signed with times in 1999, 2099 and 9999 were taken. Refused now, each with its
    code and kept as an exception; the spend beside them is taken."""
    terminal = mykey.terminal(None)
    ping = signed(mykey.client, terminal.key, terminal.terminal_id, "/v1/terminal/ping")
    desk = Counter(mykey, terminal, ping.json["place"])
    card = mykey.card()
    grant(mykey.client, town.central, mykey.register(card)["mykey_id"], 1000)
    r = desk.post("/heartbeat", {"queue_pending": 0})
    assert r.status_code == 200, r.json
    entries = [
        _spend_at(desk, card, 100, 1, datetime(1999, 6, 1, 12, tzinfo=UTC)),
        _spend_at(desk, card, 100, 2, datetime(2099, 6, 1, 12, tzinfo=UTC)),
        _spend_at(desk, card, 100, 3, datetime(9999, 6, 1, 12, tzinfo=UTC)),
        _spend_at(desk, card, 100, 4, datetime.now(UTC)),
    ]
    answers = desk.sync(entries)
    assert codes(answers) == ["taken_before_last_contact", "taken_after_sync", "invalid_entry", "accepted"]
    assert "out of range" in answers[2]["error"]["message"]
    assert points(desk, card) == 900
    report = mykey.client.get("/v1/offline-exceptions", headers=town.central)
    assert report.status_code == 200, report.json
    kept = {e["seq"]: (e["code"], e["taken_at"]) for e in report.json["exceptions"]}
    assert kept == {
        1: ("taken_before_last_contact", "1999-06-01T12:00:00+00:00"),
        2: ("taken_after_sync", "2099-06-01T12:00:00+00:00"),
        3: ("invalid_entry", None),
    }
    assert desk.sync(entries) == answers  # answered once, for good
    assert points(desk, card) == 900
    verified(mykey)


def test_a_card_spend_refused_for_its_time_is_answered_again_as_it_was_first(mykey, town):
    """Sent again at a later sync, a card spend refused for its time (before its card proof is
    read) gets its first answer word for word, not a new judgement with the new sync's time."""
    terminal = mykey.terminal(None)
    ping = signed(mykey.client, terminal.key, terminal.terminal_id, "/v1/terminal/ping")
    desk = Counter(mykey, terminal, ping.json["place"])
    card = mykey.card()
    grant(mykey.client, town.central, mykey.register(card)["mykey_id"], 1000)
    assert desk.post("/heartbeat", {"queue_pending": 0}).status_code == 200
    entries = [_spend_at(desk, card, 100, 1, datetime.now(UTC) + timedelta(days=2))]
    first = desk.sync(entries)
    assert codes(first) == ["taken_after_sync"]
    with mykey.app.app_context():
        at = counter.CardAtCounter(card_check(), terminal.terminal_id)
    key = signing.load_public_key(signing.public_key_pem(terminal.key))
    for later in (timedelta(minutes=7), timedelta(hours=3)):
        with write(mykey.app.extensions["mkp.engine"]) as conn:
            again = counter.sync(conn, at, key, entries, now=datetime.now(UTC) + later)
        assert again == first
    assert points(desk, card) == 1000
    verified(mykey)


def test_a_terminal_keeps_few_contact_rows(client, engine, vouchers_town):
    """A clear heartbeat replaces the terminal's contacts; while entries wait, one row per five
    minutes, and none older than a week."""
    shop = Desk(client, vouchers_town, SHOP)
    t0 = datetime.now(UTC)
    for minute in range(0, 60):
        contact(engine, shop, t0 + timedelta(minutes=minute))
    assert _contact_rows(engine, shop) == [(t0 + timedelta(minutes=59), True)]
    for minute in range(60, 120):
        contact(engine, shop, t0 + timedelta(minutes=minute), pending=1)
    rows = _contact_rows(engine, shop)
    assert len(rows) == 1 + 12 and rows[0] == (t0 + timedelta(minutes=59), True)
    contact(engine, shop, t0 + timedelta(days=8), pending=1)
    assert _contact_rows(engine, shop) == [
        (t0 + timedelta(minutes=59), True),
        (t0 + timedelta(days=8), False),
    ]


def _contact_rows(engine, shop: Desk) -> list[tuple[datetime, bool]]:
    with read(engine) as conn:
        query = (
            select(terminal_contacts.c.at, terminal_contacts.c.queue_clear)
            .where(terminal_contacts.c.terminal_id == shop.tid)
            .order_by(terminal_contacts.c.at)
        )
        return [(at, clear) for at, clear in conn.execute(query)]


def test_a_scan_time_with_another_offset_is_kept_as_the_same_instant(client, engine, vouchers_town):
    """A terminal may write its clock with Japan's offset: SQLite kept the clock reading and
    dropped the offset (nine hours off in the voucher's record and the exceptions report)."""
    central = vouchers_town.central
    (voucher,) = vouchers(client, central, amount=100)
    shop = Desk(client, vouchers_town, SHOP)
    scanned = (datetime.now(UTC) + timedelta(minutes=1)).replace(microsecond=0)
    (answer,) = shop.sync(shop.entry(voucher["text"], at=scanned.astimezone(timezone(timedelta(hours=9)))))
    assert answer["status"] == "accepted", answer
    shown = client.get(f"/v1/vouchers/{voucher['serial']}", headers=central).json
    assert datetime.fromisoformat(shown["redeemed_at"]) == scanned
