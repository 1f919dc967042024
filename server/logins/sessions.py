"""Server-side login sessions: a random token in the browser's cookie, its SHA-256 in the database.

Why server-side: a session the server keeps can be listed, ended one by one or all at once (a
lost phone: "log out everywhere"), and ends for good when ended. Each login makes a new session
with a new token (never one the browser brought). A session ends after ``idle`` without a
request, and at ``absolute`` after login whatever happens (:data:`POLICIES`, per kind).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Connection, RowMapping, select, update

from server.db.engine import inserted_id
from server.logins.accounts import Account
from server.logins.tables import login_accounts, login_sessions

#: A request less than this after the last one does not write its time again (fewer writes).
TOUCH_EVERY = timedelta(minutes=1)
MAX_USER_AGENT = 200


@dataclass(frozen=True)
class Policy:
    """How long a session of a kind lives: ``idle`` without a request, ``absolute`` at most."""

    idle: timedelta
    absolute: timedelta


POLICIES = {
    "resident": Policy(idle=timedelta(minutes=30), absolute=timedelta(hours=12)),
    "staff": Policy(idle=timedelta(minutes=30), absolute=timedelta(hours=10)),
}


@dataclass(frozen=True)
class Session:
    """One logged-in browser of ``account``."""

    id: int
    account: Account
    created_at: datetime
    last_seen_at: datetime
    expires_at: datetime
    user_agent: str

    def idle_until(self) -> datetime:
        return min(self.expires_at, self.last_seen_at + POLICIES[self.account.kind].idle)


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def start_session(
    conn: Connection, account: Account, user_agent: str = "", now: datetime | None = None
) -> tuple[str, Session]:
    """A new session of ``account``: its token (for the cookie, shown nowhere else) and itself."""
    now = now or datetime.now(UTC)
    token = secrets.token_urlsafe(32)
    agent = user_agent[:MAX_USER_AGENT]
    expires = now + POLICIES[account.kind].absolute
    new_id = inserted_id(
        conn.execute(
            login_sessions.insert().values(
                token_hash=digest(token),
                account=account.id,
                created_at=now,
                last_seen_at=now,
                expires_at=expires,
                user_agent=agent,
            )
        )
    )
    return token, Session(new_id, account, now, now, expires, agent)


def _joined() -> object:
    return login_sessions.join(login_accounts, login_sessions.c.account == login_accounts.c.id)


def _session(row: RowMapping) -> Session:
    account = Account(
        id=row["account"],
        kind=row["kind"],
        subject=row["subject"],
        login_id=row["login_id"],
        has_password=row["password_hash"] is not None,
        login_id_changed_at=row["login_id_changed_at"],
    )
    return Session(
        row["id"], account, row["created_at"], row["last_seen_at"], row["expires_at"], row["user_agent"]
    )


def _columns() -> tuple[object, ...]:
    return (
        login_sessions,
        login_accounts.c.kind,
        login_accounts.c.subject,
        login_accounts.c.login_id,
        login_accounts.c.password_hash,
        login_accounts.c.login_id_changed_at,
    )


def session_for(conn: Connection, token: str, now: datetime | None = None) -> Session | None:
    """The live session whose token is ``token`` (its last request now), or None: unknown, ended,
    idle too long or past its end."""
    now = now or datetime.now(UTC)
    row = (
        conn.execute(
            select(*_columns())  # type: ignore[call-overload]
            .select_from(_joined())
            .where(login_sessions.c.token_hash == digest(token), login_sessions.c.ended_at.is_(None))
        )
        .mappings()
        .first()
    )
    if row is None:
        return None
    session = _session(row)
    if now >= session.idle_until():
        return None
    if now - session.last_seen_at >= TOUCH_EVERY:
        conn.execute(update(login_sessions).where(login_sessions.c.id == session.id).values(last_seen_at=now))
    return session


def sessions_of(conn: Connection, account: Account, now: datetime | None = None) -> list[Session]:
    """``account``'s live sessions, the newest first."""
    now = now or datetime.now(UTC)
    rows = (
        conn.execute(
            select(*_columns())  # type: ignore[call-overload]
            .select_from(_joined())
            .where(login_sessions.c.account == account.id, login_sessions.c.ended_at.is_(None))
            .order_by(login_sessions.c.id.desc())
        )
        .mappings()
        .all()
    )
    return [s for s in map(_session, rows) if now < s.idle_until()]


def end_session(conn: Connection, account: Account, session_id: int, now: datetime | None = None) -> bool:
    """End one of ``account``'s sessions (logout); False if it has none by that id (or it ended)."""
    result = conn.execute(
        update(login_sessions)
        .where(
            login_sessions.c.id == session_id,
            login_sessions.c.account == account.id,
            login_sessions.c.ended_at.is_(None),
        )
        .values(ended_at=now or datetime.now(UTC))
    )
    return result.rowcount == 1


def end_all_sessions(conn: Connection, account: Account, now: datetime | None = None) -> int:
    """Log ``account`` out everywhere: every session ends; how many were live."""
    result = conn.execute(
        update(login_sessions)
        .where(login_sessions.c.account == account.id, login_sessions.c.ended_at.is_(None))
        .values(ended_at=now or datetime.now(UTC))
    )
    return result.rowcount
