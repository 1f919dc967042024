"""Configuring a town in the console: its terminals (enroll with a one-time code and its QR code,
watch, revoke) and its departments (budgets, grant kinds). Each action is the domain's own
service, called as the member of staff; only an admin changes anything here."""

from __future__ import annotations

import io
import uuid
from typing import Any

import qrcode
import qrcode.image.svg
from flask import Response, request
from markupsafe import Markup
from werkzeug.wrappers import Response as BaseResponse

from mkp_core.errors import MkpError
from mkp_core.i18n import N_
from server.console.blueprint import bp, me, staff_page
from server.console.resent import OTHER_VALUES, once_per_form, sent_key
from server.counter.service import statuses
from server.db.engine import read, run_write
from server.db.idempotency import once
from server.platform.places.service import list_places
from server.points.departments import service as departments
from server.site import gettext, render
from server.terminals import service as terminals
from server.web.context import engine

ENROLLMENT_HOURS = 72
#: A terminal's states, as the pages show them.
TERMINAL_STATES = (N_("pending"), N_("active"), N_("revoked"))


def qr_svg(text: str) -> Markup:
    """``text`` as a QR code, an inline SVG (paths only: no script, no style attribute)."""
    picture = qrcode.make(text, image_factory=qrcode.image.svg.SvgPathImage, box_size=8, border=2)
    out = io.BytesIO()
    picture.save(out)
    svg = out.getvalue().decode()
    return Markup(svg[svg.index("<svg") :])  # drawn here from our own text


def _terminals_page(status: int = 200, **shown: Any) -> Response:
    municipality = me().municipality
    with read(engine()) as conn:
        found = statuses(conn, municipality)
        places = list_places(conn, me())
    return render(
        "console/terminals.html",
        status=status,
        terminals=found,
        places=places,
        client_id=uuid.uuid4().hex,
        **shown,
    )


@bp.get("/terminals")
@staff_page
def terminals_page() -> Response:
    return _terminals_page()


@bp.post("/terminals")
@staff_page
def enroll_terminal() -> Response:
    """A pending terminal and its one-time code, shown once with a QR code a technician's phone
    carries to ``mkp-provision`` (a retry of the same form shows the terminal, not the code)."""
    member = me()
    member.require_admin()
    place, name = request.form.get("place", ""), request.form.get("name", "").strip()
    body = {"place": place, "name": name}

    def work(conn: Any) -> dict[str, Any]:
        reply, _ = once(
            conn,
            sent_key(),
            f"console.enrollment:{member.actor}",
            body,
            lambda: terminals.create_enrollment(conn, member, place, name or place, ENROLLMENT_HOURS),
            keep=terminals.enrollment_without_code,
        )
        return reply

    try:
        made = run_write(engine(), work)
    except MkpError as e:
        words = OTHER_VALUES if e.code == "idempotency_conflict" else e.message
        return _terminals_page(422, error=gettext(words))
    command = None
    if made.get("code"):
        command = f"mkp-provision --server {request.host_url.rstrip('/')} --code {made['code']}"
    return _terminals_page(201, enrolled=made, command=command, qr=qr_svg(command) if command else None)


@bp.post("/terminals/<terminal_id>/revoke")
@staff_page
def revoke_terminal(terminal_id: str) -> Response:
    member = me()
    member.require_admin()
    reason = request.form.get("reason", "").strip()[:200] or None
    run_write(engine(), lambda conn: terminals.revoke_terminal(conn, member, terminal_id, reason))
    return _terminals_page(200, revoked=terminal_id)


# --- departments, budgets, grant kinds ---------------------------------------------------------


def _departments_page(status: int = 200, error: str | None = None) -> Response:
    member = me()
    found: list[dict[str, Any]] = []
    if member.municipality is not None:
        with read(engine()) as conn:
            found = departments.list_departments(conn, member, member.municipality)
    return render("console/departments.html", status=status, departments=found, error=error)


@bp.get("/departments")
@staff_page
def departments_page() -> Response:
    return _departments_page()


def _require_department(department_id: str) -> None:
    """Another town's department is missing, whatever the form says (checked before the form)."""
    with read(engine()) as conn:
        departments.get_department(conn, department_id, me())


def _amount(name: str, required: bool = True) -> int | None:
    text = request.form.get(name, "").strip()
    if not text and not required:
        return None
    if not text.isdigit() or len(text) > 12:
        raise MkpError("invalid_amount", "points are a whole number, 0 or more")
    return int(text)


@bp.post("/departments")
@staff_page
def add_department() -> Response | BaseResponse:
    member = me()
    member.require_admin()
    try:
        budget = _amount("budget") or 0
        code, name = request.form.get("code", "").strip(), request.form.get("name", "").strip()
        once_per_form(
            "add_department",
            lambda conn: departments.add_department(
                conn, member, str(member.municipality), code, name, budget
            ),
        )
    except MkpError as e:
        return _departments_page(422, gettext(e.message))
    return _departments_page(201)


@bp.post("/departments/<department_id>/budget")
@staff_page
def set_budget(department_id: str) -> Response:
    member = me()
    member.require_admin()
    _require_department(department_id)
    try:
        budget = _amount("budget") or 0
        run_write(engine(), lambda conn: departments.set_budget(conn, member, department_id, budget))
    except MkpError as e:
        return _departments_page(422, gettext(e.message))
    return _departments_page()


@bp.post("/departments/<department_id>/grant-kinds")
@staff_page
def add_grant_kind(department_id: str) -> Response:
    member = me()
    member.require_admin()
    _require_department(department_id)
    try:
        most = _amount("max_amount", required=False)
        code, name = request.form.get("code", "").strip(), request.form.get("name", "").strip()
        once_per_form(
            f"add_grant_kind:{department_id}",
            lambda conn: departments.add_grant_kind(conn, member, department_id, code, name, most),
        )
    except MkpError as e:
        return _departments_page(422, gettext(e.message))
    return _departments_page(201)
