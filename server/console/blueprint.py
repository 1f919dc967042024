"""What every console page shares: the blueprint, the member of staff behind a request, times in JST.

A page for staff is decorated with :func:`staff_page`: a visitor without a staff login goes to the
login page (and comes back after), a logged-in one becomes :class:`StaffMember`, kept in ``g`` as
the request's operator, so the services' scope checks and the audit trail's recording (which reads
the request's principal) see them as they see an operator.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from functools import wraps
from typing import ParamSpec, TypeVar

from flask import g
from werkzeug.wrappers import Response as BaseResponse

from mkp_core.dates import JST
from mkp_core.errors import NotFound
from server import logins
from server.db.engine import read
from server.site import page_blueprint
from server.staff.service import STAFF, StaffMember, staff_member
from server.web.context import engine

bp = page_blueprint("console", "server.console", url_prefix="/console")
LOGIN_ENDPOINT = "console.login"
P = ParamSpec("P")
R = TypeVar("R")


def me() -> StaffMember:
    """The member of staff behind this request (a :func:`staff_page` has found them)."""
    found: StaffMember = g.operator
    return found


def staff_page(view: Callable[P, R]) -> Callable[P, R | BaseResponse]:
    """A page only for logged-in staff; the member of staff becomes the request's operator."""

    @logins.login_required(STAFF, LOGIN_ENDPOINT)
    @wraps(view)
    def guarded(*args: P.args, **kwargs: P.kwargs) -> R | BaseResponse:
        login = logins.current_login(STAFF)
        assert login is not None  # login_required saw to it
        with read(engine()) as conn:
            g.operator = staff_member(conn, int(login.account.subject))
        return view(*args, **kwargs)

    return guarded


def central_only() -> None:
    """The platform's own pages: another town's staff are told they do not exist."""
    if me().municipality is not None:
        raise NotFound("not_found", "This page does not exist.")


def jst(value: datetime | None, with_time: bool = True) -> str:
    """A time as people in Japan read it ("2026-12-07 20:30"); nothing for no time."""
    if value is None:
        return ""
    local = value.astimezone(JST)
    return f"{local:%Y-%m-%d %H:%M}" if with_time else f"{local:%Y-%m-%d}"


def staff_key(client_id: str) -> str:
    """``client_id`` in the member of staff's own namespace (server.db.client_ids' convention)."""
    return f"staff:{me().id}/{client_id}"


@bp.context_processor
def page_helpers() -> dict[str, object]:
    return {"jst": jst, "staff": g.get("operator") if isinstance(g.get("operator"), StaffMember) else None}
