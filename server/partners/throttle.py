"""Wrong codes counted per source, so that codes cannot be guessed: coupon codes per holder (at
home and at every terminal alike), partner link codes per partner member number.

``MAX_FAILURES`` wrong codes in ``WINDOW`` (counted from the first), then every try from that
source is refused ``too_many_attempts`` (429) until the window ends.

The count must hold when workers race: :func:`counted` takes the source's lock (a transaction
advisory lock on PostgreSQL; SQLite lets one writer in at a time anyway), checks the count,
judges the code inside a savepoint and, if the code was wrong, undoes the judging and counts it,
all before the lock is let go. A try that checked the count therefore always sees the tries
before it counted: two workers can never both slip under the limit.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TypeVar

from sqlalchemy import Connection, delete, select, update

from mkp_core.errors import MkpError, Throttled
from server.db.engine import insert_ignoring_conflicts, lock_key
from server.partners.tables import coupon_failures

MAX_FAILURES = 10
WINDOW = timedelta(hours=1)
PRUNE_PROBABILITY = 0.01

T = TypeVar("T")


class WrongCode(MkpError):
    """A code that is no code: mistyped, misshapen or never issued (counted by the throttle)."""


def counted(conn: Connection, source: str, now: datetime, work: Callable[[], T]) -> T:
    """``work()`` judged under ``source``'s throttle, in the caller's write transaction.

    Refuses at once (``too_many_attempts``) if ``source`` is over its limit. If ``work`` raises
    :class:`WrongCode`, whatever it did is undone, the wrong code is counted in the caller's
    transaction, and the refusal raised on: the caller's :func:`refusal_kept` turns it into its
    answer, so that the transaction commits the count before the refusal is sent."""
    lock_key(conn, f"wrong-codes:{source}")
    refuse_if_throttled(conn, source, now)
    try:
        with conn.begin_nested():
            return work()
    except WrongCode:
        record_failure(conn, source, now)
        raise


def refusal_kept(work: Callable[[], T]) -> T | WrongCode:
    """``work()``, or the wrong code :func:`counted` counted inside it, *returned*: the caller's
    write transaction then commits (the count stays) and the caller raises it."""
    try:
        return work()
    except WrongCode as e:
        return e


def refuse_if_throttled(conn: Connection, source: str, now: datetime) -> None:
    row = conn.execute(select(coupon_failures).where(coupon_failures.c.source == source)).first()
    if row is not None and row.failures >= MAX_FAILURES and now < row.window_start + WINDOW:
        wait = int((row.window_start + WINDOW - now).total_seconds() // 60) + 1
        raise Throttled("too_many_attempts", f"too many wrong codes from here: try again in {wait} minutes")


def record_failure(conn: Connection, source: str, now: datetime) -> None:
    """Count one wrong code for ``source`` (under its lock: see :func:`counted`)."""
    if random.random() < PRUNE_PROBABILITY:  # windows long over say nothing any more
        conn.execute(delete(coupon_failures).where(coupon_failures.c.window_start < now - 2 * WINDOW))
    row = conn.execute(select(coupon_failures).where(coupon_failures.c.source == source)).first()
    values: dict[str, object]
    if row is not None and now < row.window_start + WINDOW:
        values = {"failures": coupon_failures.c.failures + 1}
    else:
        values = {"window_start": now, "failures": 1}
    done = conn.execute(update(coupon_failures).where(coupon_failures.c.source == source).values(**values))
    if done.rowcount == 0:
        insert_ignoring_conflicts(
            conn, coupon_failures, [{"source": source, "window_start": now, "failures": 1}]
        )
