"""Partner member numbers linked to MyKey IDs (online ID linkage).

A link belongs to the member, so both sides must vouch for it, and the partner's side must be
the member's own: the holder asks with their card (which proves the MyKey side), naming the
partner and their member number, and gets a one-time **link code** (``mkp_core.link_code``,
shown once, kept here as its hash, valid ``link_code.VALIDITY_DAYS``). The member gives the code
to the partner in the partner's own site or app, where the partner knows its member from its own
login, and the partner confirms the member number *with that code*. A member number proves
nothing about who asks for it, so several holders' requests may wait for one member number;
only the one whose code the partner presents becomes the link (the others are dropped). Someone
who asked for another person's number first never sees that person's code, so never gets their
link, nor the points the partner converts for them.

Wrong codes are refused (``wrong_link_code``; ``invalid_link_code`` and ``link_code_typo`` for what
is no code at all) and counted per partner member number by ``server.partners.throttle``. Only an
``active`` link lets the partner convert points for a member. A member number is linked to one
MyKey ID at a partner, and a MyKey ID to one member number there (one request or link a holder).
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, String, bindparam, delete, func, insert, select, update

from mkp_core import link_code
from mkp_core.errors import Conflict, MkpError, NotFound
from server.db.engine import chunked
from server.ledger.tables import mykeys, point_codes
from server.partners import throttle
from server.partners.registry import Partner
from server.partners.tables import partner_links
from server.platform.mykey.registry import MyKey, from_row

PENDING = "pending"
ACTIVE = "active"
CODE_VALIDITY = timedelta(days=link_code.VALIDITY_DAYS)


def _view(row: Any) -> dict[str, Any]:
    return {
        "partner": row.partner_id,
        "member": row.member,
        "status": row.status,
        "created_at": row.created_at,
        "confirmed_at": row.confirmed_at,
        "code_expires_at": row.code_expires_at if row.status == PENDING else None,
    }


def without_code(reply: dict[str, Any]) -> dict[str, Any]:
    """What is stored for a retry of the request: not its link code (shown once)."""
    return {**reply, "link_code": None}


def _row(conn: Connection, partner_id: str, **where: Any) -> Any:
    query = select(partner_links).where(partner_links.c.partner_id == partner_id)
    for column, value in where.items():
        query = query.where(partner_links.c[column] == value)
    return conn.execute(query).first()


def request_link(
    conn: Connection, holder: MyKey, partner: Partner, member: str, now: datetime | None = None
) -> dict[str, Any]:
    """The holder asks to link ``member`` at ``partner``: pending until the partner confirms it with
    the link code in this answer (``link_code``, shown once). Asking again replaces the holder's own
    pending request (another member number, or a new code for a lost one); a link already active
    is answered as it is."""
    now = now or datetime.now(UTC)
    mine = _row(conn, partner.id, mykey=holder.number)
    if mine is not None and mine.status == ACTIVE:
        if mine.member == member:
            return {**_view(mine), "link_code": None}
        raise Conflict(
            "partner_already_linked",
            f"this MyKey ID is linked to another member number at {partner.id} already",
        )
    if _row(conn, partner.id, member=member, status=ACTIVE) is not None:
        raise Conflict("member_taken", f"member {member} at {partner.id} is linked to another MyKey ID")
    code = link_code.new_code()
    values = {
        "member": member,
        "status": PENDING,
        "created_at": now,
        "confirmed_at": None,
        "code_hash": link_code.digest(code),
        "code_expires_at": now + CODE_VALIDITY,
    }
    if mine is None:
        conn.execute(insert(partner_links).values(partner_id=partner.id, mykey=holder.number, **values))
    else:
        conn.execute(update(partner_links).where(partner_links.c.id == mine.id).values(**values))
    return {**_view(_row(conn, partner.id, mykey=holder.number)), "link_code": code}


def confirm(
    conn: Connection, partner: Partner, member: str, typed_code: str, now: datetime | None = None
) -> dict[str, Any]:
    """The partner confirms ``member``'s link with the link code the member gave it: the request
    that code belongs to becomes the link; confirming again with it changes nothing. Wrong codes
    are counted per member number (:func:`throttle.counted`): the caller keeps the refusal with
    :func:`throttle.refusal_kept`."""
    now = now or datetime.now(UTC)
    return throttle.counted(
        conn, f"link:{partner.id}:{member}", now, lambda: _confirm(conn, partner, member, typed_code, now)
    )


def _confirm(
    conn: Connection, partner: Partner, member: str, typed_code: str, now: datetime
) -> dict[str, Any]:
    rows = conn.execute(
        select(partner_links)
        .where(partner_links.c.partner_id == partner.id, partner_links.c.member == member)
        .order_by(partner_links.c.id)
        .with_for_update()
    ).all()
    if not rows:
        raise NotFound("member_not_linked", f"no holder asked to link member {member} at {partner.id}")
    try:
        digest = link_code.digest(typed_code)
    except link_code.LinkCodeError as e:
        raise throttle.WrongCode(e.code, e.message) from None
    row = next((r for r in rows if r.code_hash and hmac.compare_digest(r.code_hash, digest)), None)
    active = next((r for r in rows if r.status == ACTIVE), None)
    if active is not None and row is not active:
        raise Conflict(
            "member_taken",
            f"member {member} at {partner.id} is linked to a MyKey ID already, by another link code",
        )
    if row is None:
        raise throttle.WrongCode(
            "wrong_link_code",
            f"this is not the link code of a request to link member {member} at {partner.id}: "
            "ask the member for the code their request with the card gave them",
        )
    if row.status == ACTIVE:
        return _view(row)
    if row.code_expires_at <= now:
        raise Conflict(
            "link_code_expired",
            f"this link code expired at {row.code_expires_at:%Y-%m-%d %H:%M} UTC: the member asks "
            "again with their card for a new one",
        )
    conn.execute(
        update(partner_links).where(partner_links.c.id == row.id).values(status=ACTIVE, confirmed_at=now)
    )
    conn.execute(  # the other requests for this member number: never to become a link
        delete(partner_links).where(
            partner_links.c.partner_id == partner.id,
            partner_links.c.member == member,
            partner_links.c.id != row.id,
        )
    )
    return _view(_row(conn, partner.id, id=row.id))


_LINKS = (
    select(mykeys, partner_links.c.member, partner_links.c.status.label("link_status"))
    .join(partner_links, partner_links.c.mykey == mykeys.c.id)
    .where(partner_links.c.partner_id == bindparam("partner"))
)
_LINKED = _LINKS.where(partner_links.c.member.in_(bindparam("members", expanding=True)))
_LINKED_TO = _LINKS.add_columns(
    select(point_codes.c.code)
    .where(
        point_codes.c.code
        == func.coalesce(bindparam("destination", type_=String), mykeys.c.home_municipality)
    )
    .scalar_subquery()
    .label("destination_known")
).where(partner_links.c.member == bindparam("member"))
_LINKED_ONE = _LINKS.where(partner_links.c.member == bindparam("member"))
"""One member's (a single conversion's): a plain equality that SQLAlchemy keeps compiled, where an
expanding ``IN`` is finished for each call."""


def linked_holder_to(
    conn: Connection, partner: Partner, member: str, destination: str | None
) -> tuple[MyKey, bool]:
    """The MyKey ID of ``member``'s confirmed link (or why points cannot go to them), and whether the
    point code points would go to (``destination``, else the holder's home municipality) is one the
    platform has: one statement for a single conversion."""
    row = conn.execute(
        _LINKED_TO, {"partner": partner.id, "member": member, "destination": destination}
    ).first()
    found = _holder(partner, member, row)
    if isinstance(found, MkpError):
        raise found
    return found, row is not None and row.destination_known is not None


def linked_holders(conn: Connection, partner: Partner, members: Iterable[str]) -> dict[str, MyKey | MkpError]:
    """Each member's MyKey ID, or the refusal of points for them (a batch's members: one query a chunk)."""
    rows: dict[str, Any] = {}
    wanted = sorted(set(members))
    if len(wanted) == 1:
        rows.update(
            {r.member: r for r in conn.execute(_LINKED_ONE, {"partner": partner.id, "member": wanted[0]})}
        )
    else:
        for part in chunked(wanted):
            found = conn.execute(_LINKED, {"partner": partner.id, "members": list(part)})
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
