"""Expiring lots in bulk: the ledger's set-based path for the expiry sweep.

A sweep moves every lot expired by a cutoff out of its wallet: one ``expire`` transfer per
wallet account (owner and point code), to the account ``breakage_of(point code)`` names,
taking exactly those lots whole. It keeps every invariant :func:`create_transfers` keeps (posted
totals beside the transfers, a lot move per lot taken, lots summing to balances), but works on
a million lots as a few statements instead of a million in-memory decisions.

Nothing else can change those lots meanwhile: spends take only lots still valid at their own
time (never one expired by a cutoff in the past), and a refund that would give points back to
an expired lot waits for the wallet's account row, which the sweep locks first on PostgreSQL;
SQLite's write transaction is the only writer.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection

from mkp_core.errors import Conflict
from server.db.engine import (
    chunked,
    db_timestamp,
    executemany,
    fetch_raw,
    insert_ignoring_conflicts,
    is_postgres,
    new_ids,
)
from server.ledger import periods
from server.ledger.accounts import account_kind
from server.ledger.tables import accounts
from server.ledger.transfers import TransferRequest


@dataclass
class Expired:
    """One wallet account's expired lots, and the transfer that took them."""

    account_id: int
    owner: str
    point_code: str
    points: int
    lots: int
    transfer_id: int | None = None


def expire_lots(
    conn: Connection,
    cutoff: datetime,
    breakage_of: Callable[[str], str],
    client_id_of: Callable[[int], str],
    actor: str,
    now: datetime,
    memo: str | None = None,
    point_codes: Collection[str] | None = None,
) -> list[Expired]:
    """Move every open lot expired by ``cutoff`` (of ``point_codes``, or all) to breakage; per account."""
    if point_codes is not None and not point_codes:
        return []
    expired = _Expired(conn, cutoff, point_codes)
    periods.hold_booking(conn)
    if is_postgres(conn):
        fetch_raw(
            conn,
            f"SELECT id FROM accounts WHERE id IN (SELECT account_id FROM lots WHERE {expired.where}) "
            "ORDER BY id FOR UPDATE",
            expired.params,
        )
    found = _expired_by_account(conn, expired)
    if not found:
        return []
    requests = [
        TransferRequest(
            client_id_of(e.account_id),
            e.point_code,
            e.owner,
            breakage_of(e.point_code),
            e.points,
            "expire",
            memo,
        )
        for e in found
    ]
    sinks = _breakage_accounts(conn, {r.credit: r.point_code for r in requests}, now)
    _refuse_used_client_ids(conn, [r.client_id for r in requests])
    first_id = _post_transfers(conn, found, requests, sinks, actor, now)
    _take_lots(conn, found, expired, first_id)
    return found


class _Expired:
    """Which lots a sweep takes, as SQL over ``lots``: open, expired by the cutoff, of the codes."""

    def __init__(self, conn: Connection, cutoff: datetime, point_codes: Collection[str] | None) -> None:
        self.where = "remaining > 0 AND expires_at <= ?"
        self.params: list[object] = [db_timestamp(conn, cutoff)]
        if point_codes is not None:
            codes = sorted(point_codes)
            marks = ", ".join("?" * len(codes))
            self.where += f" AND account_id IN (SELECT id FROM accounts WHERE point_code IN ({marks}))"
            self.params += codes


def _expired_by_account(conn: Connection, expired: _Expired) -> list[Expired]:
    per_account = (
        "SELECT account_id, sum(remaining) AS points, count(*) AS lots FROM lots "
        f"WHERE {expired.where} GROUP BY account_id"
    )
    rows = fetch_raw(
        conn,
        f"SELECT e.account_id, a.owner, a.point_code, e.points, e.lots FROM ({per_account}) e "
        "JOIN accounts a ON a.id = e.account_id ORDER BY e.account_id",
        expired.params,
    )
    return [Expired(aid, owner, code, int(points), int(count)) for aid, owner, code, points, count in rows]


