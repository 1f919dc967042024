"""Logins as a page sees them: the session cookie, ``current_login()``, ``login_required``.

One cookie per kind of login (``mkp_login_resident``, ``mkp_login_staff``): a town's staff member
who is also a resident may be logged in to both, and ending one leaves the other. The cookie
holds the session's token only; it is HttpOnly, SameSite=Lax, Secure whenever the request came
over TLS, and carries no expiry (the server ends sessions). Logging in makes a new session and
a new CSRF token, so nothing the browser held before the login is worth anything after it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from functools import wraps
from typing import ParamSpec, TypeVar

from flask import Flask, Response, current_app, g, redirect, request, session, url_for
from sqlalchemy import Engine
from werkzeug.wrappers import Response as BaseResponse

from server.config import ServerConfig
from server.db.engine import write
from server.logins import accounts, sessions
from server.logins.service import Attempt, log_in_with_password
from server.site.kernel import came_over_tls

COOKIE_PREFIX = "mkp_login_"
P = ParamSpec("P")
R = TypeVar("R")


def init_app(app: Flask) -> None:
    """Install the cookie writer (one per app)."""
    app.after_request(_write_cookies)


def cookie_name(kind: str) -> str:
    return COOKIE_PREFIX + kind


def _engine() -> Engine:
    engine: Engine = current_app.extensions["mkp.engine"]
    return engine


def current_login(kind: str) -> sessions.Session | None:
    """This request's live session of ``kind`` (its last request is now), or None."""
    cache: dict[str, sessions.Session | None] = g.setdefault("mkp_logins", {})
    if kind not in cache:
        token = request.cookies.get(cookie_name(kind))
        found = None
        if token:
            with write(_engine()) as conn:
                found = sessions.session_for(conn, token)
                if found is not None and found.account.kind != kind:
                    found = None
        if found is None and token:
            _cookie_changes()[kind] = None  # a dead cookie goes
        cache[kind] = found
    return cache[kind]


def login_required(
    kind: str, login_endpoint: str
) -> Callable[[Callable[P, R]], Callable[P, R | BaseResponse]]:
    """A view only for a logged-in ``kind``; others go to ``login_endpoint`` (and come back after)."""

    def decorate(view: Callable[P, R]) -> Callable[P, R | BaseResponse]:
        @wraps(view)
        def guarded(*args: P.args, **kwargs: P.kwargs) -> R | BaseResponse:
            if current_login(kind) is None:
                target = request.full_path.rstrip("?") if request.method == "GET" else None
                return redirect(url_for(login_endpoint, next=target))
            return view(*args, **kwargs)

        return guarded

    return decorate


def attempt(kind: str, login_id: str) -> Attempt:
    """This request's login attempt as ``login_id`` (address and browser from the request)."""
    key = current_app.secret_key
    assert isinstance(key, bytes), "the page kernel sets a bytes key"
    return Attempt(
        kind=kind,
        login_id=login_id,
        address=request.remote_addr or "",
        user_agent=request.user_agent.string,
        key=key,
    )


def log_in_by_password(kind: str, login_id: str, password: str) -> sessions.Session:
    """Log this browser in as ``login_id`` (raises ``LoginFailed`` / ``LoginThrottled``)."""
    token, started = log_in_with_password(_engine(), attempt(kind, login_id), password)
    _opened(kind, token, started)
    return started


def log_in(account: accounts.Account) -> sessions.Session:
    """Log this browser in as ``account`` (proven otherwise: a passkey, a one-time link)."""
    with write(_engine()) as conn:
        token, started = sessions.start_session(conn, account, request.user_agent.string)
    _opened(account.kind, token, started)
    return started


def _opened(kind: str, token: str, started: sessions.Session) -> None:
    previous = current_login(kind)
    if previous is not None:  # the session this browser had ends: one browser, one session
        with write(_engine()) as conn:
            sessions.end_session(conn, previous.account, previous.id)
    session.clear()  # a new CSRF token too
    g.setdefault("mkp_logins", {})[kind] = started
    _cookie_changes()[kind] = token


def log_out(kind: str) -> None:
    """End this browser's session of ``kind`` (if any) and drop its cookie."""
    current = current_login(kind)
    if current is not None:
        with write(_engine()) as conn:
            sessions.end_session(conn, current.account, current.id)
    g.setdefault("mkp_logins", {})[kind] = None
    _cookie_changes()[kind] = None
    session.clear()


def log_out_everywhere(kind: str) -> int:
    """End every session of this browser's ``kind`` login, this one too; how many ended."""
    current = current_login(kind)
    if current is None:
        return 0
    with write(_engine()) as conn:
        ended = sessions.end_all_sessions(conn, current.account, datetime.now(UTC))
    g.setdefault("mkp_logins", {})[kind] = None
    _cookie_changes()[kind] = None
    session.clear()
    return ended


def _cookie_changes() -> dict[str, str | None]:
    changes: dict[str, str | None] = g.setdefault("mkp_login_cookies", {})
    return changes


def _write_cookies(response: Response) -> Response:
    changes: dict[str, str | None] = g.get("mkp_login_cookies", {})
    if not changes:
        return response
    config: ServerConfig = current_app.extensions["mkp.config"]
    secure = came_over_tls(config.forwarded_hops)
    for kind, token in changes.items():
        if token is None:
            response.delete_cookie(cookie_name(kind), path="/", secure=secure, httponly=True, samesite="Lax")
        else:
            response.set_cookie(
                cookie_name(kind), token, path="/", secure=secure, httponly=True, samesite="Lax"
            )
    response.headers["Cache-Control"] = "no-store"
    return response
