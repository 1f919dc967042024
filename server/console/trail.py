"""The audit trail as the console filters it: by who, by what, by day, a page at a time, newest first.

The trail's own reading (``server.platform.audit.service.entries``) serves the API's paging; staff also
look for one person's changes or one kind of change, so the console's query adds those filters.
A town's staff see only their town's entries (their own changes and the platform's on their town).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sqlalchemy import Connection, select

from mkp_core.dates import start_of_day
from server.platform.tables import audit_log

PAGE = 50


@dataclass(frozen=True)
class TrailFilter:
    """What to show: entries of ``actor`` (exactly), whose action or request contains ``what``,
    from ``since`` to ``until`` (JST days, both included), older than ``before_id``."""

    actor: str | None = None
    what: str | None = None
    since: date | None = None
    until: date | None = None
    before_id: int | None = None


def entries(conn: Connection, municipality: str | None, wanted: TrailFilter) -> dict[str, Any]:
    """A page of the trail of ``municipality`` (None: all of it) as ``wanted`` filters it."""
    query = select(audit_log).order_by(audit_log.c.id.desc()).limit(PAGE + 1)
    if municipality is not None:
        query = query.where(audit_log.c.municipality_code == municipality)
    if wanted.actor:
        query = query.where(audit_log.c.actor == wanted.actor)
    if wanted.what:
        pattern = "%" + wanted.what.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        query = query.where(
            audit_log.c.action.like(pattern, escape="\\") | audit_log.c.target.like(pattern, escape="\\")
        )
    if wanted.since:
        query = query.where(audit_log.c.at >= start_of_day(wanted.since))
    if wanted.until:
        query = query.where(audit_log.c.at < start_of_day(wanted.until + timedelta(days=1)))
    if wanted.before_id:
        query = query.where(audit_log.c.id < wanted.before_id)
    rows = list(conn.execute(query))
    page = rows[:PAGE]
    return {
        "entries": [dict(r._mapping) for r in page],
        "next_before_id": page[-1].id if len(rows) > PAGE else None,
    }


def actors(conn: Connection, municipality: str | None) -> list[str]:
    """Everyone who appears in the town's trail (for the filter's choices)."""
    query = select(audit_log.c.actor).distinct().order_by(audit_log.c.actor)
    if municipality is not None:
        query = query.where(audit_log.c.municipality_code == municipality)
    return list(conn.execute(query).scalars())
