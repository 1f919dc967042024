"""Expiry lots: every credit to a wallet is a lot with its own expiry; debits take lots.

Which lots a debit from a wallet takes:

* a reversal of a credit (a grant taken back) takes the lots that credit made, and only those;
* an ``expire`` transfer (the sweep) takes the lots expired at its cutoff, earliest first;
* anything else (a spend, a voucher, a support, a claim) takes lots still valid *now*,
  earliest-expiring first: expired points are never spendable, whether swept yet or not.

A credit to a wallet makes a new lot with the expiry it carries, except a reversal of a debit
(a refund), which gives back to exactly the lots that debit took, with their own expiries.

A batch sees its own earlier transfers: :class:`LotBook` holds the touched wallets' open lots
in memory, in the order they are taken, plans each request's moves, and writes them all at the
end (new lots, lot moves, the lots' new ``remaining``), in the caller's transaction.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from sqlalchemy import Connection, bindparam, select

from mkp_core.dates import last_valid_day
from mkp_core.errors import MkpError
from server.db.engine import chunked, db_datetime, db_timestamp, fetch_later, fetch_raw, new_ids
from server.ledger.errors import InsufficientPoints, PointsExpired
from server.ledger.rows import insert_rows, update_by_ids
from server.ledger.tables import lot_moves, lots

_NEVER = float("inf")


class _Request(Protocol):
    """What the lot book reads of a transfer request."""

    @property
    def kind(self) -> str: ...
    @property
    def amount(self) -> int: ...
    @property
    def reverses(self) -> int | None: ...
    @property
    def expires_at(self) -> datetime | None: ...
    @property
    def debit(self) -> str: ...


@dataclass(slots=True)
class Lot:
    """A lot as the batch sees it: ``remaining`` after the moves planned so far.

    ``when`` is the expiry as a POSIX timestamp (infinity: never), what ordering and validity
    compare; :attr:`expires_at` is the datetime, for what people read.
    """

    id: int | None  # None: made by this batch, stored when it posts
    account_id: int
    when: float
    amount: int
    remaining: int
    source: int | None  # the transfer that made it (None: carried over, or made by this batch)
    order: int  # among lots of one expiry: older first
    stored_remaining: int = 0
    made_by_request: int | None = None
    made_expiry: datetime | None = None  # a new lot's expiry exactly as its credit gave it

    @property
    def expires_at(self) -> datetime | None:
        return None if self.when == _NEVER else datetime.fromtimestamp(self.when, UTC)

    @property
    def sort_key(self) -> tuple[float, int]:
        """Earliest-expiring first, never-expiring last; of one expiry, the older lot first."""
        return (self.when, self.order)

    def valid_at(self, now: float) -> bool:
        return self.when > now

    def expired_by(self, cutoff: float) -> bool:
        return self.when <= cutoff


def _timestamp(when: datetime | None) -> float:
    return _NEVER if when is None else when.timestamp()


Move = tuple[Lot, int]
"""A lot and the points a transfer took from it (> 0) or gave back to it (< 0)."""


@dataclass
class LotBook:
    """The open lots of the wallets a batch touches, and the moves it plans."""

    by_account: dict[int, list[Lot]] = field(default_factory=dict)
    by_id: dict[int, Lot] = field(default_factory=dict)
    made_by: dict[int, list[Lot]] = field(default_factory=dict)
    taken_by: dict[int, list[Move]] = field(default_factory=dict)
    new_lots: list[Lot] = field(default_factory=list)
    moves: dict[int, list[Move]] = field(default_factory=dict)
    #: The requests (by index) whose credit gave back lots rather than making one.
    gave_back: set[int] = field(default_factory=set)
    _next_order: int = 1 << 62

    # --- loading ---------------------------------------------------------------------------

    @classmethod
    def load(
        cls,
        conn: Connection,
        debited: Iterable[int],
        reversed_transfers: Iterable[int],
        open_rows: list[tuple[Any, ...]] | None = None,
    ) -> LotBook:
        """The open lots of the ``debited`` wallet accounts, and what ``reversed_transfers`` made and
        took. ``open_rows``: those open lots' rows (:data:`LOTS`) if the caller has read them already."""
        book = cls()
        accounts = sorted(set(debited))
        if open_rows is not None:
            book._add(open_rows)
        else:
            for part in chunked(accounts):
                book._add(fetch_raw(conn, LOTS + "account_id IN (?*) AND remaining > 0", part))
        for account in accounts:
            book.by_account.setdefault(account, [])
        originals = sorted(set(reversed_transfers))
        for part in chunked(originals):
            for lot in book._add(fetch_raw(conn, LOTS + "transfer_id IN (?*)", part)):
                if lot.source is not None:
                    book.made_by.setdefault(lot.source, []).append(lot)
            taken = fetch_raw(
                conn,
                "SELECT transfer_id, lot_id, amount FROM lot_moves WHERE transfer_id IN (?*) AND amount > 0",
                part,
            )
            missing = sorted({lot_id for _, lot_id, _ in taken if lot_id not in book.by_id})
            for ids in chunked(missing):
                book._add(fetch_raw(conn, LOTS + "id IN (?*)", ids))
            for transfer_id, lot_id, amount in taken:
                book.taken_by.setdefault(transfer_id, []).append((book.by_id[lot_id], int(amount)))
        for account_lots in book.by_account.values():
            if len(account_lots) > 1:  # most wallets hold one open lot: nothing to sort
                account_lots.sort(key=lambda lot: lot.sort_key)
        return book

    def _add(self, rows: Iterable[Any]) -> list[Lot]:
        added = []
        stamps: dict[Any, float] = {}  # a wallet's lots share a few expiries: each is read once
        for lot_id, account_id, source, expires_at, amount, remaining in rows:
            lot = self.by_id.get(lot_id)
            if lot is None:
                when = stamps.get(expires_at)
                if when is None:
                    when = stamps[expires_at] = _timestamp(db_datetime(expires_at))
                lot = Lot(
                    lot_id, account_id, when, int(amount), int(remaining), source, lot_id, int(remaining)
                )
                self.by_id[lot_id] = lot
                if remaining > 0:
                    self.by_account.setdefault(account_id, []).append(lot)
            added.append(lot)
        return added

    # --- planning ----------------------------------------------------------------------------

    def take(self, index: int, req: _Request, account_id: int, now: float, cutoff: float) -> MkpError | None:
        """Plan the lots request ``index`` takes from wallet ``account_id``, or say why it cannot;
        ``now`` and ``cutoff`` are POSIX timestamps."""
        open_lots = self.by_account.get(account_id, [])
        own = self.made_by.get(req.reverses or 0) if req.kind == "reverse" else None
        if not own and req.kind != "expire":
            return self._take_valid(index, req, open_lots, now)
        if own:
            eligible = [lot for lot in own if lot.account_id == account_id and lot.remaining > 0]
        elif req.kind == "expire":
            eligible = [lot for lot in open_lots if lot.remaining > 0 and lot.expired_by(cutoff)]
        else:
            eligible = [lot for lot in open_lots if lot.remaining > 0 and lot.valid_at(now)]
        available = sum(lot.remaining for lot in eligible)
        if available < req.amount:
            return _refusal(req, open_lots, available, bool(own), now)
        planned: list[Move] = []
        needed = req.amount
        for lot in eligible:
            step = min(lot.remaining, needed)
            lot.remaining -= step
            planned.append((lot, step))
            needed -= step
            if not needed:
                break
        self.moves.setdefault(index, []).extend(planned)
        return None

    def _take_valid(self, index: int, req: _Request, open_lots: list[Lot], now: float) -> MkpError | None:
        """:meth:`take` for the usual debit (lots valid ``now``, earliest-expiring first) in one
        walk over the wallet's lots, which usually stops at the first."""
        planned: list[Move] = []
        needed = req.amount
        for lot in open_lots:
            remaining = lot.remaining
            if remaining > 0 and lot.when > now:
                if not planned and remaining >= needed:  # the usual debit: one lot covers it
                    lot.remaining = remaining - needed
                    self._plan(index, [(lot, needed)])
                    return None
                step = remaining if remaining < needed else needed
                planned.append((lot, step))
                needed -= step
                if not needed:
                    break
        if needed:
            available = req.amount - needed
            return _refusal(req, open_lots, available, False, now)
        for lot, step in planned:
            lot.remaining -= step
        self._plan(index, planned)
        return None

    def _plan(self, index: int, planned: list[Move]) -> None:
        """Add ``planned`` to request ``index``'s moves."""
        moves = self.moves.get(index)
        if moves is None:
            self.moves[index] = planned
        else:
            moves.extend(planned)

    def credit(self, index: int, req: _Request, account_id: int) -> None:
        """Plan request ``index``'s credit to wallet ``account_id``: restored lots, or a new one."""
        restored = self.taken_by.get(req.reverses or 0) if req.kind == "reverse" else None
        if restored and all(lot.account_id == account_id for lot, _ in restored):
            account_lots = self.by_account.setdefault(account_id, [])
            for lot, amount in restored:
                if not any(listed is lot for listed in account_lots):  # emptied before: listed again
                    bisect.insort(account_lots, lot, key=lambda x: x.sort_key)
                lot.remaining += amount
            self.moves.setdefault(index, []).extend((lot, -amount) for lot, amount in restored)
            self.gave_back.add(index)
            return
        self._next_order += 1
        expires_at, amount = req.expires_at, req.amount
        order = self._next_order
        lot = Lot(None, account_id, _timestamp(expires_at), amount, amount, None, order, 0, index, expires_at)
        self.new_lots.append(lot)
        taken_from = self.by_account.get(account_id)
        if taken_from is not None:  # the batch also takes from this wallet: keep its order
            bisect.insort(taken_from, lot, key=lambda x: x.sort_key)

    # --- posting -------------------------------------------------------------------------------

    def post(self, conn: Connection, transfer_ids: dict[int, int]) -> None:
        """Store new lots, the moves, and the new ``remaining`` of stored lots (request -> transfer id)."""
        made = self.new_lots
        for lot, lot_id in zip(made, new_ids(conn, "lots", len(made)), strict=True):
            lot.id = lot_id
        # Lots that never expire leave ``expires_at`` out: SQLite's driver runs every ``None`` it
        # binds through its adapter registry, which costs as much as the rest of the row.
        stamps = {when: db_timestamp(conn, when) for when in {lot.made_expiry for lot in made}}
        insert_rows(
            conn,
            "INSERT INTO lots (id, account_id, transfer_id, expires_at, amount, remaining)",
            6,
            [
                (
                    lot.id,
                    lot.account_id,
                    transfer_ids[lot.made_by_request or 0],
                    stamps[lot.made_expiry],
                    lot.amount,
                    lot.remaining,
                )
                for lot in made
                if lot.made_expiry is not None
            ],
        )
        insert_rows(
            conn,
            "INSERT INTO lots (id, account_id, transfer_id, amount, remaining)",
            5,
            [
                (lot.id, lot.account_id, transfer_ids[lot.made_by_request or 0], lot.amount, lot.remaining)
                for lot in made
                if lot.made_expiry is None
            ],
        )
        insert_rows(
            conn,
            "INSERT INTO lot_moves (transfer_id, lot_id, amount)",
            3,
            [
                (transfer_ids[index], lot.id, amount)
                for index, planned in self.moves.items()
                for lot, amount in planned
            ],
        )
        emptied: list[int] = []
        alike: dict[tuple[Any, ...], list[int]] = {(0,): emptied}
        for lot in self.by_id.values():
            if lot.remaining != lot.stored_remaining and lot.id is not None:
                if lot.remaining:
                    alike.setdefault((lot.remaining,), []).append(lot.id)
                else:
                    emptied.append(lot.id)
        update_by_ids(conn, "UPDATE lots SET remaining = ?", alike)


