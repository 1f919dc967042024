"""たすきがけ: municipality A's points usable at municipality B's places, by agreement of both.

Off by default: each municipality wants its points spent at home. An agreement is in force once
both have recorded it (A: "our points may be used in B"; B: "A's points are welcome here"), and
ends when either ends it. Recording it again after it ended starts it over (both sides again).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, insert, or_, select, update

from mkp_core.errors import MkpError, NotFound
from server.platform import config_versions
from server.platform.municipalities.service import get_municipality
from server.platform.operators.service import Operator
from server.points.tables import agreements


def record(
    conn: Connection, op: Operator, points_of: str, usable_in: str, by: str, now: datetime | None = None
) -> dict[str, Any]:
    """Municipality ``by`` (one of the two) records its side of the agreement."""
    now = now or datetime.now(UTC)
    _check_sides(conn, op, points_of, usable_in, by)
    row = _row(conn, points_of, usable_in)
    if row is None:
        conn.execute(insert(agreements).values(points_of=points_of, usable_in=usable_in))
    elif row.ended_at is not None:
        conn.execute(
            update(agreements)
            .where(agreements.c.points_of == points_of, agreements.c.usable_in == usable_in)
            .values(points_of_recorded_at=None, usable_in_recorded_at=None, ended_at=None, ended_by=None)
        )
    side = agreements.c.points_of_recorded_at if by == points_of else agreements.c.usable_in_recorded_at
    conn.execute(
        update(agreements)
        .where(agreements.c.points_of == points_of, agreements.c.usable_in == usable_in, side.is_(None))
        .values({side.key: now})
    )
    config_versions.bump(conn, now)  # the other municipality's codes may now be spendable here
    return view(_row(conn, points_of, usable_in))


def end(
    conn: Connection, op: Operator, points_of: str, usable_in: str, by: str, now: datetime | None = None
) -> dict[str, Any]:
    """Either municipality ends the agreement: from now, A's points are refused in B again."""
    now = now or datetime.now(UTC)
    _check_sides(conn, op, points_of, usable_in, by)
    row = _row(conn, points_of, usable_in)
    if row is None:
        raise NotFound("unknown_agreement", f"no agreement on {points_of}'s points in {usable_in}")
    if row.ended_at is None:
        conn.execute(
            update(agreements)
            .where(agreements.c.points_of == points_of, agreements.c.usable_in == usable_in)
            .values(ended_at=now, ended_by=by)
        )
        config_versions.bump(conn, now)  # its codes are no longer spendable there
    return view(_row(conn, points_of, usable_in))


def in_force(conn: Connection, usable_in: str) -> set[tuple[str, str]]:
    """(points of, usable in) of the agreements in force that let other points into ``usable_in``."""
    rows = conn.execute(
        select(agreements.c.points_of, agreements.c.usable_in).where(
            agreements.c.usable_in == usable_in,
            agreements.c.points_of_recorded_at.is_not(None),
            agreements.c.usable_in_recorded_at.is_not(None),
            agreements.c.ended_at.is_(None),
        )
    )
    return {(a, b) for a, b in rows}


def list_agreements(conn: Connection, op: Operator) -> list[dict[str, Any]]:
    query = select(agreements).order_by(agreements.c.points_of, agreements.c.usable_in)
    if op.municipality:
        query = query.where(
            or_(agreements.c.points_of == op.municipality, agreements.c.usable_in == op.municipality)
        )
    return [view(r) for r in conn.execute(query)]


def view(row: Any) -> dict[str, Any]:
    active = (
        row.points_of_recorded_at is not None
        and row.usable_in_recorded_at is not None
        and row.ended_at is None
    )
    return {
        "points_of": row.points_of,
        "usable_in": row.usable_in,
        "points_of_recorded_at": row.points_of_recorded_at,
        "usable_in_recorded_at": row.usable_in_recorded_at,
        "ended_at": row.ended_at,
        "ended_by": row.ended_by,
        "in_force": active,
    }


def _check_sides(conn: Connection, op: Operator, points_of: str, usable_in: str, by: str) -> None:
    if points_of == usable_in:
        raise MkpError("same_municipality", "a municipality's points are usable at home without an agreement")
    if by not in (points_of, usable_in):
        raise MkpError("not_a_party", f"{by} is neither {points_of} nor {usable_in}: only they record it")
    op.require_scope(by)
    get_municipality(conn, points_of)
    get_municipality(conn, usable_in)


def _row(conn: Connection, points_of: str, usable_in: str) -> Any:
    return conn.execute(
        select(agreements).where(agreements.c.points_of == points_of, agreements.c.usable_in == usable_in)
    ).first()
