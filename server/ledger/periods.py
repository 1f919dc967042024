"""Settlement periods: which transfers a municipality's month holds, and closing one for good.

A period is a calendar month in Japan time ("2026-11" runs from 1 November 00:00 JST to
1 December 00:00 JST), per municipality: it holds the transfers of that municipality's point
codes (its general code and its event codes). A transfer's date is when the server booked it
(``transfers.created_at``); an offline spend is booked when it reaches the server (its tap time
stays in ``offline_entries``).

**Which period a transfer is in.** A close records the period, and the largest transfer id
when it closed (its *watermark* W). Periods close in order, one month after another (the
first close of a municipality may be any month that has ended: it takes everything booked
before it too), and only once the month has ended. Then a transfer t of the municipality,
booked in month B, belongs to

* the earliest closed period P with B <= P and t.id <= W(P); else
* the open period max(B, the month after the last closed one).

Both inputs never change: transfers are append-only, closes are rows the database refuses to
update or delete, and ids only grow. A close only adds a later period with a larger watermark,
so it never moves a transfer out of an earlier closed period, and a transfer booked after a close
has a larger id than its watermark, so it never joins a closed period: a late offline spend, or a
reversal of a transfer in a closed month, lands in the next open period. A transfer explicitly
dated into a closed month (``create_transfers(now=...)``) is refused (``period_closed``).

As SQL over one period P (``id <= W(P)`` if P is closed): booked in P, or, if P-1 is closed,
booked before P with ``id > W(P-1)``; a municipality's first close takes everything booked before
its end.

**The watermark is exact.** Everything that books transfers takes a shared lock first
(:func:`hold_booking`; PostgreSQL: a transaction-scoped shared advisory lock) and a close takes
it exclusively before it reads the largest id: it waits for every transaction that may still
commit a transfer, and holds new ones back until it commits. On SQLite the write transaction
(``BEGIN IMMEDIATE``) already serialises both.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, text

from mkp_core.dates import JST
from mkp_core.errors import Conflict, MkpError, NotFound
from server.db.engine import db_datetime, db_timestamp, executemany, fetch_raw, is_postgres

#: The statement line of all wallets of a point code together (holders are not listed one by one).
WALLETS = "mykey:*"
_PERIOD = re.compile(r"(\d{4})-(\d{2})")
_BOOKING_LOCK = int.from_bytes(hashlib.sha256(b"settlement:booking").digest()[:8], "big", signed=True)


class PeriodClosed(Conflict):
    def __init__(self, message: str) -> None:
        super().__init__("period_closed", message)


@dataclass(frozen=True, order=True)
class Period:
    """A month in Japan time."""

    year: int
    month: int

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"

    @property
    def start(self) -> datetime:
        """Its first instant (00:00 JST on the 1st), in UTC."""
        return datetime(self.year, self.month, 1, tzinfo=JST).astimezone(UTC)

    @property
    def end(self) -> datetime:
        """The first instant of the next month, in UTC."""
        return self.next().start

    def next(self) -> Period:
        return Period(self.year + self.month // 12, self.month % 12 + 1)

    def previous(self) -> Period:
        return Period(self.year - (self.month == 1), (self.month - 2) % 12 + 1)


def parse_period(value: str) -> Period:
    """``YYYY-MM`` as a :class:`Period`, or ``invalid_period``."""
    found = _PERIOD.fullmatch(value) if isinstance(value, str) else None
    if found is None or not 1 <= int(found.group(2)) <= 12 or int(found.group(1)) < 2000:
        raise MkpError("invalid_period", f"a period is a month, YYYY-MM (e.g. 2026-11), got {value!r}")
    return Period(int(found.group(1)), int(found.group(2)))


def period_of(instant: datetime) -> Period:
    """The period (JST month) an instant falls in."""
    local = instant.astimezone(JST)
    return Period(local.year, local.month)


@dataclass(frozen=True)
class Close:
    id: int
    municipality: str
    period: Period
    watermark: int
    closed_by: str
    closed_at: datetime

    def to_dict(self) -> dict[str, Any]:
        return {
            "municipality": self.municipality,
            "period": str(self.period),
            "watermark": self.watermark,
            "closed_by": self.closed_by,
            "closed_at": self.closed_at,
        }


@dataclass(frozen=True, order=True)
class Movement:
    """What one account (or all wallets, :data:`WALLETS`) of a point code did in a period."""

    point_code: str
    owner: str
    debits: int
    credits: int
    transfers: int

    @property
    def net(self) -> int:
        """Credits minus debits: positive, the account received points over the period."""
        return self.credits - self.debits


def closes(conn: Connection, municipality: str) -> list[Close]:
    """A municipality's closed periods, oldest first."""
    rows = fetch_raw(
        conn,
        "SELECT id, municipality_code, period, watermark, closed_by, closed_at FROM settlement_closes "
        "WHERE municipality_code = ? ORDER BY period",
        [municipality],
    )
    return [
        Close(int(i), m, parse_period(p), int(w), by, db_datetime(at) or datetime.now(UTC))
        for i, m, p, w, by, at in rows
    ]


