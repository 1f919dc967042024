"""Grants from a file: upload, see the whole check (every bad row) or the totals, apply, download again."""

from __future__ import annotations

from urllib.parse import quote

from flask import Response, redirect, request, url_for
from werkzeug.wrappers import Response as BaseResponse

from mkp_core.errors import MkpError
from mkp_core.i18n import N_
from server.console import grant_files
from server.console.blueprint import bp, me, staff_page
from server.console.resent import once_per_form
from server.db.engine import read, run_write
from server.points.departments.service import list_departments
from server.site import gettext, render
from server.web.context import config, engine, limit_body

#: A bad row's problem in a few words a clerk reads, by its code (the details follow as found).
PROBLEM_WORDS = {
    "unknown_mykey": N_("No such MyKey ID."),
    "unknown_grant_kind": N_("The department has no such grant kind."),
    "invalid_amount": N_("The points are not a whole number above 0."),
    "over_budget": N_("The department's budget runs out here."),
    "above_maximum": N_("More points than one grant of this kind may give."),
    "duplicate_row": N_("This row repeats an earlier one."),
    "bad_row": N_("This row cannot be read."),
    "bad_encoding": N_("This line is neither UTF-8 nor Shift_JIS."),
    "mixed_encoding": N_("This line is in another encoding than the rest of the file."),
    "missing_column": N_("A column is missing from the header."),
    "unknown_column": N_("The header has a column this file cannot have."),
}


def _departments() -> list[dict[str, object]]:
    """The departments the member may grant for: a clerk their own, an admin all of the town's."""
    member = me()
    if member.municipality is None:
        return []
    with read(engine()) as conn:
        found = list_departments(conn, member, member.municipality)
    return [d for d in found if member.role != "clerk" or d["id"] == member.department]


def _page(status: int = 200, error: str | None = None) -> Response:
    with read(engine()) as conn:
        files = grant_files.listing(conn, me())
    return render("console/grants.html", status=status, departments=_departments(), files=files, error=error)


@bp.get("/grants")
@staff_page
def grants() -> Response:
    return _page()


@bp.post("/grants")
@staff_page
def upload_grants() -> Response | BaseResponse:
    """Keep the uploaded file, then show its check."""
    me().require_change()
    limit_body(config().max_batch_bytes)
    uploaded = request.files.get("file")
    department = request.form.get("department", "")
    if uploaded is None or not uploaded.filename:
        return _page(422, gettext("Choose a CSV file to upload."))
    content = uploaded.read()
    try:
        made = once_per_form(
            "upload_grants",
            lambda conn: grant_files.upload(conn, me(), department, uploaded.filename or "", content),
            lambda file_id: {"file_id": file_id},
        )
    except MkpError as e:
        return _page(422, gettext(e.message))
    return redirect(url_for("console.grant_file", file_id=made["file_id"]), 303)


@bp.get("/grants/<int:file_id>")
@staff_page
def grant_file(file_id: int) -> Response:
    with read(engine()) as conn:
        checked = grant_files.check(conn, me(), file_id)
    status = 422 if checked["problems"] else 200
    for problem in checked["problems"]:
        problem["words"] = gettext(PROBLEM_WORDS[problem["code"]]) if problem["code"] in PROBLEM_WORDS else ""
    return render("console/grant_file.html", status=status, **checked)


@bp.post("/grants/<int:file_id>/apply")
@staff_page
def apply_grant_file(file_id: int) -> BaseResponse:
    run_write(engine(), lambda conn: grant_files.apply(conn, me(), file_id))
    return redirect(url_for("console.grant_file", file_id=file_id), 303)


@bp.get("/grants/<int:file_id>/file")
@staff_page
def grant_file_download(file_id: int) -> Response:
    with read(engine()) as conn:
        row = grant_files.stored(conn, me(), file_id)
    response = Response(row.content, mimetype="text/csv")
    response.headers["Content-Disposition"] = f"attachment; filename*=UTF-8''{_quoted(row.filename)}"
    return response


def _quoted(filename: str) -> str:
    return quote(filename, safe="")
