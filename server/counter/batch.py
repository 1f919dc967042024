"""The card spends of one sync request, booked as one batch: the same answers as entry by entry.

Entry by entry, a spend costs a savepoint and some fourteen statements (its idempotency record,
the holder's holdings, the point codes, the accounts, the lots, the transfer, its lot moves, the
kept answer). A terminal back online sends hundreds of entries at a time, so here, in steps:

1. **verify** every entry (the terminal's signature, its tap time within the terminal's contacts'
   bounds, the card's proof over its client id, the card's holder): CPU and reads only; a refusal
   is kept as an exception, as before (an entry that does not verify, under a key of its own
   content: ``answers.kept_under``);
2. **hold** every client id (``idempotency:`` locks, in one order): an entry whose client id
   the ledger already answered (the online spend that was also queued) is left to the
   entry-by-entry path, which gives it that first answer;
3. **decide** each spend in the entries' order by :func:`server.points.spending.decide` (rules,
   amount, the point code picked), against each holder's holdings read once and less what the
   batch's earlier spends took (:class:`server.points.balances.Held`): a spend that overdraws
   is refused while the earlier ones stand;
4. **book** them all with one :func:`server.ledger.create_transfers` call, inside a savepoint;
   the ledger decides in order too. Should it judge any entry otherwise than step 3 did, the
   savepoint is rolled back and every entry of the batch goes entry by entry: the ledger, never
   this module's forecast, has the last word;
5. **keep** the spends' idempotency records and the ``offline_entries`` answers in bulk.

All of it runs in the sync's one transaction: a crash leaves the whole batch, or none of it.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, select

from mkp_core import cardproof, offline, signing
from mkp_core.errors import MkpError
from server import ledger
from server.counter import contacts
from server.counter.answers import (
    Seen,
    answer_of_row,
    entry_row,
    keep_unverified,
    kept_under,
    raw_seq,
    refuse_another_terminals,
    require_ours,
)
from server.counter.tables import offline_entries
from server.db import idempotency
from server.db.client_ids import terminal_key
from server.db.engine import chunked
from server.ledger.lots import moves_of_many
from server.ledger.tables import transfers
from server.platform import authority
from server.platform.crls.service import PinnedCrls
from server.platform.mykey import cards, registry
from server.platform.mykey.cards import Card, CardCheck
from server.points import balances, spending
from server.points.spending import Spend

log = logging.getLogger("mkp.server")


@dataclass
class _Entry:
    """A card spend entry on its way through the steps."""

    index: int
    key: str  # the entry's client id in its terminal's namespace: its answer is kept under it
    seen: Seen
    request: Spend | None = None
    card: Card | None = None
    holder: registry.MyKey | None = None
    decided: spending.Decided | None = None
    fits: bool = False  # step 3's forecast: the ledger will take it
    reply: dict[str, Any] | None = None
    error: MkpError | None = None


@dataclass(frozen=True)
class Terminal:
    """The terminal whose entries these are, as step 1 checks them."""

    check: CardCheck
    terminal_id: str
    key: signing.PublicKey
    place: str
    bounds: contacts.Bounds

    def actor(self) -> str:
        return f"terminal:{self.terminal_id}"


class _Diverged(Exception):
    """The ledger judged an entry otherwise than the forecast: the batch goes entry by entry."""


def book_spends(
    conn: Connection,
    terminal: Terminal,
    items: Sequence[tuple[int, str, Any]],
    now: datetime,
    context: spending.SpendContext,
) -> tuple[dict[int, dict[str, Any]], list[int]]:
    """Answer the card spend entries ``items`` (index, key, entry; keys, the client ids in the
    terminal's namespace, not seen before and held by the caller): (answers by index, indices left
    to the entry-by-entry path)."""
    if not items:
        return {}, []
    terminal = replace(terminal, check=replace(terminal.check, crls=PinnedCrls(terminal.check.crls, conn)))
    entries = [_verify(conn, terminal, i, key, entry, now) for i, key, entry in items]
    _find_holders(conn, entries)
    _allow(terminal, entries)
    verified = [e for e in entries if e.error is None]
    known = _answered_before(conn, [e for e in verified if e.request is not None])
    batch = [e for e in verified if e.request is not None and e.request.client_id not in known]
    left = sorted(e.index for e in verified if e.request is not None and e.request.client_id in known)
    _decide(conn, batch, now, context)
    try:
        with conn.begin_nested():
            _book(conn, terminal, batch, now)
    except _Diverged as diverged:
        log.warning(
            "sync of terminal %s: the ledger judged entry %s otherwise: entry by entry",
            terminal.terminal_id,
            diverged,
        )
        return {}, sorted(e.index for e in verified)
    done = [e for e in entries if e.request is None or e.request.client_id not in known]
    return _keep(conn, terminal.terminal_id, done, now), left


def _verify(conn: Connection, terminal: Terminal, index: int, key: str, entry: Any, now: datetime) -> _Entry:
    """Step 1: the terminal's signature and the card's consent; nothing written. An entry that does
    not verify is refused under a key of its own content, never under ``key``."""
    out = _Entry(index, key, Seen(seq=raw_seq(entry)))
    try:
        refuse_another_terminals(entry, terminal.terminal_id)
        transaction, proof = offline.open_entry(entry, terminal.key)
        out.seen.read(transaction)
        require_ours(transaction, terminal.terminal_id, terminal.place)
        terminal.bounds.check(transaction.at)
        out.card = cards.prove(
            conn,
            terminal.check,
            proof,
            cardproof.OFFLINE_SPEND,
            transaction.action(),
            now=now,
            challenge=False,
        )
    except MkpError as e:
        out.error, out.key = e, kept_under(key, out.seen, entry)
        return out
    out.seen.verified = True
    out.request = Spend(
        terminal_key(terminal.terminal_id, transaction.client_id),
        terminal.place,
        transaction.amount,
        transaction.point_code,
        transaction.item,
        transaction.quantity,
    )
    return out


def _allow(terminal: Terminal, entries: list[_Entry]) -> None:
    """Step 1, checked: each card spends its own holder's points at this terminal (the authority's
    rule, as every spend asks it; the batch books them under the terminal's name)."""
    for e in entries:
        if e.holder is None or e.error is not None:
            continue
        try:
            card = authority.HolderCard(e.holder.number, terminal.terminal_id)
            authority.authorize(authority.Action.SPEND, card, e.holder)
        except MkpError as error:
            e.error, e.request = error, None