#: The columns of a lot as :meth:`LotBook.load` reads them (its callers may read them for it).
LOTS = "SELECT id, account_id, transfer_id, expires_at, amount, remaining FROM lots WHERE "


def _refusal(req: _Request, open_lots: Sequence[Lot], available: int, own: bool, now: float) -> MkpError:
    if own:
        return InsufficientPoints(
            "insufficient_points",
            f"transfer {req.reverses}'s points were spent or expired already: {available} of them are left",
        )
    if req.kind == "expire":
        return InsufficientPoints(
            "insufficient_points", f"{req.debit} holds {available} expired points, {req.amount} to expire"
        )
    expired = [lot for lot in open_lots if lot.remaining > 0 and not lot.valid_at(now)]
    if expired and available + sum(lot.remaining for lot in expired) >= req.amount:
        latest = max(lot.expires_at for lot in expired if lot.expires_at is not None)
        return PointsExpired(
            "points_expired",
            f"{req.debit} can spend {available} points; {sum(lot.remaining for lot in expired)} more "
            f"expired (the last on {last_valid_day(latest)} JST), {req.amount} needed",
        )
    return InsufficientPoints(
        "insufficient_points",
        f"{req.debit} holds {available} spendable points, {req.amount} needed",
        details=[{"balance": available}],  # a counter names it to the resident
    )


