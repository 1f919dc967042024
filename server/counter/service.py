"""The counter as the ledger sees it: spends, balances and refunds by a card tapped at a terminal,
the offline entries a terminal sends later, and its heartbeats. No HTTP here.

A card at a counter is proved exactly as a lookup is (:func:`server.platform.mykey.cards.prove`: the
certificate, its signature over a one-time server challenge, the request). The holder comes
from the card, the place from the terminal, so a terminal can only spend at its own place.

**A spend is taken once.** Its client id is the ledger's idempotency key. A repeat of a spend
the ledger already took (the agent never heard the answer, or died) carries a challenge that is
spent by now: it is still checked for the card's signature, then answered with the first result.
An offline entry has no server challenge at all: the card signed its client id, so the same
rule holds, and a spend that reached the ledger online before its terminal gave up and queued
it gets that first answer at sync instead of a second transfer.

**Offline entries are answered once each, for good.** Every entry received is kept in
``offline_entries`` with its answer: accepted (with its transfer) or refused with the reason
(the balance was gone, the card was revoked since): the exceptions report. Sending an entry again
gets the same answer; a refusal is never retried by the server. An entry's client id is the
terminal's own (``server.db.client_ids``: another terminal's entry under the same id is another
entry), and a refusal is kept under it only once the entry verified (:func:`kept_under`): a
stolen or tampered copy sent first never takes the id from the genuine entry. The card spends of
one sync request are booked together (:mod:`server.counter.batch`: one ledger call for the
batch), with the answers entry by entry would give.

**An entry's tap time is bounded** by the terminal's contacts (:mod:`server.counter.contacts`):
not before its last contact with nothing queued, not after the sync, within the offline window.
An entry outside them is refused and kept as an exception, never paid; each heartbeat and sync
is kept as a contact.

**A paper voucher accepted offline** (an entry of kind ``voucher``) is redeemed through
:func:`server.vouchers.service.redeem`, its conditional UPDATE included, as of the moment it was
scanned: its signature, key and dates are judged then, and that is when it was used; the place is
credited at the sync (the transfer's time), the scan's time kept beside it (``taken_at``) for
settlement. A voucher used elsewhere first (a copy, or the same voucher queued at two terminals)
is refused with ``voucher_used``, saying when and where, and kept as an exception; a voucher
under a withdrawn key, voided or unknown is refused the same way.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Row, insert, select, update

from mkp_core import cardproof, offline, signing
from mkp_core import voucher as voucher_codec
from mkp_core.cardproof import CardProof
from mkp_core.errors import Conflict, Forbidden, MkpError
from mkp_core.keyring import KeyRing
from server import ledger
from server.counter import batch, contacts
from server.counter.answers import (
    REFUSED,
    Seen,
    answer,
    answer_of_row,
    entry_row,
    keep_unverified,
    kept_under,
    raw_seq,
    refuse_another_terminals,
    require_ours,
)
from server.counter.tables import offline_entries, terminal_status
from server.db import client_ids, idempotency
from server.db.engine import chunked, insert_ignoring_conflicts, lock_key, lock_keys
from server.platform import authority
from server.platform.mykey import cards, registry
from server.platform.tables import places, terminals
from server.points import balances, holders, resident_points, spending
from server.points.spending import Spend
from server.terminals.service import get_terminal
from server.vouchers import keys as voucher_keys
from server.vouchers import service as vouchers

MAX_ENTRIES = 500  # per sync request
JST = timedelta(hours=9)


class TooManyEntries(MkpError):
    kind = "too_large"

    def __init__(self, count: int) -> None:
        super().__init__("too_many_entries", f"{count} entries in one sync; send at most {MAX_ENTRIES}")


@dataclass(frozen=True)
class CardAtCounter:
    """What every card action needs: the checks, the terminal and its place."""

    check: cards.CardCheck
    terminal_id: str

    def actor(self) -> str:
        return f"terminal:{self.terminal_id}"

    def key(self, client_id: str) -> str:
        """The terminal's client id as stored: its own namespace (``server.db.client_ids``)."""
        return client_ids.terminal_key(self.terminal_id, client_id)


def place_of(conn: Connection, terminal_id: str) -> str:
    return str(get_terminal(conn, terminal_id)["place"])


