"""The offline queue: what the counter took while the server could not be reached, kept until the
server has answered for each entry, exactly once.

One SQLite file in the terminal's home (``counter.sqlite3``, 0600), in WAL mode with
``synchronous=FULL``: when :meth:`OfflineQueue.add` returns, the entry is on disk and survives a
power cut, so it is written *before* the receipt is printed. Each entry carries the terminal's
sequence number, a client id (the ledger's idempotency key: sending it again can never spend
twice), the transaction as the card signed it, and the terminal's own signature over the whole.

An entry is ``pending`` until the server answers for it; then ``accepted`` (with the transfer)
or ``refused`` (with the server's code: the balance was gone, the card was revoked ...). Both are
final: a refused entry goes to the operator's exceptions report on the server and is never sent
again. Nothing is ever deleted.

Paper vouchers (``vouchers``): every serial this terminal redeemed online, or took offline into the
queue (an entry of kind ``voucher``, its ``card`` column ``voucher:<serial>``), so the same
voucher shown here twice is refused here, even offline; a redemption is written down before it is
sent, and one whose answer was lost goes again with its first client id. Vouchers printed here
(``prints``): the paper came out, so the mark "printed, not yet confirmed" is written before the
server is told; it stays until the server answers (``mkp-agent sync`` sends it again), so a voucher
whose confirmation was lost still becomes valid.

Online spends are journaled in the same file (``attempts``): the request is written before it is
sent, so a counter that dies between sending and hearing the answer sends the very same request
again when it restarts, and the server answers it with its first result. Receipts printed (or
that failed to print) are kept here too, so one can be printed again.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

PENDING, ACCEPTED, REFUSED = "pending", "accepted", "refused"
SENDING, DONE, OFFLINE, VOID = "sending", "done", "offline", "void"
REDEEMED, QUEUED = "redeemed", "queued"  # a voucher's state here
UNCONFIRMED, CONFIRMED = "unconfirmed", "confirmed"  # a voucher printed here, as the server knows it

_SCHEMA = """
CREATE TABLE IF NOT EXISTS entries (
    seq INTEGER PRIMARY KEY,
    client_id TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL,
    card TEXT NOT NULL,          -- SHA-256 of the card's certificate (offline limits per card)
    amount INTEGER NOT NULL,
    entry TEXT NOT NULL,         -- the signed entry as it is sent (JSON)
    status TEXT NOT NULL,
    result TEXT,                 -- the server's answer (JSON)
    answered_at TEXT
);
CREATE INDEX IF NOT EXISTS entries_status ON entries (status, seq);
-- The offline limits are judged on every offline tap: these answer from the index alone,
-- without reading the (large) signed entries, however long the queue has grown.
CREATE INDEX IF NOT EXISTS entries_pending_amounts ON entries (status, amount, created_at);
CREATE INDEX IF NOT EXISTS entries_card_day ON entries (card, created_at, amount);
CREATE TABLE IF NOT EXISTS attempts (
    client_id TEXT PRIMARY KEY,
    created_at TEXT NOT NULL,
    request TEXT NOT NULL,       -- the spend exactly as sent (JSON), proof included
    status TEXT NOT NULL,        -- sending | done | offline | void
    result TEXT
);
CREATE TABLE IF NOT EXISTS vouchers (
    serial TEXT PRIMARY KEY,     -- hex: a voucher this terminal redeemed, queued or is redeeming
    client_id TEXT NOT NULL,     -- of its redemption (sent again as is after a lost answer)
    status TEXT NOT NULL,        -- sending | redeemed | queued | void
    seq INTEGER,                 -- its queue entry, if taken offline
    updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS prints (
    serial TEXT PRIMARY KEY,     -- a voucher issued here whose paper came out of the printer
    client_id TEXT NOT NULL,     -- of its "printed" confirmation (sent again as is until answered)
    status TEXT NOT NULL,        -- unconfirmed | confirmed | refused
    code TEXT,                   -- the server's refusal (voucher_voided ...)
    printed_at TEXT NOT NULL,
    answered_at TEXT
);
CREATE TABLE IF NOT EXISTS receipts (
    id INTEGER PRIMARY KEY,
    created_at TEXT NOT NULL,
    kind TEXT NOT NULL,
    body TEXT NOT NULL,          -- what was printed (JSON), to print it again
    printed_at TEXT,
    error TEXT
);
"""


@dataclass(frozen=True)
class Entry:
    seq: int
    client_id: str
    created_at: datetime
    card: str
    amount: int
    entry: dict[str, Any]
    status: str
    result: dict[str, Any] | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "client_id": self.client_id,
            "created_at": self.created_at.isoformat(),
            "amount": self.amount,
            "status": self.status,
            "result": self.result,
            "kind": self.entry.get("kind", "spend"),
            "place": self._inner().get("place"),
            "item": self._inner().get("item"),
        }

    def _inner(self) -> dict[str, Any]:
        """The transaction (a card spend) or the body (a version 2 entry: a voucher)."""
        inner = self.entry.get("body") if self.entry.get("version") == 2 else self.entry.get("transaction")
        return inner if isinstance(inner, dict) else {}


@dataclass(frozen=True)
class Totals:
    """What the offline limits are judged on."""

    pending: int  # entries not yet answered
    pending_amount: int  # their points
    oldest: datetime | None  # when the oldest was taken


def _now() -> datetime:
    return datetime.now(UTC)


class OfflineQueue:
    """The queue file of one terminal; safe to use from several threads of one process."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        if not self.path.exists():
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            os.close(fd)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=30)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")  # every commit reaches the disk
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    # -- entries --------------------------------------------------------------------------------

    def next_seq(self) -> int:
        """The sequence number the next entry will get (they count up from 1, never reused)."""
        with self._lock:
            (top,) = self._db.execute("SELECT coalesce(max(seq), 0) FROM entries").fetchone()
        return int(top) + 1

    def add(self, seq: int, client_id: str, card: str, amount: int, entry: dict[str, Any]) -> Entry:
        """Keep ``entry`` (the signed transaction) as number ``seq``; on disk when this returns."""
        created = _now()
        with self._transaction() as db:
            db.execute(
                "INSERT INTO entries (seq, client_id, created_at, card, amount, entry, status) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (seq, client_id, created.isoformat(), card, amount, json.dumps(entry), PENDING),
            )
        return Entry(seq, client_id, created, card, amount, entry, PENDING, None)

    def pending(self, limit: int = 500) -> list[Entry]:
        """The oldest unanswered entries, in sequence order."""
        return self._select("WHERE status = ? ORDER BY seq LIMIT ?", (PENDING, limit))

    def entries(self, status: str | None = None) -> list[Entry]:
        if status is None:
            return self._select("ORDER BY seq", ())
        return self._select("WHERE status = ? ORDER BY seq", (status,))

    def answer(self, answers: dict[str, tuple[str, dict[str, Any]]]) -> int:
        """Record the server's answers (client id → (accepted | refused, reply)), all at once.

        Only pending entries change: an answer for one answered before is ignored (the server's
        reply to a repeat is the first one anyway). Returns how many entries were answered now.
        """
        at = _now().isoformat()
        changed = 0
        with self._transaction() as db:
            for client_id, (status, reply) in answers.items():
                if status not in (ACCEPTED, REFUSED):
                    raise ValueError(f"not an answer: {status!r}")
                cursor = db.execute(
                    "UPDATE entries SET status = ?, result = ?, answered_at = ? "
                    "WHERE client_id = ? AND status = ?",
                    (status, json.dumps(reply), at, client_id, PENDING),
                )
                changed += cursor.rowcount
        return changed

    def totals(self) -> Totals:
        with self._lock:
            count, amount, oldest = self._db.execute(
                "SELECT count(*), coalesce(sum(amount), 0), min(created_at) FROM entries WHERE status = ?",
                (PENDING,),
            ).fetchone()
        return Totals(int(count), int(amount), datetime.fromisoformat(oldest) if oldest else None)

    def card_total_since(self, card: str, since: datetime) -> int:
        """Points this card spent offline here since ``since`` (answered or not): the per-card day limit."""
        with self._lock:
            (total,) = self._db.execute(
                "SELECT coalesce(sum(amount), 0) FROM entries WHERE card = ? AND created_at >= ?",
                (card, since.isoformat()),
            ).fetchone()
        return int(total)

    def _select(self, where: str, params: tuple[Any, ...]) -> list[Entry]:
        with self._lock:
            rows = self._db.execute(
                "SELECT seq, client_id, created_at, card, amount, entry, status, result FROM entries "
                + where,
                params,
            ).fetchall()
        return [
            Entry(
                seq=r[0],
                client_id=r[1],
                created_at=datetime.fromisoformat(r[2]),
                card=r[3],
                amount=r[4],
                entry=json.loads(r[5]),
                status=r[6],
                result=json.loads(r[7]) if r[7] else None,
            )
            for r in rows
        ]

    # -- the journal of online spends ----------------------------------------------------------

    def attempt(self, client_id: str, request: dict[str, Any]) -> None:
        """Write down an online spend before it is sent (on disk when this returns)."""
        with self._transaction() as db:
            db.execute(
                "INSERT INTO attempts (client_id, created_at, request, status) VALUES (?, ?, ?, ?)",
                (client_id, _now().isoformat(), json.dumps(request), SENDING),
            )

    def attempt_done(self, client_id: str, status: str, result: dict[str, Any] | None = None) -> None:
        """The server answered (``done``), the spend went to the queue (``offline``), or it never
        happened (``void``: the server took nothing)."""
        with self._transaction() as db:
            db.execute(
                "UPDATE attempts SET status = ?, result = ? WHERE client_id = ?",
                (status, json.dumps(result) if result is not None else None, client_id),
            )

    def add_after_attempt(
        self, seq: int, client_id: str, card: str, amount: int, entry: dict[str, Any]
    ) -> Entry:
        """Queue an offline entry for an online attempt that could not reach the server, and close
        the attempt, in one transaction: the spend is then the queue's, once."""
        created = _now()
        with self._transaction() as db:
            db.execute(
                "INSERT INTO entries (seq, client_id, created_at, card, amount, entry, status) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (seq, client_id, created.isoformat(), card, amount, json.dumps(entry), PENDING),
            )
            db.execute("UPDATE attempts SET status = ? WHERE client_id = ?", (OFFLINE, client_id))
        return Entry(seq, client_id, created, card, amount, entry, PENDING, None)

    def unfinished_attempts(self) -> list[tuple[str, dict[str, Any]]]:
        """Online spends sent (or about to be) whose answer was never heard: (client id, request)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT client_id, request FROM attempts WHERE status = ? ORDER BY created_at", (SENDING,)
            ).fetchall()
        return [(r[0], json.loads(r[1])) for r in rows]

    # -- paper vouchers -----------------------------------------------------------------------------

    def voucher(self, serial: str) -> tuple[str, str, int | None, datetime] | None:
        """What this terminal did with the voucher ``serial`` (hex): (status, client id, queue seq, when)."""
        with self._lock:
            row = self._db.execute(
                "SELECT status, client_id, seq, updated_at FROM vouchers WHERE serial = ?", (serial,)
            ).fetchone()
        return (row[0], row[1], row[2], datetime.fromisoformat(row[3])) if row else None

    def is_pending(self, seq: int) -> bool:
        """Is queue entry ``seq`` still waiting for the server's answer?"""
        with self._lock:
            row = self._db.execute("SELECT status FROM entries WHERE seq = ?", (seq,)).fetchone()
        return bool(row) and row[0] == PENDING

    def voucher_sending(self, serial: str, client_id: str) -> None:
        """Write down a redemption before it is sent (on disk when this returns)."""
        with self._transaction() as db:
            db.execute(
                "INSERT INTO vouchers (serial, client_id, status, updated_at) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (serial) DO UPDATE SET client_id = excluded.client_id, "
                "status = excluded.status, updated_at = excluded.updated_at",
                (serial, client_id, SENDING, _now().isoformat()),
            )

    def voucher_done(self, serial: str, status: str) -> None:
        """The server redeemed it (``redeemed``) or refused it (``void``: nothing was taken here)."""
        with self._transaction() as db:
            db.execute(
                "UPDATE vouchers SET status = ?, updated_at = ? WHERE serial = ?",
                (status, _now().isoformat(), serial),
            )

    def add_voucher_entry(
        self, seq: int, client_id: str, serial: str, amount: int, entry: dict[str, Any]
    ) -> Entry:
        """Queue a voucher taken offline and mark its serial queued, in one transaction."""
        created = _now()
        with self._transaction() as db:
            db.execute(
                "INSERT INTO entries (seq, client_id, created_at, card, amount, entry, status) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    seq,
                    client_id,
                    created.isoformat(),
                    f"voucher:{serial}",
                    amount,
                    json.dumps(entry),
                    PENDING,
                ),
            )
            db.execute(
                "UPDATE vouchers SET status = ?, seq = ?, updated_at = ? WHERE serial = ?",
                (QUEUED, seq, created.isoformat(), serial),
            )
        return Entry(seq, client_id, created, f"voucher:{serial}", amount, entry, PENDING, None)

    # -- vouchers printed here ----------------------------------------------------------------------

    def printed_unconfirmed(self, serials: list[str], client_id: str) -> None:
        """The paper of ``serials`` came out: write it down before the server is told (on disk
        when this returns)."""
        now = _now().isoformat()
        with self._transaction() as db:
            db.executemany(
                "INSERT INTO prints (serial, client_id, status, printed_at) VALUES (?, ?, ?, ?)",
                [(s, client_id, UNCONFIRMED, now) for s in serials],
            )

    def unconfirmed_prints(self) -> dict[str, list[str]]:
        """The confirmations the server has not answered: client id -> serials, oldest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT client_id, serial FROM prints WHERE status = ? ORDER BY printed_at, rowid",
                (UNCONFIRMED,),
            ).fetchall()
        found: dict[str, list[str]] = {}
        for client_id, serial in rows:
            found.setdefault(client_id, []).append(serial)
        return found

    def print_answered(self, serials: list[str], code: str | None = None) -> None:
        """The server answered: confirmed (``code`` None) or refused with ``code``; the mark goes."""
        status = CONFIRMED if code is None else REFUSED
        now = _now().isoformat()
        with self._transaction() as db:
            db.executemany(
                "UPDATE prints SET status = ?, code = ?, answered_at = ? WHERE serial = ? AND status = ?",
                [(status, code, now, s, UNCONFIRMED) for s in serials],
            )

    # -- receipts -------------------------------------------------------------------------------

    def keep_receipt(self, kind: str, body: dict[str, Any]) -> int:
        """Keep a receipt before it is printed; its id prints it again."""
        with self._transaction() as db:
            cursor = db.execute(
                "INSERT INTO receipts (created_at, kind, body) VALUES (?, ?, ?)",
                (_now().isoformat(), kind, json.dumps(body, ensure_ascii=False)),
            )
            return int(cursor.lastrowid or 0)

    def receipt_printed(self, receipt_id: int, error: str | None = None) -> None:
        with self._transaction() as db:
            db.execute(
                "UPDATE receipts SET printed_at = ?, error = ? WHERE id = ?",
                (None if error else _now().isoformat(), error, receipt_id),
            )

    def receipt(self, receipt_id: int) -> dict[str, Any] | None:
        with self._lock:
            row = self._db.execute(
                "SELECT id, created_at, kind, body, printed_at, error FROM receipts WHERE id = ?",
                (receipt_id,),
            ).fetchone()
        if row is None:
            return None
        return {
            "id": row[0],
            "created_at": row[1],
            "kind": row[2],
            "body": json.loads(row[3]),
            "printed_at": row[4],
            "error": row[5],
        }

    def last_receipts(self, limit: int = 20) -> list[dict[str, Any]]:
        with self._lock:
            ids = [
                r[0] for r in self._db.execute("SELECT id FROM receipts ORDER BY id DESC LIMIT ?", (limit,))
            ]
        return [r for i in ids if (r := self.receipt(i)) is not None]


def day_start(now: datetime, zone_offset_hours: int = 9) -> datetime:
    """The start of the local (Japan) day ``now`` falls in, in UTC: per-card limits count per day."""
    local = now.astimezone(UTC) + timedelta(hours=zone_offset_hours)
    return local.replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(hours=zone_offset_hours)