# --- reading lots ------------------------------------------------------------------------------


def open_lots(conn: Connection, account_ids: Sequence[int]) -> dict[int, list[tuple[datetime | None, int]]]:
    """(expires_at, remaining) of each account's open lots, earliest-expiring first (never last)."""
    found: dict[int, list[tuple[datetime | None, int]]] = {a: [] for a in account_ids}
    for part in chunked(sorted(set(account_ids))):
        rows = conn.execute(
            select(lots.c.account_id, lots.c.expires_at, lots.c.remaining, lots.c.id).where(
                lots.c.account_id.in_(part), lots.c.remaining > 0
            )
        )
        for account_id, expires_at, remaining, _ in sorted(
            rows, key=lambda r: (_NEVER if r[1] is None else r[1].timestamp(), r[3])
        ):
            found[account_id].append((expires_at, int(remaining)))
    return found


def moves_of_many(
    conn: Connection, transfer_ids: Sequence[int]
) -> dict[int, list[tuple[datetime | None, int]]]:
    """:func:`moves_of` for many transfers, a query a chunk (a batch's receipts)."""
    found: dict[int, list[tuple[datetime | None, int]]] = {t: [] for t in transfer_ids}
    for part in chunked(sorted(set(transfer_ids))):
        rows = conn.execute(
            select(lot_moves.c.transfer_id, lots.c.expires_at, lot_moves.c.amount, lots.c.id)
            .join(lots, lots.c.id == lot_moves.c.lot_id)
            .where(lot_moves.c.transfer_id.in_(part))
            .order_by(lot_moves.c.transfer_id, lots.c.id)
        )
        for transfer_id, expires_at, amount, _ in rows:
            found[transfer_id].append((expires_at, int(amount)))
    return found


