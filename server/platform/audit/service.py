"""The audit trail's rows: written with the change they record, read back newest first.

An entry says who acted (``operator:<name>``, ``partner:<ID>``, later ``staff:<id>``), what they
did (the endpoint and the request line), for which municipality, with which request id and the
reason they gave. It never holds a request body: bodies carry residents' MyKey IDs and amounts,
which the ledger already keeps where they belong, and secrets (codes, keys) that must never be
stored in clear.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Connection, select

from server.db.engine import insert_last
from server.platform.tables import audit_log

MAX_PAGE = 1000
ACTOR_LENGTH = 80
ACTION_LENGTH = 80
TARGET_LENGTH = 200
REASON_LENGTH = 500


@dataclass(frozen=True)
class Entry:
    """One state change as the trail keeps it."""

    actor: str
    municipality: str | None
    action: str
    target: str
    request_id: str
    reason: str | None


def record(conn: Connection, entry: Entry, at: datetime | None = None) -> None:
    """Append ``entry`` in the caller's transaction (it is kept exactly when the change is), as the
    transaction's last statement: the entries of requests booked together in one transaction
    (``server.db.engine.WriteGroup``) go in one INSERT."""
    insert_last(
        conn,
        audit_log,
        {
            "at": at or datetime.now(UTC),
            "actor": entry.actor[:ACTOR_LENGTH],
            "municipality_code": entry.municipality,
            "action": entry.action[:ACTION_LENGTH],
            "target": entry.target[:TARGET_LENGTH],
            "request_id": entry.request_id[:64],
            "reason": entry.reason[:REASON_LENGTH] if entry.reason else None,
        },
    )


def entries(
    conn: Connection,
    municipality: str | None,
    since: datetime | None,
    before_id: int | None,
    limit: int,
) -> dict[str, object]:
    """A page of entries, newest first: those of ``municipality`` (``None``: all of them), at or
    after ``since``, older than entry ``before_id``; ``next_before_id`` continues the listing."""
    query = select(audit_log).order_by(audit_log.c.id.desc()).limit(min(limit, MAX_PAGE) + 1)
    if municipality is not None:
        query = query.where(audit_log.c.municipality_code == municipality)
    if since is not None:
        query = query.where(audit_log.c.at >= since)
    if before_id is not None:
        query = query.where(audit_log.c.id < before_id)
    rows = list(conn.execute(query))
    page = rows[: min(limit, MAX_PAGE)]
    return {
        "entries": [
            {
                "id": r.id,
                "at": r.at,
                "actor": r.actor,
                "municipality": r.municipality_code,
                "action": r.action,
                "target": r.target,
                "request_id": r.request_id,
                "reason": r.reason,
            }
            for r in page
        ],
        "next_before_id": page[-1].id if len(rows) > len(page) else None,
    }
