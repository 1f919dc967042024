"""Partner member numbers linked to MyKey IDs (online ID linkage).

Both sides must vouch for a link: the holder asks with their card (which proves the MyKey side),
naming the partner and their member number; the link waits, ``pending``, until the partner
confirms through its signed API that the member number is that member (the partner knows its own
member from its own login). Only an ``active`` link lets the partner convert points for a member.
A member number links to one MyKey ID at a partner, and a MyKey ID to one member number there.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, insert, select, update

from mkp_core.errors import Conflict, MkpError, NotFound
from server.db.engine import chunked
from server.db.tables import mykeys, partner_links
from server.mykey.registry import MyKey, from_row
from server.partners.registry import Partner

PENDING = "pending"
ACTIVE = "active"


def _view(row: Any) -> dict[str, Any]:
    return {
        "partner": row.partner_id,
        "member": row.member,
        "status": row.status,
        "created_at": row.created_at,
        "confirmed_at": row.confirmed_at,
    }


def _row(conn: Connection, partner_id: str, **where: Any) -> Any:
    query = select(partner_links).where(partner_links.c.partner_id == partner_id)
    for column, value in where.items():
        query = query.where(partner_links.c[column] == value)
    return conn.execute(query).first()


def request_link(conn: Connection, holder: MyKey, partner: Partner, member: str) -> dict[str, Any]:
    """The holder asks to link ``member`` at ``partner`` (pending until the partner confirms)."""
    mine = _row(conn, partner.id, mykey=holder.number)
    if mine is not None:
        if mine.member == member:
            return _view(mine)
        raise Conflict(
            "partner_already_linked",
            f"this MyKey ID is linked to another member number at {partner.id} already",
        )
    if _row(conn, partner.id, member=member) is not None:
        raise Conflict("member_taken", f"member {member} at {partner.id} is linked to another MyKey ID")
    conn.execute(
        insert(partner_links).values(
            partner_id=partner.id,
            member=member,
            mykey=holder.number,
            status=PENDING,
            created_at=datetime.now(UTC),
        )
    )
    return _view(_row(conn, partner.id, member=member))


def confirm(conn: Connection, partner: Partner, member: str) -> dict[str, Any]:
    """The partner confirms ``member``'s pending link (confirming again changes nothing)."""
    row = _row(conn, partner.id, member=member)
    if row is None:
        raise NotFound("member_not_linked", f"no holder asked to link member {member} at {partner.id}")
    if row.status == PENDING:
        conn.execute(
            update(partner_links)
            .where(partner_links.c.id == row.id)
            .values(status=ACTIVE, confirmed_at=datetime.now(UTC))
        )
        row = _row(conn, partner.id, member=member)
    return _view(row)


def linked_holder(conn: Connection, partner: Partner, member: str) -> MyKey:
    """The MyKey ID of ``member``'s confirmed link, or why points cannot go to them."""
    found = linked_holders(conn, partner, [member])[member]
    if isinstance(found, MkpError):
        raise found
    return found


def linked_holders(conn: Connection, partner: Partner, members: Iterable[str]) -> dict[str, MyKey | MkpError]:
    """Each member's MyKey ID, or the refusal of points for them (a batch's members: one query a chunk)."""
    rows: dict[str, Any] = {}
    wanted = sorted(set(members))
    for part in chunked(wanted):
        found = conn.execute(
            select(mykeys, partner_links.c.member, partner_links.c.status.label("link_status"))
            .join(partner_links, partner_links.c.mykey == mykeys.c.id)
            .where(partner_links.c.partner_id == partner.id, partner_links.c.member.in_(part))
        )
        rows.update({r.member: r for r in found})
    return {m: _holder(partner, m, rows.get(m)) for m in wanted}


def _holder(partner: Partner, member: str, row: Any) -> MyKey | MkpError:
    if row is None:
        return NotFound(
            "member_not_linked",
            f"member {member} has not linked a MyKey ID at {partner.id}: the holder links it with their card first",
        )
    if row.link_status != ACTIVE:
        return Conflict(
            "link_not_confirmed",
            f"member {member}'s link at {partner.id} waits for the partner's confirmation",
        )
    return from_row(row)
