"""Settlement and the connection test in the console: close a month, download its statement in
Shift_JIS; schedule a connection test, watch it fill up, read which terminals stayed silent."""

from __future__ import annotations

from datetime import datetime

from flask import Response, redirect, request, url_for
from werkzeug.wrappers import Response as BaseResponse

from mkp_core import settlement_export
from mkp_core.dates import JST
from mkp_core.errors import MkpError
from mkp_core.i18n import N_
from server.conntest import service as conntest
from server.console.blueprint import bp, me, staff_page
from server.console.resent import once_per_form
from server.db.engine import read
from server.settlement import service as settlement
from server.site import gettext, render
from server.web.context import engine

#: A connection test's states, as the pages show them.
STATE_WORDS = (N_("scheduled"), N_("running"), N_("closed"))


def _settlement_page(status: int = 200, error: str | None = None, done: str | None = None) -> Response:
    with read(engine()) as conn:
        closes = settlement.list_closes(conn, me(), None)["closes"]
    return render("console/settlement.html", status=status, closes=closes, error=error, done=done)


@bp.get("/settlement")
@staff_page
def settlement_page() -> Response:
    return _settlement_page()


@bp.post("/settlement")
@staff_page
def close_month() -> Response | BaseResponse:
    """Close a month (admins): its statement is fixed from then on."""
    me().require_admin()
    period = request.form.get("period", "").strip()
    try:
        once_per_form("close_month", lambda conn: settlement.close(conn, me(), period, me().municipality))
    except MkpError as e:
        return _settlement_page(422, gettext(e.message))
    return redirect(url_for("console.settlement_page", closed=period), 303)


@bp.get("/settlement/<period>.csv")
@staff_page
def statement_file(period: str) -> Response:
    """The month's statement as the accounting software reads it: CSV in Shift_JIS, CRLF."""
    with read(engine()) as conn:
        statements = settlement.statements(conn, me(), period, me().municipality)
    body = settlement_export.export(statements, "csv-sjis")
    response = Response(body, mimetype="text/csv; charset=shift_jis")
    response.headers["Content-Disposition"] = f'attachment; filename="statement-{period}.csv"'
    return response


@bp.get("/conntests")
@staff_page
def conntests() -> Response:
    return _conntests_page()


def _conntests_page(status: int = 200, error: str | None = None) -> Response:
    with read(engine()) as conn:
        tests = conntest.list_tests(conn, me())
    return render("console/conntests.html", status=status, tests=tests, error=error)


@bp.post("/conntests")
@staff_page
def schedule_conntest() -> Response | BaseResponse:
    """Schedule a test of the town's terminals (admins), at a time given in Japan time."""
    me().require_admin()
    try:
        starts = datetime.fromisoformat(request.form.get("starts_at", "")).replace(tzinfo=JST)
        window = int(request.form.get("window_seconds", "600"))
    except ValueError:
        return _conntests_page(422, gettext("Give the start as a date and time, and the window in seconds."))
    try:
        made = once_per_form(
            "schedule_conntest",
            lambda conn: conntest.schedule(conn, me(), starts, window, me().municipality),
            lambda test: {"id": test["id"]},
        )
    except MkpError as e:
        return _conntests_page(422, gettext(e.message))
    return redirect(url_for("console.conntest_page", test_id=made["id"]), 303)


@bp.get("/conntests/<int:test_id>")
@staff_page
def conntest_page(test_id: int) -> Response:
    """A test as it runs: reported of expected, failures by reason, the silent terminals."""
    with read(engine()) as conn:
        conntest.get_test(conn, test_id, me())
        found = conntest.report(conn, me(), test_id)
    running = found["test"]["state"] != "closed"
    return render("console/conntest.html", report=found, running=running)
