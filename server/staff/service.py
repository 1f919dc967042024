"""Municipal staff as principals: who they are, what their role lets them do, how they join.

Why staff are operators: every service already takes an :class:`Operator` and asks it
``covers(municipality)`` / ``require_scope``; a member of staff is an operator scoped to their
municipality (the platform's own staff: unscoped, like the central operator), so the existing
services and the authority rule (server/authority.py) apply to them unchanged, and another town's
objects look missing to them. What a role adds is checked here, before a service is called:

* ``admin``: everything of their municipality (configuring, grants, settlement, inviting staff);
* ``clerk``: grants of their own department only; reading the rest;
* ``viewer``: reading only; every change is refused.

Their changes reach the audit trail with ``staff:<id>`` as the actor (the trail's recording reads
the request's principal). Joining: a town applies (:func:`apply`), a central operator approves it
(:func:`approve`: the municipality is added and its first admin gets an invitation link), an admin
invites the rest (:func:`invite`). A link is a one-time token of server/logins (shown once, valid
72 hours, only its hash kept) whose subject is the invited member, made when they are invited and
joined when the link is used (:func:`accept`), with their login in the same transaction.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import Connection, String, and_, cast, insert, select, update
from sqlalchemy.exc import IntegrityError

from mkp_core.errors import Conflict, Forbidden, MkpError, NotFound
from mkp_core.ids import InvalidId
from mkp_core.municipalities import lookup_municipality
from server.db.engine import inserted_id
from server.logins import accounts, tokens
from server.logins.tables import login_accounts
from server.platform.municipalities.service import add_municipality
from server.platform.operators.service import Operator
from server.platform.tables import municipalities
from server.points.departments.service import get_department
from server.staff.tables import municipality_applications, staff_members

INVITATION_HOURS = 72
STAFF = "staff"  # the logins' kind of a staff member's account and invitation token
INVITATION = "invitation"
INVITATION_PATH = "/console/join/"
PENDING, APPROVED, REJECTED = "pending", "approved", "rejected"
EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,189}\.[^@\s.]{1,63}$")


class Role(StrEnum):
    ADMIN = "admin"
    CLERK = "clerk"
    VIEWER = "viewer"


@dataclass(frozen=True)
class StaffMember(Operator):
    """A member of staff acting through the console: an operator scoped to their town, with a role."""

    role: Role = Role.VIEWER
    department: str | None = None

    @property
    def actor(self) -> str:
        return f"staff:{self.id}"

    def require_change(self) -> None:
        """Refuse a viewer anything that changes state."""
        if self.role == Role.VIEWER:
            raise Forbidden("read_only", "a viewer can look but not change anything; ask an admin")

    def require_admin(self) -> None:
        """Refuse anyone but an admin (configuring, settlement, inviting staff)."""
        if self.role != Role.ADMIN:
            raise Forbidden("admin_only", "only an admin of the municipality may do this")

    def require_grants_of(self, department_id: str) -> None:
        """Refuse a viewer, and a clerk another department's grants."""
        self.require_change()
        if self.role == Role.CLERK and self.department != department_id:
            raise Forbidden(
                "other_department", f"a clerk grants only for their own department ({self.department})"
            )


def staff_member(conn: Connection, staff_id: int) -> StaffMember:
    """The active member of staff ``staff_id`` as a principal; ``NotFound`` if none (or disabled)."""
    row = conn.execute(
        select(staff_members).where(
            staff_members.c.id == staff_id,
            staff_members.c.joined_at.is_not(None),
            staff_members.c.disabled_at.is_(None),
        )
    ).first()
    if row is None:
        raise NotFound("unknown_staff", "this member of staff does not exist or was disabled")
    return StaffMember(row.id, f"staff:{row.id}", row.municipality_code, Role(row.role), row.department_id)


def list_staff(conn: Connection, op: Operator, municipality: str) -> list[dict[str, Any]]:
    """The staff of ``municipality``, with their login IDs (an operator of another town: refused)."""
    op.require_scope(municipality)
    login = login_accounts
    rows = conn.execute(
        select(staff_members, login.c.login_id)
        .outerjoin(login, and_(login.c.kind == STAFF, login.c.subject == cast(staff_members.c.id, String)))
        .where(staff_members.c.municipality_code == municipality)
        .order_by(staff_members.c.id)
    )
    return [
        {
            "id": r.id,
            "login_id": r.login_id,
            "role": r.role,
            "department": r.department_id,
            "invited_at": r.invited_at,
            "joined_at": r.joined_at,
            "disabled": r.disabled_at is not None,
        }
        for r in rows
    ]


# --- applications to join ------------------------------------------------------------------------


@dataclass(frozen=True)
class Application:
    municipality: str
    department: str
    contact_name: str
    contact_email: str


