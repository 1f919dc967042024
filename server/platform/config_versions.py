"""The version of what terminals' config downloads are computed from, bumped by every change to it.

A config download (a place's accepted point codes, its price list) takes about ten queries to
compute, and in the nationwide connection test every terminal fetches one. A server process keeps
the computed part per (place, version) and reads only this counter per download, so a change made
by any worker or host shows at the very next download. Every writer of point rules and their
places, point codes, agreements, places and price lists calls :func:`bump` in its own transaction,
last (the row stays locked until that commit, so writers queue here only at their very end).

What a process keeps per version must be read in a transaction that has not bumped it itself
(:func:`bumped_here`): such a transaction sees its own change before it commits, and it may yet
roll back while another one commits the same version number with another change.

The counter is one row, written on first use (a database without it is at version 0): an
UPSERT on both databases, so no seeded row is needed and a database emptied by tests still works.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, ScalarSelect, select
from sqlalchemy.dialects import postgresql, sqlite

from server.platform.tables import config_versions

#: The one counter's row: what a terminal's config download is computed from.
TERMINAL_CONFIG = "terminal_config"


def _upsert(dialect: str) -> Any:
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = insert(config_versions)
    return statement.on_conflict_do_update(
        index_elements=[config_versions.c.name],
        set_={"version": config_versions.c.version + 1, "changed_at": statement.excluded.changed_at},
    )


_BUMPS = {dialect: _upsert(dialect) for dialect in ("postgresql", "sqlite")}


def bump(conn: Connection, now: datetime | None = None) -> None:
    """Record, in the caller's transaction, that what terminals' configs are computed from changed."""
    conn.info[_BUMPED_IN] = conn.get_transaction()
    conn.execute(
        _BUMPS[conn.dialect.name],
        {"name": TERMINAL_CONFIG, "version": 1, "changed_at": now or datetime.now(UTC)},
    )


_BUMPED_IN = "mkp_config_bumped_in"


def bumped_here(conn: Connection) -> bool:
    """Has ``conn``'s transaction bumped the version (its reads see a change not committed yet)?"""
    found = conn.info.get(_BUMPED_IN)
    return found is not None and found is conn.get_transaction()


def version_column() -> ScalarSelect[int]:
    """The version as a scalar subquery (NULL before the first change): to read it with another row."""
    return (
        select(config_versions.c.version).where(config_versions.c.name == TERMINAL_CONFIG).scalar_subquery()
    )


def current(conn: Connection) -> int:
    """The version now (0 before the first change)."""
    found = conn.execute(_CURRENT).scalar_one_or_none()
    return int(found or 0)


# Built once (every spend reads it): SQLAlchemy finds it compiled, without building a statement.
_CURRENT = select(config_versions.c.version).where(config_versions.c.name == TERMINAL_CONFIG)


def current_statement() -> tuple[str, list[Any]]:
    """:func:`current`'s query as the driver takes it, for a caller that sends it with its other
    reads in one round trip (``server.db.engine.fetch_together``); :func:`version_of` reads its rows."""
    return "SELECT version FROM config_versions WHERE name = ?", [TERMINAL_CONFIG]


def version_of(rows: list[tuple[Any, ...]]) -> int:
    """The version :func:`current_statement` read (0 before the first change)."""
    return int(rows[0][0] or 0) if rows else 0