def _find_holders(conn: Connection, entries: list[_Entry]) -> None:
    """Step 1, the end: each card's holder, every card of the batch in one query."""
    found = registry.holders_of(conn, [e.card.sha256 for e in entries if e.card is not None])
    for e in entries:
        if e.card is None or e.error is not None:
            continue
        holder = found[e.card.sha256]
        if isinstance(holder, MkpError):
            e.error, e.request = holder, None
        else:
            e.holder, e.seen.holder = holder, holder.number


def _answered_before(conn: Connection, entries: list[_Entry]) -> set[str]:
    """Step 2: hold the spends' client ids; those the ledger took already (online, or by another
    way of spending): their first answer is the entry-by-entry path's to give."""
    client_ids = [e.request.client_id for e in entries if e.request is not None]
    known = idempotency.answered_among(conn, client_ids)
    for part in chunked(sorted(set(client_ids) - known)):
        known.update(
            conn.execute(select(transfers.c.client_id).where(transfers.c.client_id.in_(part))).scalars()
        )
    return known


def _holdings(accounts: list[balances.Held], now: datetime) -> list[balances.Holding]:
    return [h.holding(now) for h in accounts]


def _decide(conn: Connection, batch: list[_Entry], now: datetime, context: spending.SpendContext) -> None:
    """Step 3: each spend judged in order against what its holder holds after the earlier ones."""
    held = balances.held_by(conn, sorted({e.holder.wallet for e in batch if e.holder is not None}))
    for e in batch:
        assert e.holder is not None and e.request is not None
        accounts = held[e.holder.wallet]
        try:
            e.decided = spending.decide(
                conn,
                e.holder,
                e.request,
                None,
                "spend",
                context,
                functools.partial(_holdings, accounts, now),
            )
        except MkpError as error:
            e.error = error
            continue
        want = e.decided.transfer
        account = next((h for h in accounts if h.point_code == want.point_code), None)
        e.fits = account is not None and account.take(want.amount, now)


def _book(conn: Connection, terminal: Terminal, batch: list[_Entry], now: datetime) -> None:
    """Step 4: one ledger call for the batch; the replies of the spends it took."""
    asked = [e for e in batch if e.decided is not None]
    results = ledger.create_transfers(
        conn, [e.decided.transfer for e in asked if e.decided], terminal.actor(), now
    )
    for e, result in zip(asked, results, strict=True):
        if isinstance(result, MkpError) == e.fits:
            raise _Diverged(e.index)
        if isinstance(result, MkpError):
            e.error = result
    taken = [(e, r) for e, r in zip(asked, results, strict=True) if isinstance(r, ledger.Transfer)]
    moves = moves_of_many(conn, [t.id for _, t in taken])
    for e, t in taken:
        assert e.decided is not None and e.holder is not None
        e.reply = e.decided.reply(e.holder, t, spending.moves_view(moves[t.id]))
    idempotency.keep_all(
        conn,
        spending.SCOPE,
        [
            (t.client_id, spending.idempotency_body(e.holder, e.request), e.reply)
            for e, t in taken
            if e.holder and e.request and e.reply
        ],
    )


def _keep(
    conn: Connection, terminal_id: str, entries: list[_Entry], now: datetime
) -> dict[int, dict[str, Any]]:
    """Step 5: every answer kept in ``offline_entries`` (one statement), and given."""
    rows = {e.index: entry_row(terminal_id, e.key, e.seen, now, e.reply, e.error) for e in entries}
    verified = [rows[e.index] for e in entries if e.seen.verified]
    if verified:
        conn.execute(insert(offline_entries), verified)
    # the same unverifiable entry twice (or again): its first refusal stands, and is given again
    kept = keep_unverified(conn, [rows[e.index] for e in entries if not e.seen.verified])
    return {i: kept.get(row["client_id"]) or answer_of_row(row) for i, row in rows.items()}