def apply(conn: Connection, application: Application, now: datetime | None = None) -> dict[str, Any]:
    """Record a town's application to join; refused for a code not on MIC's list, a town already
    on the platform, or one whose application waits already."""
    code = application.municipality.strip()
    try:
        info = lookup_municipality(code)
    except InvalidId as e:
        raise MkpError(e.code, e.message) from None
    _check_contact(application)
    if conn.execute(select(municipalities.c.code).where(municipalities.c.code == code)).first():
        raise Conflict("municipality_exists", f"{info.name} ({code}) is on the platform already")
    waiting = conn.execute(
        select(municipality_applications.c.id).where(
            municipality_applications.c.municipality_code == code,
            municipality_applications.c.status == PENDING,
        )
    ).first()
    if waiting is not None:
        raise Conflict(
            "application_pending", f"{info.name} ({code}) has applied already; it waits for approval"
        )
    result = conn.execute(
        insert(municipality_applications).values(
            municipality_code=code,
            department=application.department.strip(),
            contact_name=application.contact_name.strip(),
            contact_email=application.contact_email.strip(),
            status=PENDING,
            created_at=now or datetime.now(UTC),
        )
    )
    return get_application(conn, inserted_id(result))


def _check_contact(application: Application) -> None:
    for value, limit, what in (
        (application.department, 128, "department"),
        (application.contact_name, 128, "contact name"),
    ):
        if not value.strip() or len(value.strip()) > limit or not value.strip().isprintable():
            raise MkpError("invalid_application", f"the {what} must be 1-{limit} printable characters")
    if not EMAIL.match(application.contact_email.strip()):
        raise MkpError("invalid_email", "the contact's e-mail address is not valid (name@example.jp)")


def get_application(conn: Connection, application_id: int) -> dict[str, Any]:
    row = conn.execute(
        select(municipality_applications).where(municipality_applications.c.id == application_id)
    ).first()
    if row is None:
        raise NotFound("unknown_application", f"no application {application_id}")
    return _application(row)


def _application(row: Any) -> dict[str, Any]:
    info = lookup_municipality(row.municipality_code)
    return {
        "id": row.id,
        "municipality": row.municipality_code,
        "name": info.name,
        "prefecture": info.prefecture,
        "department": row.department,
        "contact_name": row.contact_name,
        "contact_email": row.contact_email,
        "status": row.status,
        "created_at": row.created_at,
        "decided_at": row.decided_at,
        "decided_by": row.decided_by,
    }


def list_applications(conn: Connection, op: Operator, status: str | None = PENDING) -> list[dict[str, Any]]:
    """Applications (the waiting ones by default), oldest first: the central operator's to decide."""
    op.require_central()
    query = select(municipality_applications).order_by(municipality_applications.c.id)
    if status is not None:
        query = query.where(municipality_applications.c.status == status)
    return [_application(r) for r in conn.execute(query)]


def pending_application_of(conn: Connection, code: str) -> int:
    """The waiting application of municipality ``code`` (what ``mkp-admin municipality approve`` names)."""
    found = conn.execute(
        select(municipality_applications.c.id).where(
            municipality_applications.c.municipality_code == code,
            municipality_applications.c.status == PENDING,
        )
    ).scalar()
    if found is None:
        raise NotFound("no_pending_application", f"municipality {code} has no application waiting")
    return int(found)


def approve(
    conn: Connection, op: Operator, application_id: int, now: datetime | None = None
) -> dict[str, Any]:
    """Approve a waiting application: add the municipality and invite its first admin.

    Steps: 1. only the central operator; 2. the application must be waiting (one decision each);
    3. the municipality is added from MIC's list; 4. it is marked approved; 5. an admin invitation
    is made for it, its link in the reply (shown once)."""
    op.require_central()
    when = now or datetime.now(UTC)
    application = get_application(conn, application_id)
    _decide(conn, op, application, APPROVED, when)
    add_municipality(conn, application["municipality"])
    invitation = invite(
        conn, op, application["municipality"], Role.ADMIN, None, when, application_id=application_id
    )
    return {**get_application(conn, application_id), "invitation": invitation}


def reject(
    conn: Connection, op: Operator, application_id: int, now: datetime | None = None
) -> dict[str, Any]:
    """Refuse a waiting application (the town may apply again)."""
    op.require_central()
    application = get_application(conn, application_id)
    _decide(conn, op, application, REJECTED, now or datetime.now(UTC))
    return get_application(conn, application_id)


def _decide(conn: Connection, op: Operator, application: dict[str, Any], status: str, when: datetime) -> None:
    changed = conn.execute(
        update(municipality_applications)
        .where(
            municipality_applications.c.id == application["id"],
            municipality_applications.c.status == PENDING,
        )
        .values(status=status, decided_at=when, decided_by=op.actor)
    ).rowcount
    if changed != 1:
        raise Conflict(
            "application_decided",
            f"the application of {application['name']} was {application['status']} already",
        )


# --- invitations ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Invited:
    """Whom an invitation makes: a role in a municipality (None: the platform's own staff)."""

    municipality: str | None
    role: Role
    department: str | None = None


