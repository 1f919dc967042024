"""Joining and logging in: the console's pages a visitor without a login may see.

A town applies (:func:`apply`); the link of an invitation sets the member's login ID and password
(:func:`join`), then may add a passkey on their account page; staff log in (:func:`login`) and out. Everything else asks for a staff login
(``blueprint.staff_page``).
"""

from __future__ import annotations

from flask import Response, redirect, request, url_for
from werkzeug.wrappers import Response as BaseResponse

from mkp_core.errors import MkpError
from mkp_core.i18n import N_
from server import logins
from server.console.blueprint import bp
from server.console.forms import ApplyForm, JoinForm, LoginForm
from server.db.engine import read, run_write
from server.site import gettext, render
from server.staff import service as staff
from server.web.context import engine

#: What an applicant reads when the application is refused, by the refusal's code.
APPLY_REFUSALS = {
    "bad_check_digit": N_("This code's check digit is wrong: check the six digits."),
    "unknown_municipality": N_("No municipality has this code in the MIC list."),
    "municipality_exists": N_("This municipality is on the platform already."),
    "application_pending": N_("This municipality has applied already; the application waits for approval."),
}


@bp.route("/apply", methods=["GET", "POST"])
def apply() -> Response | BaseResponse:
    """A municipality applies to join (no login: the town has none yet)."""
    form = ApplyForm()
    if form.validate_on_submit():
        application = staff.Application(
            form.municipality.data or "",
            form.department.data or "",
            form.contact_name.data or "",
            form.contact_email.data or "",
        )
        try:
            run_write(engine(), lambda conn: staff.apply(conn, application))
        except MkpError as e:
            form.municipality.errors = [gettext(APPLY_REFUSALS.get(e.code, e.message))]
            return render("console/apply.html", status=422, form=form)
        return redirect(url_for("console.applied"), 303)
    return render("console/apply.html", status=422 if form.errors else 200, form=form)


@bp.get("/apply/sent")
def applied() -> Response:
    return render("console/applied.html")


@bp.route("/join/<token>", methods=["GET", "POST"])
def join(token: str) -> Response | BaseResponse:
    """An invitation's link: the new member chooses a login ID and password, and is logged in."""
    with read(engine()) as conn:
        invited = staff.invitation(conn, token)
    form = JoinForm()
    if form.validate_on_submit():
        login_id, password = form.login_id.data or "", form.password.data or ""
        try:
            _, account = run_write(engine(), lambda conn: staff.accept(conn, token, login_id, password))
        except MkpError as e:
            form.login_id.errors = [gettext(e.message)]
            return render("console/join.html", status=422, form=form, invited=invited)
        logins.log_in(account)
        return redirect(url_for("console.account", joined=1), 303)
    return render("console/join.html", status=422 if form.errors else 200, form=form, invited=invited)


@bp.route("/login", methods=["GET", "POST"])
def login() -> Response | BaseResponse:
    form = LoginForm()
    if form.validate_on_submit():
        try:
            logins.log_in_by_password(staff.STAFF, form.login_id.data or "", form.password.data or "")
        except MkpError as e:
            form.password.errors = [gettext(e.message)]
            return render("console/login.html", status=401, form=form)
        return redirect(next_page(), 303)
    return render("console/login.html", status=422 if form.errors else 200, form=form)


def next_page() -> str:
    """Where a login goes: the console page the visitor was sent from, never another site."""
    target = request.args.get("next") or ""
    if target.startswith("/console/") and not target.startswith("//"):
        return target
    return url_for("console.dashboard")


@bp.post("/logout")
def logout() -> BaseResponse:
    logins.log_out(staff.STAFF)
    return redirect(url_for("console.login"), 303)
