"""Municipalities join the platform by their MIC code; each gets its general point code."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Row, insert, select

from mkp_core.errors import Conflict, MkpError, NotFound
from mkp_core.ids import InvalidId, general_point_code
from mkp_core.municipalities import lookup_municipality
from server.ledger.tables import point_codes
from server.platform import config_versions
from server.platform.tables import municipalities


def add_municipality(conn: Connection, code: str) -> dict[str, Any]:
    """Add a municipality from MIC's list (the name comes from the list, never from the caller)."""
    try:
        info = lookup_municipality(code)
    except InvalidId as e:
        raise (NotFound if e.code == "unknown_municipality" else MkpError)(e.code, e.message) from None
    if conn.execute(select(municipalities.c.code).where(municipalities.c.code == code)).first():
        raise Conflict("municipality_exists", f"municipality {code} {info.name} has been added already")
    now = datetime.now(UTC)
    conn.execute(
        insert(municipalities).values(
            code=code,
            name=info.name,
            prefecture=info.prefecture,
            kana=info.kana,
            kind=info.kind,
            created_at=now,
        )
    )
    conn.execute(
        insert(point_codes).values(
            code=general_point_code(code),
            municipality_code=code,
            name=f"{info.name}ポイント",
            kind="general",
            created_at=now,
        )
    )
    config_versions.bump(conn, now)  # a new point code: terminals' configs list the spendable ones
    return get_municipality(conn, code)


def _row_to_dict(row: Row[Any]) -> dict[str, Any]:
    return {
        "code": row.code,
        "name": row.name,
        "prefecture": row.prefecture,
        "kana": row.kana,
        "kind": row.kind,
        "point_code": general_point_code(row.code),
        "created_at": row.created_at.isoformat(),
    }


def get_municipality(conn: Connection, code: str) -> dict[str, Any]:
    row = conn.execute(select(municipalities).where(municipalities.c.code == code)).first()
    if row is None:
        raise NotFound("unknown_municipality", f"municipality {code} has not been added")
    return _row_to_dict(row)


def list_municipalities(conn: Connection, only: str | None = None) -> list[dict[str, Any]]:
    query = select(municipalities).order_by(municipalities.c.code)
    if only is not None:
        query = query.where(municipalities.c.code == only)
    return [_row_to_dict(r) for r in conn.execute(query)]


def add_point_code(conn: Connection, municipality: str, suffix: str, name: str) -> dict[str, Any]:
    """An event's own points (a festival, a school's renovation), kept apart from the general ones."""
    get_municipality(conn, municipality)
    code = f"{municipality}-{suffix}"
    if conn.execute(select(point_codes.c.code).where(point_codes.c.code == code)).first():
        raise Conflict("point_code_exists", f"point code {code} exists already")
    conn.execute(
        insert(point_codes).values(
            code=code, municipality_code=municipality, name=name, kind="event", created_at=datetime.now(UTC)
        )
    )
    config_versions.bump(conn)  # spendable at the municipality's places by default: in their configs
    return list_point_codes(conn, municipality, only=code)[0]


def list_point_codes(conn: Connection, municipality: str, only: str | None = None) -> list[dict[str, Any]]:
    get_municipality(conn, municipality)
    query = (
        select(point_codes)
        .where(point_codes.c.municipality_code == municipality)
        .order_by(point_codes.c.code)
    )
    if only:
        query = query.where(point_codes.c.code == only)
    return [
        {
            "code": r.code,
            "municipality": r.municipality_code,
            "name": r.name,
            "kind": r.kind,
            "created_at": r.created_at,
        }
        for r in conn.execute(query)
    ]