def prove_holder(
    conn: Connection,
    at: CardAtCounter,
    proof: CardProof,
    purpose: str,
    action: Mapping[str, str],
    repeat: bool,
    now: datetime,
) -> registry.MyKey:
    """The holder of the card that signed ``action`` for ``purpose`` at this terminal (``repeat``:
    the client id was answered already, so the challenge, used then, is not asked for again)."""
    card = cards.prove(
        conn, at.check, proof, purpose, action, terminal_id=at.terminal_id, now=now, challenge=not repeat
    )
    return registry.holder_of(conn, card)


# --- online ------------------------------------------------------------------------------------


def spend(
    conn: Connection,
    at: CardAtCounter,
    proof: CardProof,
    client_id: str,
    amount: int | None,
    item: str | None,
    quantity: int,
    point_code: str | None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """The card's holder spends points at the terminal's place; idempotent by ``client_id``.

    The reply adds ``balance_after``: what the holder can still spend of those points, which the
    counter shows and prints (a repeat tells it as it is at the repeat)."""
    now = now or datetime.now(UTC)
    place = place_of(conn, at.terminal_id)
    action = cardproof.spend_action(client_id, place, amount, item, quantity, point_code)
    key = at.key(client_id)
    holder = prove_holder(conn, at, proof, cardproof.SPEND, action, idempotency.answered(conn, key), now)
    card = authority.HolderCard(holder.number, at.terminal_id)
    request = Spend(key, place, amount, point_code, item, quantity)
    reply = resident_points.spend(conn, holder, card, request, now)
    left = [
        h.spendable
        for h in balances.holdings(conn, holder.wallet, now)
        if h.point_code == reply["point_code"]
    ]
    return {**reply, "balance_after": sum(left)}


def balance(
    conn: Connection, at: CardAtCounter, proof: CardProof, now: datetime | None = None
) -> dict[str, Any]:
    """The card's holder's points by code, with what expires next. Nothing is written."""
    now = now or datetime.now(UTC)
    holder = prove_holder(conn, at, proof, cardproof.BALANCE, {}, False, now)
    authority.authorize(
        authority.Action.READ_BALANCES, authority.HolderCard(holder.number, at.terminal_id), holder
    )
    held = sorted(balances.holdings(conn, holder.wallet, now), key=lambda h: h.expiry_key)
    return {
        "mykey_id": holder.mykey_id,
        "status": holder.status,
        "balances": [h.to_dict() for h in held],
        "total": sum(h.spendable for h in held),
    }


def refund(
    conn: Connection,
    at: CardAtCounter,
    proof: CardProof,
    client_id: str,
    transfer_id: int,
    refund_days: int,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Give back a spend made at this place today (Japan time) by the card that paid for it."""
    now = now or datetime.now(UTC)
    place = place_of(conn, at.terminal_id)
    action = cardproof.refund_action(transfer_id, client_id)
    repeat = idempotency.answered(conn, at.key(client_id))
    holder = prove_holder(conn, at, proof, cardproof.REFUND, action, repeat, now)
    if not repeat:
        original = ledger.get_transfer(conn, transfer_id)
        if original.credit != spending.payee(place):
            raise Forbidden("not_spent_here", f"transfer {transfer_id} was not a spend at this place")
        if original.debit != holder.wallet:
            raise Forbidden("not_this_card", f"transfer {transfer_id} was paid with another card")
        if (original.created_at + JST).date() != (now + JST).date():
            raise Conflict(
                "refund_not_today",
                f"transfer {transfer_id} was made on {(original.created_at + JST):%Y-%m-%d}: the counter "
                "refunds today's spends; ask the municipal office for older ones",
            )
    card = authority.HolderCard(holder.number, at.terminal_id)
    return spending.refund(conn, transfer_id, at.key(client_id), card, refund_days, now=now)


# --- offline entries -----------------------------------------------------------------------------


def sync(
    conn: Connection,
    at: CardAtCounter,
    terminal_key: signing.PublicKey,
    entries: Iterable[Any],
    now: datetime | None = None,
    max_offline_hours: int = 24,
) -> list[dict[str, Any]]:
    """Answer each offline entry once (see the module docstring); the answers, in order.

    Card spends not seen before are booked as one batch (:mod:`server.counter.batch`); the rest
    (vouchers, entries that cannot be read, the second of a client id sent twice in one request:
    it gets the first one's answer) and any spend the batch leaves run entry by entry, each in
    its own savepoint: a refusal undoes that entry only and is kept. Spends and vouchers touch no account in common but the place's, which
    only receives, so answering the batch first changes no answer. Each entry's tap time is judged
    against the terminal's contacts before this sync, which is kept as one.
    """
    items = list(entries)
    if len(items) > MAX_ENTRIES:
        raise TooManyEntries(len(items))
    now = now or datetime.now(UTC)
    place = place_of(conn, at.terminal_id)
    bounds = contacts.Bounds.of(conn, at.terminal_id, now, max_offline_hours)
    contacts.record(conn, at.terminal_id, now, queue_clear=False)
    context = spending.SpendContext(now)  # one place, one moment: its rules are read once
    rings = _Rings.of(conn) if any(_is_voucher(e) for e in items) else None
    answers, later = _answer_known(conn, at, items)
    firsts = {key: i for i, key in reversed(later.items()) if key is not None}
    spends = [
        (i, key, items[i]) for key, i in sorted(firsts.items(), key=lambda x: x[1]) if _is_spend(items[i])
    ]
    terminal = batch.Terminal(at.check, at.terminal_id, terminal_key, place, bounds)
    booked, _ = batch.book_spends(conn, terminal, spends, now, context)
    answers.update(booked)
    for i in sorted(set(later) - set(booked)):
        answers[i] = _sync_entry(conn, terminal, items[i], now, context, rings)
    return [answers[i] for i in range(len(items))]


def _answer_known(
    conn: Connection, at: CardAtCounter, items: list[Any]
) -> tuple[dict[int, Any], dict[int, str | None]]:
    """Hold every entry's key (its client id in the terminal's namespace, in one order) and answer
    those answered before: (answers by index, the key of each entry still to answer)."""
    keys = [_entry_key(at, e) for e in items]
    named = sorted({k for k in keys if k is not None})
    lock_keys(conn, [f"offline:{k}" for k in named])
    prior: dict[str, Row[Any]] = {}
    for part in chunked(named):
        query = select(offline_entries).where(offline_entries.c.client_id.in_(part))
        prior.update((row.client_id, row) for row in conn.execute(query))
    answers: dict[int, Any] = {}
    later: dict[int, str | None] = {}
    for i, key in enumerate(keys):
        if key is None or key not in prior:
            later[i] = key
        else:
            answers[i] = answer_of_row(prior[key]._mapping)
    return answers, later


def _entry_key(at: CardAtCounter, entry: Any) -> str | None:
    """An entry's client id as its answer is kept: in the namespace of the terminal that sent it."""
    client_id = offline.client_id_of(entry)
    return None if client_id is None else at.key(client_id)


@dataclass(frozen=True)
class _Rings:
    """The voucher keys, read once a sync: as they judge (withdrawn ones refused), and all of them
    (to name a withdrawn key's voucher in the exceptions report)."""

    judging: KeyRing
    every: KeyRing

    @classmethod
    def of(cls, conn: Connection) -> _Rings:
        ring = voucher_keys.ring(conn)
        return cls(ring, KeyRing.from_dict({**ring.to_dict(), "withdrawn": []}))


def _is_voucher(entry: Any) -> bool:
    return _kind(entry) == offline.VOUCHER


def _is_spend(entry: Any) -> bool:
    return _kind(entry) == offline.SPEND


def _kind(entry: Any) -> str | None:
    try:
        return offline.kind_of(entry)
    except offline.EntryError:
        return None


def _sync_entry(
    conn: Connection,
    terminal: batch.Terminal,
    entry: Any,
    now: datetime,
    context: spending.SpendContext,
    rings: _Rings | None,
) -> dict[str, Any]:
    at = CardAtCounter(terminal.check, terminal.terminal_id)
    key = _entry_key(at, entry)
    if key is not None:
        lock_key(conn, f"offline:{key}")
        prior = conn.execute(select(offline_entries).where(offline_entries.c.client_id == key)).first()
        if prior is not None:
            return answer_of_row(prior._mapping)
    seen = Seen(seq=raw_seq(entry))
    try:
        with conn.begin_nested():
            if offline.kind_of(entry) == offline.VOUCHER:
                reply = _redeem_voucher(conn, terminal, entry, now, rings, seen)
            else:
                reply = _spend_entry(conn, terminal, entry, now, context, seen)
    except MkpError as e:
        if key is None:
            return answer(None, None, REFUSED, code=e.code, message=e.message)
        return _keep(conn, at, kept_under(key, seen, entry), seen, now, None, e)
    return _keep(conn, at, key or "", seen, now, reply, None)


def _spend_entry(
    conn: Connection,
    terminal: batch.Terminal,
    entry: Any,
    now: datetime,
    context: spending.SpendContext,
    seen: Seen,
) -> dict[str, Any]:
    """A card spend taken offline (a version 1 entry): the card's consent, then the ledger's spend."""
    refuse_another_terminals(entry, terminal.terminal_id)
    transaction, proof = offline.open_entry(entry, terminal.key)
    seen.read(transaction)
    require_ours(transaction, terminal.terminal_id, terminal.place)
    terminal.bounds.check(transaction.at)
    card = cards.prove(
        conn, terminal.check, proof, cardproof.OFFLINE_SPEND, transaction.action(), now=now, challenge=False
    )
    seen.verified = True
    holder = registry.holder_of(conn, card)
    seen.holder = holder.number
    allowed = authority.authorize(
        authority.Action.SPEND, authority.HolderCard(holder.number, terminal.terminal_id), holder
    )
    request = Spend(
        client_ids.terminal_key(terminal.terminal_id, transaction.client_id),
        terminal.place,
        transaction.amount,
        transaction.point_code,
        transaction.item,
        transaction.quantity,
    )
    return spending.spend(conn, holder, request, allowed.actor, now=now, context=context)


def _redeem_voucher(
    conn: Connection,
    terminal: batch.Terminal,
    entry: Any,
    now: datetime,
    rings: _Rings | None,
    seen: Seen,
) -> dict[str, Any]:
    """A paper voucher accepted offline: redeemed once, as of when it was scanned, credited now.

    The redemption is the very one an online request with this client id would have made (same
    scope, same body): a voucher whose online request reached the server before the terminal gave
    up and queued it gets that first answer, not ``voucher_used``.
    """
    refuse_another_terminals(entry, terminal.terminal_id)
    redemption = offline.open_voucher_entry(entry, terminal.key)
    scanned = redemption.at.astimezone(UTC)  # kept in UTC: SQLite would drop another offset
    seen.kind, seen.seq, seen.place, seen.at = offline.VOUCHER, redemption.seq, redemption.place, scanned
    require_ours(redemption, terminal.terminal_id, terminal.place)
    seen.verified = True  # this terminal's own entry (its key signed it), whatever the voucher proves
    assert rings is not None
    ring = rings.judging
    _note_voucher(redemption, rings.every, seen)
    terminal.bounds.check(redemption.at)  # the report names the voucher it refuses
    place, actor = terminal.place, terminal.actor()
    request = vouchers.Redemption(place, actor, text=redemption.voucher)
    reply, _ = idempotency.once(
        conn,
        client_ids.terminal_key(terminal.terminal_id, redemption.client_id),
        f"vouchers.redeem:{terminal.terminal_id}",
        {"voucher": redemption.voucher, "serial": None},
        lambda: vouchers.redeem(conn, request, ring, actor, now=now, used_at=scanned),
    )
    return {"id": reply["transfer_id"], "amount": reply["amount"]}


def _note_voucher(redemption: offline.VoucherRedemption, every: KeyRing, seen: Seen) -> None:
    """The voucher's serial and amount for the report, if its signature verifies under any key we
    ever had (a withdrawn key's voucher too: it is refused, and the report says which)."""
    try:
        shown = voucher_codec.decode_voucher(redemption.voucher, every, now=redemption.at)
    except voucher_codec.VoucherError as e:
        if e.voucher is None:
            return  # the redemption below refuses it with the reason
        shown = e.voucher
    seen.amount, seen.voucher = shown.amount, shown.serial.hex()


def _keep(
    conn: Connection,
    at: CardAtCounter,
    key: str,
    seen: Seen,
    now: datetime,
    reply: dict[str, Any] | None,
    error: MkpError | None,
) -> dict[str, Any]:
    row = entry_row(at.terminal_id, key, seen, now, reply, error)
    if not seen.verified:  # the same unverifiable entry again: its first refusal stands, and is given
        return keep_unverified(conn, [row]).get(key) or answer_of_row(row)
    conn.execute(insert(offline_entries).values(**row))
    return answer_of_row(row)


def exceptions(
    conn: Connection,
    municipality: str | None = None,
    place: str | None = None,
    since: datetime | None = None,
    limit: int = 1000,
) -> list[dict[str, Any]]:
    """Offline entries the ledger refused, newest first: for the operator and the place to settle."""
    query = (
        select(offline_entries, places.c.name.label("place_name"), places.c.municipality_code)
        .join(terminals, terminals.c.id == offline_entries.c.terminal_id)
        .join(places, places.c.id == terminals.c.place_id)
        .where(offline_entries.c.status == REFUSED)
        .order_by(offline_entries.c.received_at.desc(), offline_entries.c.seq.desc())
        .limit(limit)
    )
    if municipality is not None:
        query = query.where(places.c.municipality_code == municipality)
    if place is not None:
        query = query.where(terminals.c.place_id == place)
    if since is not None:
        query = query.where(offline_entries.c.received_at >= since)
    rows = conn.execute(query).all()
    ids = holders.mykey_ids(conn, [r.mykey for r in rows if r.mykey is not None])
    return [
        {
            "client_id": client_ids.as_sent(r.client_id),
            "terminal_id": r.terminal_id,
            "seq": r.seq,
            "place": r.place_id or "",
            "place_name": r.place_name,
            "municipality": r.municipality_code,
            "amount": r.amount,
            "item": r.item,
            "taken_at": r.taken_at,
            "received_at": r.received_at,
            "mykey_id": ids.get(r.mykey) if r.mykey is not None else None,
            "code": r.code,
            "message": r.message,
            "kind": r.kind,
            "voucher": voucher_codec.format_serial(bytes.fromhex(r.voucher_serial))
            if r.voucher_serial
            else None,
        }
        for r in rows
    ]


# --- heartbeats ----------------------------------------------------------------------------------

STATUS_FIELDS = (
    "version",
    "reader",
    "printer",
    "queue_pending",
    "queue_amount",
    "queue_oldest",
    "crl_this_update",
)


def heartbeat(
    conn: Connection, terminal_id: str, status: Mapping[str, Any], now: datetime | None = None
) -> None:
    """Keep the terminal's last status (one row per terminal, replaced each time), and the contact
    (:mod:`server.counter.contacts`: nothing pending in its queue bounds its later entries)."""
    now = now or datetime.now(UTC)
    contacts.record(conn, terminal_id, now, queue_clear=not status.get("queue_pending"))
    row = {"terminal_id": terminal_id, "seen_at": now}
    row.update({name: status.get(name) for name in STATUS_FIELDS})
    row["queue_pending"] = row["queue_pending"] or 0
    row["queue_amount"] = row["queue_amount"] or 0
    changed = conn.execute(
        update(terminal_status).where(terminal_status.c.terminal_id == terminal_id).values(**row)
    ).rowcount
    if not changed:
        insert_ignoring_conflicts(conn, terminal_status, [row])
        conn.execute(
            update(terminal_status).where(terminal_status.c.terminal_id == terminal_id).values(**row)
        )


def statuses(conn: Connection, municipality: str | None = None) -> list[dict[str, Any]]:
    """Every terminal with its last heartbeat (None: never heard from)."""
    query = (
        select(terminals.c.id, terminals.c.name, terminals.c.status, terminals.c.place_id, terminal_status)
        .join(places, places.c.id == terminals.c.place_id)
        .outerjoin(terminal_status, terminal_status.c.terminal_id == terminals.c.id)
        .order_by(terminals.c.id)
    )
    if municipality is not None:
        query = query.where(places.c.municipality_code == municipality)
    out = []
    for r in conn.execute(query):
        m = r._mapping
        out.append(
            {
                "terminal_id": m["id"],
                "name": m["name"],
                "status": m["status"],
                "place": m["place_id"],
                "seen_at": m["seen_at"],
                **{name: m[name] for name in STATUS_FIELDS},
            }
        )
    return out
