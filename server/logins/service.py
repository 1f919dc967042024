"""A login by password, weighed by the throttle, as one call a web page makes.

The steps of :func:`log_in_with_password`:
1. refuse at once if the login ID or the address has had its fill of failures (nothing counted);
2. check the password (an unknown ID costs the time a wrong password does);
3. a failure is counted and *committed*, then refused with one message that does not say whether
   the ID exists;
4. a success clears the ID's count and starts a new session.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Engine

from mkp_core.errors import Unauthorized
from server.db.engine import write
from server.logins import accounts, sessions, throttling


@dataclass(frozen=True)
class Attempt:
    """Who tries to log in, from where: ``key`` names the throttle's buckets (a server secret)."""

    kind: str
    login_id: str
    address: str
    user_agent: str
    key: bytes


class LoginFailed(Unauthorized):
    """The login ID or the password is wrong (the message does not say which)."""


def log_in_with_password(
    engine: Engine, attempt: Attempt, password: str, now: datetime | None = None
) -> tuple[str, sessions.Session]:
    """A new session's token and the session, or :class:`LoginFailed` /
    :class:`~server.logins.throttling.LoginThrottled` (steps in the module docstring)."""
    now = now or datetime.now(UTC)
    weighed = throttling.buckets(attempt.key, attempt.kind, attempt.login_id, attempt.address)
    with write(engine) as conn:
        throttling.check(conn, weighed, now)
        account = accounts.password_matches(conn, attempt.kind, attempt.login_id, password)
        if account is None:
            throttling.record_failure(conn, weighed, now)
        else:
            throttling.clear(conn, weighed)
            return sessions.start_session(conn, account, attempt.user_agent, now)
    raise LoginFailed("login_failed", "The login ID or the password is wrong.")
