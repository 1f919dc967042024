"""The audit trail, the platform's applications to decide, and the town's staff with invitations."""

from __future__ import annotations

import uuid
from datetime import date

from flask import Response, request, url_for
from werkzeug.wrappers import Response as BaseResponse

from mkp_core.errors import MkpError
from mkp_core.i18n import N_
from server.console import trail
from server.console.blueprint import bp, central_only, me, staff_page
from server.console.resent import sent_key
from server.db.engine import read, run_write
from server.platform.mykey.card_checks import challenge_key
from server.points.departments.service import list_departments
from server.site import gettext, render
from server.staff import service as staff
from server.web.context import engine

ROLE_WORDS = (N_("admin"), N_("clerk"), N_("viewer"))


def _day(name: str) -> date | None:
    try:
        return date.fromisoformat(request.args.get(name, ""))
    except ValueError:
        return None


@bp.get("/audit")
@staff_page
def audit() -> Response:
    wanted = trail.TrailFilter(
        actor=request.args.get("actor") or None,
        what=(request.args.get("what") or "").strip()[:80] or None,
        since=_day("since"),
        until=_day("until"),
        before_id=request.args.get("before_id", type=int),
    )
    municipality = me().municipality
    with read(engine()) as conn:
        found = trail.entries(conn, municipality, wanted)
        who = trail.actors(conn, municipality)
    more = None
    if found["next_before_id"]:
        more = url_for("console.audit", **{**request.args.to_dict(), "before_id": found["next_before_id"]})
    return render("console/audit.html", found=found, actors=who, wanted=wanted, more=more)


@bp.get("/applications")
@staff_page
def applications() -> Response:
    central_only()
    with read(engine()) as conn:
        waiting = staff.list_applications(conn, me())
    return render("console/applications.html", applications=waiting, link=None)


@bp.post("/applications/<int:application_id>/approve")
@staff_page
def approve_application(application_id: int) -> Response:
    """Approve: the town is added and the link of its first admin is shown, this once."""
    central_only()
    approved = run_write(engine(), lambda conn: staff.approve(conn, me(), application_id))
    link = request.host_url.rstrip("/") + approved["invitation"]["path"]
    with read(engine()) as conn:
        waiting = staff.list_applications(conn, me())
    return render("console/applications.html", applications=waiting, link=link, approved=approved)


@bp.post("/applications/<int:application_id>/reject")
@staff_page
def reject_application(application_id: int) -> Response:
    """Refuse an application (the town may apply again)."""
    central_only()
    run_write(engine(), lambda conn: staff.reject(conn, me(), application_id))
    with read(engine()) as conn:
        waiting = staff.list_applications(conn, me())
    return render("console/applications.html", applications=waiting, link=None)


@bp.get("/staff")
@staff_page
def staff_list() -> Response:
    return _staff_page()


def _staff_page(status: int = 200, link: str | None = None, error: str | None = None) -> Response:
    member = me()
    if member.municipality is None:
        return render("console/staff.html", status=status, members=[], link=link, error=error)
    with read(engine()) as conn:
        members = staff.list_staff(conn, member, member.municipality)
    return render(
        "console/staff.html",
        status=status,
        members=members,
        link=link,
        error=error,
        client_id=uuid.uuid4().hex,
        departments=_department_ids(),
    )


def _department_ids() -> list[str]:
    member = me()
    if member.municipality is None:
        return []
    with read(engine()) as conn:
        return [str(d["id"]) for d in list_departments(conn, member, member.municipality)]


@bp.post("/staff")
@staff_page
def invite_staff() -> Response | BaseResponse:
    """An admin invites a member of staff: the one-time link is shown once, here."""
    member = me()
    member.require_admin()
    role = request.form.get("role", "")
    department = request.form.get("department", "").strip() or None
    try:
        token = staff.derived_token(challenge_key(), sent_key())
        made = run_write(
            engine(),
            lambda conn: staff.invite(conn, member, member.municipality, role, department, token=token),
        )
    except MkpError as e:
        return _staff_page(422, error=gettext(e.message))
    return _staff_page(201, link=request.host_url.rstrip("/") + made["path"])
