"""My Page's blueprint (pages at ``/mypage/``, templates in ``templates/mypage/``) and what every
page of it shares: the logged-in resident, the guard that sends others to the login page."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import current_app
from sqlalchemy import Connection, Engine

from server import logins
from server.logins.sessions import Session
from server.mypage.helpers import template_helpers
from server.mypage.resident import Resident, resident
from server.site import page_blueprint

KIND = "resident"
bp = page_blueprint("mypage", __name__, url_prefix="/mypage")
bp.context_processor(template_helpers)
guard: Callable[[Callable[..., Any]], Callable[..., Any]] = logins.login_required(KIND, "mypage.login")


def engine() -> Engine:
    found: Engine = current_app.extensions["mkp.engine"]
    return found


def session() -> Session:
    """This request's resident session (only under :data:`guard`)."""
    found = logins.current_login(KIND)
    assert found is not None, "a My Page view without the guard"
    return found


def me(conn: Connection) -> Resident:
    """The logged-in resident (the session was looked up before ``conn`` was opened)."""
    s = session()
    return resident(conn, s.account.subject, s.id)
