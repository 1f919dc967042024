"""Services and service IDs: the platform's ID linkage table, and the lookup that reads it.

A service (shopping street A1, library A2) belongs to a municipality; places belong to a service.
A holder links their number at a service to their MyKey ID (A1 → 789), one per service. A service
may require its staff to confirm each link at one of its terminals (the library looks at its own
card first): until then the link is pending and a lookup does not answer it.

The lookup answers a terminal of service A1 with A1's ID for the card and nothing else, and it
writes nothing: no row, no log line. A ``point-cloud`` service is the municipal point cloud
itself, whose terminals are told the MyKey ID.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, and_, bindparam, delete, insert, select, update

from mkp_core.errors import Conflict, Forbidden, NotFound
from mkp_core.ids import POINT_CLOUD_KIND
from server.platform.municipalities.service import get_municipality
from server.platform.mykey.registry import MyKey
from server.platform.operators.service import Operator
from server.platform.tables import places, service_links, services, terminals

LinkActivated = Callable[[Connection, int, str, str, datetime | None], object]
"""Told when a holder's link becomes active, in its transaction: (connection, MyKey row, service
code, the holder's number at the service, when or None for now)."""

_when_active: list[LinkActivated] = []


def when_link_active(listener: LinkActivated) -> None:
    """Call ``listener`` each time a link becomes active, in the same transaction, once however
    often it is registered. A domain above the platform registers so (the shopping-street points
    credit a member's old balance): the platform never imports it."""
    if listener not in _when_active:
        _when_active.append(listener)


def _link_activated(
    conn: Connection, mykey: int, service_code: str, local_id: str, now: datetime | None = None
) -> None:
    for listener in _when_active:
        listener(conn, mykey, service_code, local_id, now)


PENDING = "pending"
ACTIVE = "active"


# --- services (operators) ----------------------------------------------------------------------


def add_service(
    conn: Connection,
    op: Operator,
    code: str,
    name: str,
    kind: str,
    municipality: str,
    confirm_links: bool,
) -> dict[str, Any]:
    op.require_scope(municipality)
    if kind == POINT_CLOUD_KIND:
        op.require_central()  # its terminals learn MyKey IDs
    get_municipality(conn, municipality)
    if conn.execute(select(services.c.code).where(services.c.code == code)).first():
        raise Conflict("service_exists", f"service {code} exists already")
    conn.execute(
        insert(services).values(
            code=code,
            name=name,
            kind=kind,
            municipality_code=municipality,
            confirm_links=confirm_links,
            created_at=datetime.now(UTC),
        )
    )
    return get_service(conn, code)


def get_service(conn: Connection, code: str) -> dict[str, Any]:
    row = conn.execute(select(services).where(services.c.code == code)).first()
    if row is None:
        raise NotFound("unknown_service", f"no service {code}")
    return _service(row)


def list_services(conn: Connection, op: Operator | None = None) -> list[dict[str, Any]]:
    query = select(services).order_by(services.c.code)
    if op is not None and op.municipality:
        query = query.where(services.c.municipality_code == op.municipality)
    return [_service(r) for r in conn.execute(query)]


def _service(row: Any) -> dict[str, Any]:
    return {
        "code": row.code,
        "name": row.name,
        "kind": row.kind,
        "municipality": row.municipality_code,
        "confirm_links": bool(row.confirm_links),
        "created_at": row.created_at,
    }


# Built once: these run on every lookup.
_SERVICE_OF_TERMINAL = (
    select(services)
    .join(places, places.c.service_code == services.c.code)
    .join(terminals, terminals.c.place_id == places.c.id)
    .where(terminals.c.id == bindparam("terminal_id"))
)
_LINK = select(service_links.c.local_id, service_links.c.status).where(
    service_links.c.mykey == bindparam("mykey"), service_links.c.service_code == bindparam("service")
)


def service_of_terminal(conn: Connection, terminal_id: str) -> dict[str, Any]:
    """The service whose terminal ``terminal_id`` is (through its place), or ``no_service``."""
    row = conn.execute(_SERVICE_OF_TERMINAL, {"terminal_id": terminal_id}).first()
    if row is None:
        raise Forbidden("no_service", "this terminal's place belongs to no service: ask the operator")
    return _service(row)


# --- links (the holder, and the service's staff) ------------------------------------------------


