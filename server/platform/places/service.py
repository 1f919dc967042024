"""Places: where terminals stand and points are spent, each of one municipality (and, if its
terminals look cards up for one, of one MyKey service).

Every point domain asks a place for its municipality; terminals are enrolled at one. It lives
on the platform so both stand on it: the terminal registry above, the point rules beside.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Row, insert, select

from mkp_core.errors import Conflict, NotFound
from server.platform import config_versions
from server.platform.municipalities.service import get_municipality
from server.platform.operators.service import Operator
from server.platform.tables import places, services


def add_place(
    conn: Connection,
    op: Operator,
    place_id: str,
    name: str,
    kind: str,
    municipality: str,
    street: str | None,
    service: str | None = None,
) -> dict[str, Any]:
    """A place at ``municipality``; ``service``: the MyKey service its terminals look cards up for."""
    op.require_scope(municipality)
    get_municipality(conn, municipality)
    if service is not None:
        _require_service(conn, service, op)
    if conn.execute(select(places.c.id).where(places.c.id == place_id)).first():
        raise Conflict("place_exists", f"place {place_id} exists already")
    conn.execute(
        insert(places).values(
            id=place_id,
            name=name,
            kind=kind,
            municipality_code=municipality,
            street=street,
            service_code=service,
            created_at=datetime.now(UTC),
        )
    )
    config_versions.bump(conn)  # a place is what a terminal's config is computed for
    return get_place(conn, place_id)


def _require_service(conn: Connection, code: str, op: Operator) -> None:
    row = conn.execute(select(services.c.municipality_code).where(services.c.code == code)).first()
    if row is None or not op.covers(row.municipality_code):
        raise NotFound("unknown_service", f"no service {code}: add it first (mkp-admin service add)")


def get_place(conn: Connection, place_id: str, op: Operator | None = None) -> dict[str, Any]:
    """A place; with ``op``, only one of the operator's municipality (another's: ``unknown_place``)."""
    row = conn.execute(select(places).where(places.c.id == place_id)).first()
    if row is None or (op is not None and not op.covers(row.municipality_code)):
        raise NotFound("unknown_place", f"no place {place_id}")
    return _place(row)


def list_places(conn: Connection, op: Operator) -> list[dict[str, Any]]:
    query = select(places).order_by(places.c.id)
    if op.municipality:
        query = query.where(places.c.municipality_code == op.municipality)
    return [_place(r) for r in conn.execute(query)]


def _place(row: Row[Any]) -> dict[str, Any]:
    return {
        "id": row.id,
        "name": row.name,
        "kind": row.kind,
        "municipality": row.municipality_code,
        "street": row.street,
        "service": row.service_code,
        "created_at": row.created_at,
    }
