"""How a sync answers an offline entry, and the ``offline_entries`` row that keeps the answer.

Shared by the entry-by-entry path (:mod:`server.counter.service`) and the batch of card spends
(:mod:`server.counter.batch`): both must answer an entry the same way, and a resent entry gets
its kept answer back, so the row and the answer are made in one place.

An entry's answer is kept under its client id in the namespace of the terminal that sent it
(``server.db.client_ids``), and only once the entry verified (the terminal's signature over it and,
for a card spend, the card's proof): a refusal of an entry that did not verify is kept under a key
of its own content, so a tampered copy sent first never takes the id the genuine entry is booked
under, and the same tampered copy sent again gets its first refusal.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, RowMapping, select

from mkp_core import offline
from mkp_core.errors import Forbidden, MkpError
from server.counter.tables import offline_entries
from server.db.client_ids import as_sent, unverified_entry_key
from server.db.engine import chunked, insert_ignoring_conflicts

ACCEPTED, REFUSED = "accepted", "refused"


@dataclass
class Seen:
    """What could be read of an entry before it was accepted or refused: kept with its answer."""

    kind: str = offline.SPEND
    seq: int | None = None
    place: str | None = None
    at: datetime | None = None
    amount: int | None = None
    item: str | None = None
    voucher: str | None = None  # the serial (hex) of a voucher entry whose text could be read
    holder: int | None = None
    verified: bool = False  # the terminal's signature and the card's proof (a spend's) hold

    def read(self, transaction: offline.Transaction) -> None:
        """What a card spend entry says, once its terminal signature verified."""
        self.seq, self.place = transaction.seq, transaction.place
        self.at = transaction.at.astimezone(UTC)  # kept in UTC: SQLite would drop another offset
        self.amount, self.item = transaction.amount, transaction.item


def kept_under(key: str, seen: Seen, entry: Any) -> str:
    """Where an entry's answer is kept: ``key`` once the entry verified, else a key of its content."""
    if seen.verified:
        return key
    content = json.dumps(entry, sort_keys=True, separators=(",", ":"), default=str)
    return unverified_entry_key(key, hashlib.sha256(content.encode()).hexdigest())


def keep_unverified(conn: Connection, rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Keep the answers of entries that did not verify, each under its content's key, unless that
    very entry was refused before: then its first answer stands, and is what is given again (the
    time of the first refusal, not of this sync). The answers as kept, by key."""
    insert_ignoring_conflicts(conn, offline_entries, rows)
    kept: dict[str, dict[str, Any]] = {}
    for part in chunked([r["client_id"] for r in rows]):
        found = conn.execute(select(offline_entries).where(offline_entries.c.client_id.in_(part)))
        kept.update((r.client_id, answer_of_row(r._mapping)) for r in found)
    return kept


def raw_seq(entry: Any) -> int | None:
    """The entry's sequence number as sent, before anything is checked (for the exceptions report)."""
    inner = _raw_body(entry)
    return _int_or_zero(inner.get("seq")) if inner is not None else None


def refuse_another_terminals(entry: Any, terminal_id: str) -> None:
    """An entry that says another terminal took it is refused as such before its signature is
    checked (it cannot verify under this terminal's key anyway; the report says what it is)."""
    inner = _raw_body(entry)
    claimed = inner.get("terminal") if inner is not None else None
    if isinstance(claimed, str) and claimed != terminal_id:
        raise Forbidden("entry_of_another_terminal", f"the entry was taken by terminal {claimed[:40]}")


def _raw_body(entry: Any) -> Mapping[str, Any] | None:
    if not isinstance(entry, Mapping):
        return None
    inner = entry.get("body") if entry.get("version") == 2 else entry.get("transaction")
    return inner if isinstance(inner, Mapping) else None


def require_ours(
    transaction: offline.Transaction | offline.VoucherRedemption, terminal_id: str, place: str
) -> None:
    if transaction.terminal != terminal_id:
        raise Forbidden(
            "entry_of_another_terminal", f"the entry was taken by terminal {transaction.terminal}"
        )
    if transaction.place != place:
        raise Forbidden(
            "wrong_place", f"the entry was taken at {transaction.place}, not at this terminal's place"
        )


def entry_row(
    terminal_id: str,
    client_id: str,
    seen: Seen,
    now: datetime,
    reply: Mapping[str, Any] | None,
    error: MkpError | None,
) -> dict[str, Any]:
    """The ``offline_entries`` row of an entry: accepted with ``reply`` (its transfer), or refused
    with ``error``."""
    return {
        "client_id": client_id,
        "terminal_id": terminal_id,
        "seq": seen.seq or 0,
        "place_id": seen.place,
        "amount": reply["amount"] if reply else seen.amount,
        "item": seen.item,
        "taken_at": seen.at,
        "received_at": now,
        "status": ACCEPTED if error is None else REFUSED,
        "transfer_id": reply["id"] if reply else None,
        "mykey": seen.holder,
        "code": error.code if error else None,
        "message": error.message[:400] if error else None,
        "kind": seen.kind,
        "voucher_serial": seen.voucher,
    }


def _int_or_zero(value: Any) -> int:
    return value if type(value) is int and 0 <= value < 2**62 else 0


def answer_of_row(row: RowMapping | Mapping[str, Any]) -> dict[str, Any]:
    return answer(
        as_sent(row["client_id"]),
        row["seq"],
        row["status"],
        transfer_id=row["transfer_id"],
        amount=row["amount"],
        code=row["code"],
        message=row["message"],
    )


def answer(
    client_id: str | None,
    seq: int | None,
    status: str,
    transfer_id: int | None = None,
    amount: int | None = None,
    code: str | None = None,
    message: str | None = None,
) -> dict[str, Any]:
    out: dict[str, Any] = {"client_id": client_id, "seq": seq, "status": status}
    if status == ACCEPTED:
        out.update(transfer_id=transfer_id, amount=amount)
    else:
        out["error"] = {"code": code or "refused", "message": message or code or "refused"}
    return out