#: What :func:`moves_of` asks, built once: every spend's receipt asks it, and building the
#: statement anew (SQLAlchemy then finds it compiled in its cache) was a tenth of a spend's CPU.
_MOVES_OF = (
    select(lots.c.expires_at, lot_moves.c.amount, lots.c.id)
    .join(lots, lots.c.id == lot_moves.c.lot_id)
    .where(lot_moves.c.transfer_id == bindparam("transfer_id"))
    .order_by(lots.c.id)
)


def moves_of(conn: Connection, transfer_id: int) -> list[tuple[datetime | None, int]]:
    """(expiry, points) of each lot a transfer took from (> 0) or gave back to (< 0)."""
    read = _moves_read(conn).get(transfer_id)
    if read is not None:
        return read
    rows = conn.execute(_MOVES_OF, {"transfer_id": transfer_id})
    return [(expires_at, int(amount)) for expires_at, amount, _ in rows]


def read_moves_later(conn: Connection, transfer_ids: Sequence[int]) -> Callable[[], None]:
    """Send the read of the moves of ``transfer_ids`` (just written, on PostgreSQL inside their
    writes' ``sent_together``) and give the function that keeps its rows for :func:`moves_of`, to
    call once the block has ended: a spend's receipt then costs no round trip of its own. The rows
    are PostgreSQL's own, as :func:`moves_of` would read them (timestamps with time zone)."""
    rows = fetch_later(
        conn,
        "SELECT lot_moves.transfer_id, lots.expires_at, lot_moves.amount FROM lot_moves "
        "JOIN lots ON lots.id = lot_moves.lot_id WHERE lot_moves.transfer_id IN (?*) "
        "ORDER BY lot_moves.transfer_id, lots.id",
        list(transfer_ids),
    )

    def keep() -> None:
        kept = _moves_read(conn)
        for transfer_id in transfer_ids:
            kept[transfer_id] = []
        for transfer_id, expires_at, amount in rows():
            kept[transfer_id].append((expires_at, int(amount)))

    return keep


def _moves_read(conn: Connection) -> dict[int, list[tuple[datetime | None, int]]]:
    """The moves this transaction has read with its writes (a pooled connection's earlier ones forgotten)."""
    transaction = conn.get_transaction()
    kept = conn.info.get(_MOVES_READ)
    if kept is None or kept[0] is not transaction:
        kept = conn.info[_MOVES_READ] = (transaction, {})
    moves: dict[int, list[tuple[datetime | None, int]]] = kept[1]
    return moves


_MOVES_READ = "mkp_moves_read"