def hold_booking(conn: Connection) -> None:
    """Called before a transaction books transfers: a close waits for it (module docstring)."""
    for sql, params in booking_hold(conn):
        fetch_raw(conn, sql, params)


def booking_hold(conn: Connection) -> list[tuple[str, list[Any]]]:
    """:func:`hold_booking` as statements (none on SQLite), for a caller that sends them with its
    first read in one round trip (``server.db.engine.fetch_together``)."""
    return [("SELECT pg_advisory_xact_lock_shared(?)", [_BOOKING_LOCK])] if is_postgres(conn) else []


def refuse_dated_into_closed(
    conn: Connection, point_codes: Iterable[str | None], now: datetime
) -> dict[str, PeriodClosed]:
    """The point codes (of ``point_codes``; None: already refused) whose municipality has closed the
    month ``now`` falls in, each with its refusal. Cheap for the usual ``now``: a month that has not
    ended yet was never closed, so no query is made (and ``point_codes`` is not read)."""
    booked = period_of(now)
    if booked >= period_of(datetime.now(UTC)):
        return {}
    codes = sorted({c for c in point_codes if c is not None})
    if not codes:
        return {}
    rows = fetch_raw(
        conn,
        "SELECT p.code, p.municipality_code, max(c.period) FROM point_codes p "
        "JOIN settlement_closes c ON c.municipality_code = p.municipality_code "
        "WHERE p.code IN (?*) GROUP BY p.code, p.municipality_code",
        codes,
    )
    return {
        code: PeriodClosed(
            f"{booked} is closed for municipality {municipality} (closed up to {last}): "
            "a transfer cannot be dated into it"
        )
        for code, municipality, last in rows
        if str(booked) <= last
    }


def close_period(
    conn: Connection, municipality: str, period: Period, actor: str, now: datetime | None = None
) -> Close:
    """Close ``period`` for ``municipality`` and store its statement; call inside a write transaction.

    Refused: a month that has not ended (``period_not_ended``), one closed already
    (``period_already_closed``), one that is not the month after the last closed one
    (``period_out_of_order``)."""
    now = now or datetime.now(UTC)
    if period.end > now:
        raise Conflict("period_not_ended", f"{period} has not ended yet (it ends {period.end.isoformat()})")
    _take_booking_exclusively(conn)
    done = closes(conn, municipality)
    _require_next(municipality, period, done)
    watermark = int(conn.exec_driver_sql("SELECT coalesce(max(id), 0) FROM transfers").scalar_one())
    stamp = db_timestamp(conn, now)
    close_id = int(
        fetch_raw(
            conn,
            "INSERT INTO settlement_closes (municipality_code, period, watermark, closed_by, closed_at) "
            "VALUES (?, ?, ?, ?, ?) RETURNING id",
            [municipality, str(period), watermark, actor, stamp],
        )[0][0]
    )
    lines = movements(conn, municipality, period)
    executemany(
        conn,
        "INSERT INTO settlement_lines (close_id, point_code, owner, debits, credits, transfers) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        [(close_id, m.point_code, m.owner, m.debits, m.credits, m.transfers) for m in lines],
    )
    return Close(close_id, municipality, period, watermark, actor, now)


def _take_booking_exclusively(conn: Connection) -> None:
    if is_postgres(conn):
        conn.execute(text("SELECT pg_advisory_xact_lock(:n)"), {"n": _BOOKING_LOCK})


def _require_next(municipality: str, period: Period, done: list[Close]) -> None:
    if not done:
        return
    last = done[-1].period
    if period <= last:
        raise Conflict(
            "period_already_closed",
            f"{period} is closed already for municipality {municipality} (closed up to {last})",
        )
    if period != last.next():
        raise Conflict(
            "period_out_of_order",
            f"periods close in order: close {last.next()} for municipality {municipality} first",
        )