def invite(
    conn: Connection,
    op: Operator,
    municipality: str | None,
    role: Role | str,
    department: str | None,
    now: datetime | None = None,
    application_id: int | None = None,
    token: str | None = None,
) -> dict[str, Any]:
    """Invite a member of staff: their one-time link's token (shown once; path ``/console/join/<token>``).

    An operator or admin of the municipality invites; a clerk needs a department of that town;
    ``municipality`` None invites one of the platform's own staff (central operator only).
    ``token``: the caller's (derived from its client id); one made before is answered as it was."""
    invited = _invited(conn, op, municipality, role, department)
    when = now or datetime.now(UTC)
    token = token or secrets.token_urlsafe(32)
    made = _invitation_made(conn, token, invited)
    if made is not None:
        return made
    staff_id = inserted_id(
        conn.execute(
            insert(staff_members).values(
                municipality_code=invited.municipality,
                role=invited.role.value,
                department_id=invited.department,
                application_id=application_id,
                invited_by=op.actor,
                invited_at=when,
            )
        )
    )
    try:
        with conn.begin_nested():
            tokens.issue_token(
                conn, INVITATION, STAFF, str(staff_id), timedelta(hours=INVITATION_HOURS), when, token
            )
    except IntegrityError:  # the same client id again, its link used already
        raise Conflict(
            "client_id_reused", "this invitation was used already; invite again with a new id"
        ) from None
    return _invitation_view(token, invited, when + timedelta(hours=INVITATION_HOURS))


def _invited(
    conn: Connection, op: Operator, municipality: str | None, role: Role | str, department: str | None
) -> Invited:
    """Check who may invite whom: the central operator anyone; a town's operator or admin its own."""
    checked = _role(role)
    if municipality is None:
        op.require_central()
        if checked != Role.ADMIN:
            raise MkpError("invalid_role", "the platform's own staff are admins")
    else:
        op.require_scope(municipality)
    if isinstance(op, StaffMember):
        op.require_admin()
    return Invited(municipality, checked, _department_for(conn, op, municipality, checked, department))


def _invitation_view(token: str, invited: Invited, expires: datetime) -> dict[str, Any]:
    return {
        "token": token,
        "path": INVITATION_PATH + token,
        "municipality": invited.municipality,
        "role": invited.role.value,
        "department": invited.department,
        "expires_at": expires,
    }


def _invitation_made(conn: Connection, token: str, invited: Invited) -> dict[str, Any] | None:
    """The invitation a retry of the same request made, as it was first answered."""
    found = tokens.peek_token(conn, INVITATION, token)
    if found is None:
        return None
    if _invited_as(conn, int(found.subject)) != invited:
        raise Conflict("client_id_reused", "this client id was used for another invitation; use a new one")
    return _invitation_view(token, invited, found.expires_at)


def _invited_as(conn: Connection, staff_id: int) -> Invited | None:
    row = conn.execute(select(staff_members).where(staff_members.c.id == staff_id)).first()
    if row is None:
        return None
    return Invited(row.municipality_code, Role(row.role), row.department_id)


def derived_token(secret: bytes, key: str) -> str:
    """The token of the invitation a caller's client id (``key``, in its namespace) makes: the
    same on a retry, unguessable without the server's secret, never stored in clear."""
    return hmac.new(secret, b"staff-invitation/" + key.encode(), hashlib.sha256).hexdigest()


def _role(role: Role | str) -> Role:
    try:
        return Role(role)
    except ValueError:
        raise MkpError("invalid_role", f"role must be one of {', '.join(r.value for r in Role)}") from None


def _department_for(
    conn: Connection, op: Operator, municipality: str | None, role: Role, department: str | None
) -> str | None:
    """A clerk's department (of the municipality; a code or a ``<municipality>-<code>`` id)."""
    if role != Role.CLERK:
        if department:
            raise MkpError("department_for_clerks", "only a clerk belongs to a department")
        return None
    if not department:
        raise MkpError("department_required", "a clerk needs --department (the department's code)")
    department_id = (
        department if department.startswith(f"{municipality}-") else f"{municipality}-{department}"
    )
    return str(get_department(conn, department_id, op)["id"])


def invitation(conn: Connection, token: str, now: datetime | None = None) -> Invited:
    """Whom a still valid invitation makes (for its page); ``NotFound`` for a used, expired or
    unknown one, all in the same words."""
    found = tokens.peek_token(conn, INVITATION, token, now)
    invited = _invited_as(conn, int(found.subject)) if found is not None and found.kind == STAFF else None
    if invited is None:
        raise invitation_not_valid()
    return invited


def accept(
    conn: Connection, token: str, login_id: str, password: str, now: datetime | None = None
) -> tuple[StaffMember, accounts.Account]:
    """Use an invitation once: the member of staff joins with this login ID and password (their
    logins account, made in the same transaction); ``NotFound`` for a link not valid."""
    when = now or datetime.now(UTC)
    used = tokens.use_token(conn, INVITATION, token, when)
    if used is None or used.kind != STAFF:
        raise invitation_not_valid()
    account = accounts.create_account(conn, STAFF, used.subject, login_id, password)
    conn.execute(update(staff_members).where(staff_members.c.id == int(used.subject)).values(joined_at=when))
    return staff_member(conn, int(used.subject)), account


def invitation_not_valid() -> NotFound:
    return NotFound(
        "invitation_not_valid",
        "this invitation link is not valid (used, expired or mistyped); ask your admin for a new one",
    )
