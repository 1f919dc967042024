"""Counting requests per bucket in the database, so every server worker and host shares one count.

A bucket (a client address asking for challenges, a holder trying MyKey IDs) may make ``limit``
requests in a fixed window that starts with its first request; past that it is refused with
:class:`~mkp_core.errors.Throttled`, saying when the window ends (``Retry-After``). A refused
request is not counted, so waiting out the window always works. The count's row is locked while
it is read and written, so requests racing on two workers count twice, never once.

Addresses are kept as a keyed hash (the server's challenge key), never in clear: the MyKey part
stores no record of who asked. Windows long past are pruned now and then.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import random
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import Connection, delete, select, update

from mkp_core.errors import Throttled
from server.db.engine import insert_ignoring_conflicts
from server.platform.tables import throttle_counts

PRUNE_PROBABILITY = 0.01
#: The longest window any bucket uses: rows older than two of these say nothing any more.
LONGEST_WINDOW = timedelta(hours=1)


def address_bucket(kind: str, key: bytes, address: str) -> str:
    """The bucket of a client address, named by a keyed hash of it (not reversible without the key)."""
    digest = hmac.new(key, address.encode(), hashlib.sha256).hexdigest()[:32]
    return f"{kind}:{digest}"


def seconds_until(moment: datetime, now: datetime) -> int:
    """Whole seconds from ``now`` to ``moment``, at least one (what Retry-After says)."""
    return max(1, math.ceil((moment - now).total_seconds()))


def take(
    conn: Connection,
    bucket: str,
    limit: int,
    window: timedelta,
    now: datetime,
    refusal: Callable[[int], Throttled],
) -> None:
    """Count one request in ``bucket``, or raise ``refusal(seconds to wait)`` when ``limit``
    requests were counted in the current window already."""
    if random.random() < PRUNE_PROBABILITY:
        conn.execute(delete(throttle_counts).where(throttle_counts.c.window_start < now - 2 * LONGEST_WINDOW))
    insert_ignoring_conflicts(conn, throttle_counts, [{"bucket": bucket, "window_start": now, "count": 0}])
    row = conn.execute(
        select(throttle_counts).where(throttle_counts.c.bucket == bucket).with_for_update()
    ).one()
    count: int = row._mapping["count"]  # `row.count` would read as Sequence.count to a type checker
    values: dict[str, object]
    if now >= row.window_start + window:
        values = {"window_start": now, "count": 1}
    elif count >= limit:
        raise refusal(seconds_until(row.window_start + window, now))
    else:
        values = {"count": count + 1}
    conn.execute(update(throttle_counts).where(throttle_counts.c.bucket == bucket).values(**values))
