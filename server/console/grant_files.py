"""Grant files uploaded in the console: kept as they came, checked whole, applied once, downloadable.

Why keep the file: a department checks a file, fixes it, checks again, and applies it days
later; an auditor asks for the file a batch came from. The check and the applying are the
departments' own (:func:`server.points.departments.grants.batch`, the one ``mkp-admin grant --csv``
uses), so the console can never accept a file the API would refuse: every bad row is listed at
once, format and data alike (unknown MyKey ID, unknown grant kind, over budget).
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, insert, select, update

from mkp_core.errors import MkpError, NotFound
from mkp_core.grant_file import FileRefused
from server.console.tables import grant_files
from server.db.engine import inserted_id
from server.points.departments import grants
from server.points.departments.service import get_department
from server.staff.service import StaffMember

MAX_FILENAME = 200


def upload(conn: Connection, me: StaffMember, department_id: str, filename: str, content: bytes) -> int:
    """Keep an uploaded file for ``department_id`` (one the member may grant for); its id."""
    me.require_grants_of(department_id)
    department = get_department(conn, department_id, me)
    if not content:
        raise MkpError("empty_file", "the file is empty: choose the CSV file again")
    return inserted_id(
        conn.execute(
            insert(grant_files).values(
                municipality_code=department["municipality"],
                department_id=department_id,
                filename=(filename or "grants.csv")[:MAX_FILENAME],
                sha256=hashlib.sha256(content).hexdigest(),
                content=content,
                uploaded_by=me.actor,
                uploaded_at=datetime.now(UTC),
            )
        )
    )


def stored(conn: Connection, me: StaffMember, file_id: int) -> Any:
    """A file of the member's municipality; another town's looks missing."""
    row = conn.execute(select(grant_files).where(grant_files.c.id == file_id)).first()
    if row is None or not me.covers(row.municipality_code):
        raise NotFound("unknown_grant_file", f"no grant file {file_id}")
    return row


def listing(conn: Connection, me: StaffMember, limit: int = 50) -> list[dict[str, Any]]:
    """The municipality's files, newest first (without their contents)."""
    query = (
        select(*(c for c in grant_files.c if c.name != "content"))
        .order_by(grant_files.c.id.desc())
        .limit(limit)
    )
    if me.municipality is not None:
        query = query.where(grant_files.c.municipality_code == me.municipality)
    return [dict(r._mapping) for r in conn.execute(query)]


def check(conn: Connection, me: StaffMember, file_id: int) -> dict[str, Any]:
    """The whole check of a stored file: ``problems`` (every bad row) or the totals to apply."""
    row = stored(conn, me, file_id)
    try:
        summary = grants.batch(
            conn, me, row.department_id, _client_key(me, row), row.content, row.filename, dry_run=True
        )
    except FileRefused as refused:
        return {"file": row, "problems": refused.details or [], "message": refused.message, "summary": None}
    return {"file": row, "problems": [], "message": None, "summary": summary}


def apply(conn: Connection, me: StaffMember, file_id: int) -> dict[str, Any]:
    """Apply a stored file (checked again, in this transaction); the same file again changes nothing."""
    row = stored(conn, me, file_id)
    me.require_grants_of(row.department_id)
    summary = grants.batch(
        conn, me, row.department_id, _client_key(me, row), row.content, row.filename, dry_run=False
    )
    if row.batch_id is None:  # a retry changes nothing (and leaves no audit entry)
        conn.execute(
            update(grant_files).where(grant_files.c.id == row.id).values(batch_id=summary["batch_id"])
        )
    return summary


def _client_key(me: StaffMember, row: Any) -> str:
    """The idempotency key of applying this file: the file itself (a second click is a retry)."""
    return f"staff:{me.id}/grant-file-{row.sha256}"
