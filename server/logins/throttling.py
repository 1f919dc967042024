"""Login throttling: after too many failed logins, a login ID or an address must wait.

Why failures, not tries: a person who types their password right at once is never slowed; a
guesser is stopped after a few wrong ones per ID (so one account cannot be guessed) and after
more per address (so one machine cannot try one password on many IDs). Counts live in the
shared ``throttle_counts`` table (every worker and host sees them), in buckets named by a keyed
hash: neither login IDs nor addresses are kept in clear. A good login clears its ID's count.

The caller checks *before* it verifies (:func:`check`) and records a failure *after*
(:func:`record_failure`), in a transaction that commits although the login failed.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, delete, select, update

from mkp_core.errors import Throttled
from server.db.engine import insert_ignoring_conflicts
from server.logins.accounts import fold
from server.platform.mykey.throttles import seconds_until
from server.platform.tables import throttle_counts

WINDOW = timedelta(minutes=15)
PER_LOGIN_ID = 5
PER_ADDRESS = 30
#: Wrong one-time codes (activation codes) per address in a window.
PER_ADDRESS_CODES = 10


class LoginThrottled(Throttled):
    """Too many failed logins: ``retry_after`` seconds until the next try is allowed."""


@dataclass(frozen=True)
class Buckets:
    """The counts an attempt is weighed by: its login ID's (if any) and its address's."""

    login_id: str | None
    address: str
    address_limit: int = PER_ADDRESS

    def limits(self) -> tuple[tuple[str, int], ...]:
        by_id = ((self.login_id, PER_LOGIN_ID),) if self.login_id else ()
        return (*by_id, (self.address, self.address_limit))


def _named(key: bytes, prefix: str, value: str) -> str:
    return f"{prefix}:" + hmac.new(key, value.encode(), hashlib.sha256).hexdigest()[:40]


def buckets(key: bytes, kind: str, login_id: str, address: str) -> Buckets:
    """The buckets of a login of ``kind`` as ``login_id`` from ``address`` (keyed by ``key``)."""
    return Buckets(_named(key, "login-id", f"{kind}:{fold(login_id)}"), _named(key, "login-ip", address))


def code_buckets(key: bytes, purpose: str, address: str) -> Buckets:
    """The bucket of one-time codes of ``purpose`` typed from ``address`` (no login ID to count)."""
    return Buckets(None, _named(key, f"{purpose}-ip"[:20], address), PER_ADDRESS_CODES)


def check(conn: Connection, weighed: Buckets, now: datetime) -> None:
    """Raise :class:`LoginThrottled` if either bucket had its fill of failures this window."""
    for bucket, limit in weighed.limits():
        row = (
            conn.execute(select(throttle_counts).where(throttle_counts.c.bucket == bucket)).mappings().first()
        )
        if row is None:
            continue
        ends = row["window_start"] + WINDOW
        if now < ends and row["count"] >= limit:
            raise LoginThrottled(
                "login_throttled",
                "Too many failed logins. Wait, then try again.",
                retry_after=seconds_until(ends, now),
            )


def record_failure(conn: Connection, weighed: Buckets, now: datetime) -> None:
    """Count one failed login in both buckets (a window past its end starts again)."""
    for bucket, _limit in weighed.limits():
        insert_ignoring_conflicts(
            conn, throttle_counts, [{"bucket": bucket, "window_start": now, "count": 0}]
        )
        row = (
            conn.execute(select(throttle_counts).where(throttle_counts.c.bucket == bucket).with_for_update())
            .mappings()
            .one()
        )
        if now >= row["window_start"] + WINDOW:
            values: dict[str, object] = {"window_start": now, "count": 1}
        else:
            values = {"count": row["count"] + 1}
        conn.execute(update(throttle_counts).where(throttle_counts.c.bucket == bucket).values(**values))


def clear(conn: Connection, weighed: Buckets) -> None:
    """A good login: its login ID starts afresh (the address keeps its count)."""
    if weighed.login_id:
        conn.execute(delete(throttle_counts).where(throttle_counts.c.bucket == weighed.login_id))
