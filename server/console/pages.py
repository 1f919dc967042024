"""The console's pages: each a thin view over a domain service, called as the logged-in member of staff.

Joining needs no login (:func:`apply`, the invitation's page); everything else asks for one and
acts as :class:`server.staff.service.StaffMember`, so the services' own scope checks hold.
"""

from __future__ import annotations

from flask import Response, redirect, url_for
from werkzeug.wrappers import Response as BaseResponse

from mkp_core.errors import MkpError
from mkp_core.i18n import N_
from server.console.forms import ApplyForm
from server.db.engine import run_write
from server.site import gettext, page_blueprint, render
from server.staff import service as staff
from server.web.context import engine

bp = page_blueprint("console", __name__, url_prefix="/console")

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
            made = run_write(engine(), lambda conn: staff.apply(conn, application))
        except MkpError as e:
            form.municipality.errors = [gettext(APPLY_REFUSALS.get(e.code, e.message))]
            return render("console/apply.html", status=422, form=form)
        return redirect(url_for("console.applied", name=made["name"]), 303)
    return render("console/apply.html", status=422 if form.errors else 200, form=form)


@bp.get("/apply/sent")
def applied() -> Response:
    return render("console/applied.html")