def _breakage_accounts(conn: Connection, owners: dict[str, str], now: datetime) -> dict[str, int]:
    """The breakage accounts the points go to, opened if need be and locked: owner -> id."""
    insert_ignoring_conflicts(
        conn,
        accounts,
        [
            {"owner": owner, "point_code": code, "kind": account_kind(owner).name, "created_at": now}
            for owner, code in sorted(owners.items())
        ],
    )
    lock = " FOR UPDATE" if is_postgres(conn) else ""
    ids: dict[str, int] = {}
    for part in chunked(sorted(owners)):
        for account_id, owner, code in fetch_raw(
            conn, f"SELECT id, owner, point_code FROM accounts WHERE owner IN (?*) ORDER BY id{lock}", part
        ):
            if owners.get(owner) == code:
                ids[owner] = account_id
    return ids


def _refuse_used_client_ids(conn: Connection, client_ids: list[str]) -> None:
    for part in chunked(client_ids):
        used = fetch_raw(conn, "SELECT client_id FROM transfers WHERE client_id IN (?*)", part)
        if used:
            raise Conflict("idempotency_conflict", f"client id {used[0][0]} was already used")


def _post_transfers(
    conn: Connection,
    found: list[Expired],
    requests: list[TransferRequest],
    sinks: dict[str, int],
    actor: str,
    now: datetime,
) -> int:
    """Insert one ``expire`` transfer per account (ids ascending in account order); the first id."""
    stamp = db_timestamp(conn, now)
    ids = new_ids(conn, "transfers", len(found))
    for entry, transfer_id in zip(found, ids, strict=True):
        entry.transfer_id = transfer_id
    executemany(
        conn,
        "INSERT INTO transfers (id, client_id, body_hash, kind, point_code, debit_account_id, "
        "credit_account_id, amount, memo, reverses_id, actor, created_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, ?, ?)",
        [
            (
                e.transfer_id,
                r.client_id,
                r.body_hash(),
                "expire",
                e.point_code,
                e.account_id,
                sinks[r.credit],
                e.points,
                r.memo,
                actor,
                stamp,
            )
            for e, r in zip(found, requests, strict=True)
        ],
    )
    executemany(
        conn,
        "UPDATE accounts SET debits_posted = debits_posted + ? WHERE id = ?",
        [(e.points, e.account_id) for e in found],
    )
    into: dict[int, int] = {}
    for e, r in zip(found, requests, strict=True):
        into[sinks[r.credit]] = into.get(sinks[r.credit], 0) + e.points
    executemany(
        conn,
        "UPDATE accounts SET credits_posted = credits_posted + ? WHERE id = ?",
        [(p, a) for a, p in into.items()],
    )
    return min(ids)


def _take_lots(conn: Connection, found: list[Expired], expired: _Expired, first_id: int) -> None:
    """A move per lot, then the lots emptied: two statements over the very set that was read.

    A lot's transfer is its account's ``expire`` transfer of this sweep (ids from ``first_id``):
    the accounts are locked, so no other transfer since debits them."""
    moves = (
        "INSERT INTO lot_moves (transfer_id, lot_id, amount) "
        "SELECT t.id, l.id, l.remaining FROM lots l JOIN transfers t ON t.debit_account_id = l.account_id "
        f"AND t.id >= ? AND t.kind = 'expire' WHERE {expired.where.replace('remaining', 'l.remaining')}"
    )
    moved = _execute(conn, moves, [first_id, *expired.params])
    emptied = _execute(conn, f"UPDATE lots SET remaining = 0 WHERE {expired.where}", expired.params)
    taken = sum(e.lots for e in found)
    if moved != taken or emptied != taken:  # impossible under the locks: refuse, keep lots and moves together
        raise Conflict(
            "sweep_raced", f"{taken} lots to expire, {moved} moved, {emptied} emptied: sweep again"
        )


def _execute(conn: Connection, sql: str, params: list[object]) -> int:
    """Run one statement (``?`` placeholders) on the transaction's connection; the rows it changed."""
    cursor = conn.connection.cursor()
    try:
        cursor.execute(sql.replace("?", "%s") if is_postgres(conn) else sql, tuple(params))
        return int(cursor.rowcount)
    finally:
        cursor.close()