def movements(conn: Connection, municipality: str, period: Period) -> list[Movement]:
    """Per point code and account (all wallets as one line) what the period's transfers moved:
    two aggregates in SQL, one row per line back."""
    where, params = membership(conn, municipality, period)
    legs = (
        f"SELECT t.debit_account_id AS aid, t.amount AS d, 0 AS c FROM transfers t WHERE {where} "
        f"UNION ALL SELECT t.credit_account_id AS aid, 0 AS d, t.amount AS c FROM transfers t WHERE {where}"
    )
    per_account = f"SELECT aid, sum(d) AS d, sum(c) AS c, count(*) AS n FROM ({legs}) legs GROUP BY aid"
    who = f"CASE WHEN a.kind = 'wallet' THEN '{WALLETS}' ELSE a.owner END"
    rows = fetch_raw(
        conn,
        f"SELECT a.point_code, {who} AS who, sum(m.d), sum(m.c), sum(m.n) FROM ({per_account}) m "
        f"JOIN accounts a ON a.id = m.aid GROUP BY a.point_code, {who}",
        [*params, *params],
    )
    # Sorted here, not in SQL: both databases then give one order (PostgreSQL would use its collation).
    return sorted(Movement(code, owner, int(d), int(c), int(n)) for code, owner, d, c, n in rows)


def stored_movements(conn: Connection, close_id: int) -> list[Movement]:
    """A closed period's statement as it was stored when it closed."""
    rows = fetch_raw(
        conn,
        "SELECT point_code, owner, debits, credits, transfers FROM settlement_lines WHERE close_id = ?",
        [close_id],
    )
    return sorted(Movement(code, owner, int(d), int(c), int(n)) for code, owner, d, c, n in rows)


def membership(conn: Connection, municipality: str, period: Period) -> tuple[str, list[Any]]:
    """The SQL condition on ``transfers t`` (``?`` placeholders) for the transfers of ``period``.

    Two disjoint ranges, each an index range: those booked in the month, and the late ones (booked
    before it, after the previous close: an id range). Only a municipality's first close reads
    everything before it, once."""
    done = {c.period: c for c in closes(conn, municipality)}
    where = "t.point_code IN (SELECT code FROM point_codes WHERE municipality_code = ?)"
    params: list[Any] = [municipality]
    closed, before = done.get(period), done.get(period.previous())
    start, end = db_timestamp(conn, period.start), db_timestamp(conn, period.end)
    if closed is not None:
        where += " AND t.id <= ?"
        params.append(closed.watermark)
    if before is not None:
        where += " AND ((t.created_at >= ? AND t.created_at < ?) OR (t.id > ? AND t.created_at < ?))"
        params += [start, end, before.watermark, start]
    elif closed is not None:  # the municipality's first close: everything booked before its end
        where += " AND t.created_at < ?"
        params.append(end)
    elif done and period < min(done):
        where += " AND 1 = 0"  # everything before a municipality's first close is in that close
    else:
        where += " AND t.created_at >= ? AND t.created_at < ?"
        params += [start, end]
    return where, params


def check_closed_periods(conn: Connection) -> list[tuple[str, str]]:
    """For ``ledger verify``: every closed period's statement is still what was stored when it
    closed, and each point code's lines sum to zero (double entry within the period)."""
    breaches: list[tuple[str, str]] = []
    for close_id, municipality, text_period in fetch_raw(
        conn,
        "SELECT id, municipality_code, period FROM settlement_closes ORDER BY municipality_code, period",
        [],
    ):
        period = parse_period(text_period)
        stored = stored_movements(conn, int(close_id))
        now = movements(conn, municipality, period)
        if stored != now:
            breaches.append(
                (
                    "settlement_changed",
                    f"closed period {period} of {municipality}: the ledger now says {_diff(stored, now)}",
                )
            )
        sums: dict[str, int] = {}
        for m in stored:
            sums[m.point_code] = sums.get(m.point_code, 0) + m.net
        breaches += [
            (
                "settlement_unbalanced",
                f"closed period {period} of {municipality}: {code} lines sum to {total}",
            )
            for code, total in sums.items()
            if total != 0
        ]
    return breaches


def _diff(stored: list[Movement], now: list[Movement]) -> str:
    old = {(m.point_code, m.owner): m for m in stored}
    new = {(m.point_code, m.owner): m for m in now}
    for key in sorted(old.keys() | new.keys()):
        if old.get(key) != new.get(key):
            before, after = old.get(key), new.get(key)
            return (
                f"{key[1]} {key[0]} moved {after.net if after else 0} in {after.transfers if after else 0} "
                f"transfers, the statement stored {before.net if before else 0} in "
                f"{before.transfers if before else 0}"
            )
    return "something else"


def require_known_municipality(conn: Connection, municipality: str) -> None:
    if not fetch_raw(conn, "SELECT code FROM municipalities WHERE code = ?", [municipality]):
        raise NotFound("unknown_municipality", f"municipality {municipality} has not been added")