def link(conn: Connection, holder: MyKey, service_code: str, local_id: str) -> dict[str, Any]:
    """Link ``local_id`` at ``service_code`` to ``holder`` (pending if the service confirms links)."""
    holder.require_active()
    service = get_service(conn, service_code)
    if service["kind"] == POINT_CLOUD_KIND:
        raise Conflict("not_linkable", f"{service_code} is the point cloud: it knows the MyKey ID already")
    existing = _link_row(conn, holder, service_code)
    if existing is not None:
        if existing.local_id == local_id:
            return _link(service, existing)  # linked so already: nothing to do
        raise Conflict(
            "already_linked",
            f"MyKey ID {holder.mykey_id} is linked to {service_code} already: unlink it first",
        )
    _refuse_taken(conn, service_code, local_id)
    status = PENDING if service["confirm_links"] else ACTIVE
    now = datetime.now(UTC)
    conn.execute(
        insert(service_links).values(
            mykey=holder.number,
            service_code=service_code,
            local_id=local_id,
            status=status,
            created_at=now,
            confirmed_at=None if status == PENDING else now,
        )
    )
    if status == ACTIVE:
        _link_activated(conn, holder.number, service_code, local_id, now)  # a street's old balance
    return _link(service, _link_row(conn, holder, service_code))


def _refuse_taken(conn: Connection, service_code: str, local_id: str) -> None:
    """One holder per number at a service: an active link by someone else refuses a second."""
    taken = conn.execute(
        select(service_links.c.mykey).where(
            service_links.c.service_code == service_code,
            service_links.c.local_id == local_id,
            service_links.c.status == ACTIVE,
        )
    ).first()
    if taken is not None:
        raise Conflict(
            "service_id_taken",
            f"{service_code} ID {local_id} is linked to another MyKey ID: ask {service_code} to check",
        )


def unlink(conn: Connection, holder: MyKey, service_code: str) -> dict[str, Any]:
    """Remove ``holder``'s link to ``service_code`` (relinking is allowed afterwards)."""
    holder.require_active()
    service = get_service(conn, service_code)
    existing = _link_row(conn, holder, service_code)
    if existing is None:
        raise NotFound("not_linked", f"MyKey ID {holder.mykey_id} has no link to {service_code}")
    conn.execute(
        delete(service_links).where(
            and_(service_links.c.mykey == holder.number, service_links.c.service_code == service_code)
        )
    )
    return {**_link(service, existing), "status": "removed"}


def confirm(conn: Connection, holder: MyKey, service: dict[str, Any]) -> dict[str, Any]:
    """The service's staff confirm the holder's pending link at one of the service's terminals."""
    holder.require_active()
    existing = _link_row(conn, holder, service["code"])
    if existing is None:
        raise NotFound("not_linked", f"this card has no link to {service['code']} to confirm")
    if existing.status == ACTIVE:
        return _link(service, existing)
    _refuse_taken(conn, service["code"], existing.local_id)
    conn.execute(
        update(service_links)
        .where(service_links.c.mykey == holder.number, service_links.c.service_code == service["code"])
        .values(status=ACTIVE, confirmed_at=datetime.now(UTC))
    )
    _link_activated(conn, holder.number, service["code"], existing.local_id)  # a street's old balance
    return _link(service, _link_row(conn, holder, service["code"]))


def links_of(conn: Connection, holder: MyKey) -> list[dict[str, Any]]:
    rows = conn.execute(
        select(service_links, services.c.name, services.c.kind)
        .join(services, services.c.code == service_links.c.service_code)
        .where(service_links.c.mykey == holder.number)
        .order_by(service_links.c.service_code)
    )
    return [
        {
            "service": r.service_code,
            "name": r.name,
            "kind": r.kind,
            "local_id": r.local_id,
            "status": r.status,
        }
        for r in rows
    ]


def _link_row(conn: Connection, holder: MyKey, service_code: str) -> Any:
    return conn.execute(
        select(service_links).where(
            service_links.c.mykey == holder.number, service_links.c.service_code == service_code
        )
    ).first()


def _link(service: dict[str, Any], row: Any) -> dict[str, Any]:
    return {
        "service": service["code"],
        "name": service["name"],
        "kind": service["kind"],
        "local_id": row.local_id,
        "status": row.status,
    }


# --- the lookup ----------------------------------------------------------------------------------


def lookup(conn: Connection, holder: MyKey, service: dict[str, Any]) -> dict[str, str]:
    """``service``'s ID for ``holder`` and nothing else (the MyKey ID only for the point cloud)."""
    holder.require_active()
    if service["kind"] == POINT_CLOUD_KIND:
        return {"service": service["code"], "service_id": holder.mykey_id}
    row = conn.execute(_LINK, {"mykey": holder.number, "service": service["code"]}).first()
    if row is None:
        raise NotFound("not_linked", f"this card has no {service['code']} ID linked")
    if row.status != ACTIVE:
        raise Conflict(
            "link_pending", f"the {service['code']} link waits for {service['name']}'s staff to confirm it"
        )
    return {"service": service["code"], "service_id": row.local_id}
