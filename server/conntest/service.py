"""Connection tests: scheduling, what a terminal is told, its report, the live status and the report.

No HTTP here (``server/conntest/api.py`` is the blueprint). Before go-live every enrolled terminal
runs its checklist at one scheduled moment, spread at random over the test's window so the
server sees a steady peak rather than one spike, and reports the result once. A report is one
committed row (and one row per failed check) before the terminal is answered, so a server
restart during the window loses nothing; a retry of the same report gets the first answer.

Who is expected: the terminals of the test's municipality (or all, for a nationwide test) that
are active now, plus any that reported (a terminal revoked after reporting still counts). A
terminal enrolled after the window is told of the test too, and its report is late: before
go-live every terminal takes part. Status and report are SQL aggregates over those rows,
so 10,000 terminals cost a few indexed queries, never a Python loop over every terminal.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections import namedtuple
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Engine,
    Select,
    and_,
    bindparam,
    case,
    func,
    insert,
    literal,
    or_,
    select,
)

from mkp_core import dates
from mkp_core.errors import Conflict, Forbidden, MkpError, NotFound
from mkp_core.signing import DEFAULT_MAX_SKEW
from mkp_core.wire import CONNTEST_MAX_WINDOW
from server.conntest.tables import conntest_failures, conntest_reports, conntests
from server.db.engine import inserted_id, is_postgres, run_write
from server.platform.municipalities.service import get_municipality
from server.platform.operators.service import Operator
from server.platform.tables import municipalities, places, terminals
from server.platform.terminal_auth_keys import (
    CONFIRM_AND_KEEP_CTES,
    PendingNonce,
    autocommitted_cursor,
    driver_sql,
    keep_nonce,
    refuse,
    replayed,
    run_driver_sql,
)

#: A terminal that was offline at the test's time reports when it is back, up to this long after
#: the window (marked late); after that the test is closed to reports and no longer announced.
LATE_REPORTS = timedelta(days=7)
#: How far ahead a test may be scheduled.
MAX_AHEAD = timedelta(days=366)
#: A time this far in the past is still "now" (the operator's command took a moment to arrive).
PAST_GRACE = timedelta(seconds=60)
#: A report may arrive this much before the start: the terminal's clock may be ahead by as much as
#: a signature allows.
EARLY_GRACE = timedelta(seconds=DEFAULT_MAX_SKEW)


# --- tests -------------------------------------------------------------------------------------


def schedule(
    conn: Connection,
    op: Operator,
    starts_at: str | datetime,
    window_seconds: int,
    municipality: str | None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """A new test at ``starts_at`` (an ISO 8601 time with offset) over ``window_seconds``.

    A scoped operator schedules only for its own municipality; a nationwide test (no
    municipality) needs the central operator. A past time, a window outside 1 s..1 h and an
    unknown municipality are refused and nothing is made.
    """
    now = now or datetime.now(UTC)
    start = dates.parse_instant(starts_at) if isinstance(starts_at, str) else starts_at.astimezone(UTC)
    if not 1 <= window_seconds <= CONNTEST_MAX_WINDOW:
        raise MkpError(
            "invalid_window", f"the window is 1 to {CONNTEST_MAX_WINDOW} seconds, not {window_seconds}"
        )
    if start < now - PAST_GRACE:
        raise MkpError("conntest_in_past", f"{start:%Y-%m-%d %H:%M:%S} UTC has passed: choose a time ahead")
    if start > now + MAX_AHEAD:
        raise MkpError("conntest_too_far", f"a test is scheduled at most {MAX_AHEAD.days} days ahead")
    if municipality is None:
        op.require_central()
    else:
        op.require_scope(municipality)
        get_municipality(conn, municipality)
    ends = start + timedelta(seconds=window_seconds)
    made = conn.execute(
        insert(conntests).values(
            starts_at=start,
            window_seconds=window_seconds,
            ends_at=ends,
            municipality_code=municipality,
            created_by=op.actor,
            created_at=now,
        )
    )
    return get_test(conn, inserted_id(made), now=now)


def _state(row: Any, now: datetime) -> str:
    if now < row.starts_at:
        return "scheduled"
    return "running" if now < row.ends_at else "closed"


def _test(row: Any, now: datetime) -> dict[str, Any]:
    return {
        "id": row.id,
        "starts_at": row.starts_at,
        "window_seconds": row.window_seconds,
        "ends_at": row.ends_at,
        "municipality": row.municipality_code,
        "state": _state(row, now),
        "created_by": row.created_by,
        "created_at": row.created_at,
    }


def _test_row(conn: Connection, test_id: int) -> Any:
    row = conn.execute(select(conntests).where(conntests.c.id == test_id)).first()
    if row is None:
        raise unknown_conntest(test_id)
    return row


def unknown_conntest(test_id: int) -> NotFound:
    """The refusal for a test that is not there (or another municipality's)."""
    return NotFound("unknown_conntest", f"no connection test {test_id}")


def get_test(
    conn: Connection, test_id: int, op: Operator | None = None, now: datetime | None = None
) -> dict[str, Any]:
    """One test; a scoped operator sees its municipality's tests and the nationwide ones."""
    row = _test_row(conn, test_id)
    if op is not None and row.municipality_code is not None and not op.covers(row.municipality_code):
        raise unknown_conntest(test_id)
    return _test(row, now or datetime.now(UTC))


def list_tests(conn: Connection, op: Operator, now: datetime | None = None) -> list[dict[str, Any]]:
    """Every test, newest first (a scoped operator: its municipality's and the nationwide ones)."""
    query = select(conntests).order_by(conntests.c.starts_at.desc(), conntests.c.id.desc())
    if op.municipality:
        query = query.where(
            or_(conntests.c.municipality_code.is_(None), conntests.c.municipality_code == op.municipality)
        )
    now = now or datetime.now(UTC)
    return [_test(r, now) for r in conn.execute(query)]


# --- what a terminal is told ---------------------------------------------------------------------


def announcement_for(conn: Connection, terminal_id: str, now: datetime) -> dict[str, Any] | None:
    """The test ``terminal_id`` should run next, or None: the earliest one of its municipality (or
    nationwide) that it has not reported for, whose window ended at most ``LATE_REPORTS`` ago.

    One indexed query: the config download (and the agent's heartbeat) call it on every poll.
    """
    reported = (
        select(literal(1))
        .where(conntest_reports.c.test_id == conntests.c.id, conntest_reports.c.terminal_id == terminal_id)
        .exists()
    )
    row = conn.execute(
        select(conntests.c.id, conntests.c.starts_at, conntests.c.window_seconds, conntests.c.ends_at)
        .select_from(conntests)
        .join(terminals, terminals.c.id == terminal_id)
        .join(places, places.c.id == terminals.c.place_id)
        .where(
            conntests.c.ends_at > now - LATE_REPORTS,
            or_(
                conntests.c.municipality_code.is_(None),
                conntests.c.municipality_code == places.c.municipality_code,
            ),
            terminals.c.status == "active",
            ~reported,
        )
        .order_by(conntests.c.starts_at, conntests.c.id)
        .limit(1)
    ).first()
    if row is None:
        return None
    return {
        "test_id": row.id,
        "starts_at": row.starts_at,
        "window_seconds": row.window_seconds,
        "ends_at": row.ends_at,
    }


# --- a terminal's report -------------------------------------------------------------------------


def report_hash(report: dict[str, Any]) -> str:
    """What makes two sends of a report the same report: its whole body, canonically."""
    return hashlib.sha256(json.dumps(report, sort_keys=True, default=str).encode()).hexdigest()


def _receipt(test_id: int, terminal_id: str, row: Any) -> dict[str, Any]:
    """A kept report's receipt (``row``: from :data:`_TEST_AND_PLACE`, its ``prior_*`` columns)."""
    return {
        "test_id": test_id,
        "terminal_id": terminal_id,
        "received_at": row.prior_received_at,
        "late": bool(row.prior_late),
        "ok": bool(row.prior_ok),
    }


# The test, the reporting terminal's municipality and its report if it sent one already: one
# query, built once (every terminal in Japan reports in one window).
_PRIOR_REPORT = conntest_reports.alias("prior")
_TEST_AND_PLACE = (
    select(
        conntests,
        places.c.municipality_code.label("terminal_municipality"),
        _PRIOR_REPORT.c.body_hash.label("prior_hash"),
        _PRIOR_REPORT.c.received_at.label("prior_received_at"),
        _PRIOR_REPORT.c.late.label("prior_late"),
        _PRIOR_REPORT.c.ok.label("prior_ok"),
    )
    .select_from(conntests)
    .join(terminals, terminals.c.id == bindparam("terminal"))
    .join(places, places.c.id == terminals.c.place_id)
    .outerjoin(
        _PRIOR_REPORT,
        (_PRIOR_REPORT.c.test_id == conntests.c.id) & (_PRIOR_REPORT.c.terminal_id == terminals.c.id),
    )
    .where(conntests.c.id == bindparam("test"))
)
_KEEP_REPORT = insert(conntest_reports)


def _test_and_place(conn: Connection, test_id: int, terminal_id: str) -> Any:
    """The test, the reporting terminal's municipality and its earlier report's receipt, in one query."""
    row = conn.execute(_TEST_AND_PLACE, {"terminal": terminal_id, "test": test_id}).first()
    if row is None:
        _test_row(conn, test_id)  # unknown_conntest
        raise NotFound("unknown_terminal", f"no terminal {terminal_id}")
    return row


def _check_can_report(test: Any, now: datetime) -> None:
    if test.municipality_code is not None and test.terminal_municipality != test.municipality_code:
        raise Forbidden(
            "not_in_conntest", f"connection test {test.id} is for municipality {test.municipality_code} only"
        )
    if now < test.starts_at - EARLY_GRACE:
        raise Conflict(
            "conntest_not_started",
            f"connection test {test.id} starts at {test.starts_at:%Y-%m-%d %H:%M:%S} UTC: report then",
        )
    if now > test.ends_at + LATE_REPORTS:
        raise Conflict(
            "conntest_closed", f"connection test {test.id} closed {LATE_REPORTS.days} days after its window"
        )


def keep_report(
    engine: Engine,
    test_id: int,
    pending: PendingNonce,
    report: dict[str, Any],
    now: datetime | None = None,
) -> tuple[dict[str, Any], bool]:
    """:func:`record_report` in a transaction of its own: (receipt, made now).

    On PostgreSQL the common case, a report kept, is the one statement of :data:`_KEEP_ALL`
    committed as it runs: it is whole by itself (nonce, report and failed checks, or nothing), so
    the ``BEGIN`` and ``COMMIT`` round trips around it bought nothing. Any other outcome (a
    retry, a refusal) is judged by :func:`record_report` in a write transaction as before, once the
    nonce that statement kept is deleted again: a refusal leaves nothing behind, a retry of the
    same report gets its first receipt.
    """
    now = now or datetime.now(UTC)
    if is_postgres(engine):
        receipt = _keep_if_all_holds(engine, test_id, pending, report, now)
        if receipt is not None:
            return receipt, True
    return run_write(engine, lambda conn: record_report(conn, test_id, pending, report, now))


_FORGET_NONCE = driver_sql("DELETE FROM terminal_nonces WHERE key_id = :key_id AND nonce = :nonce")


def _keep_if_all_holds(
    engine: Engine, test_id: int, pending: PendingNonce, report: dict[str, Any], now: datetime
) -> dict[str, Any] | None:
    """The receipt of ``report`` kept by :data:`_KEEP_ALL` alone in autocommit mode, or None when
    it kept no report (and then no nonce either)."""
    terminal_id, checks = pending.key_id, report["checks"]
    row = _report_row(test_id, terminal_id, report, report_hash(report), now)
    names = [c["name"] for c in checks]
    params = _keep_all_params(
        pending, row, _failed_rows(test_id, terminal_id, checks), len(set(names)) != len(names)
    )
    with autocommitted_cursor(engine) as cursor:
        cursor.execute(_KEEP_ALL, params)
        found = _KEPT(*cursor.fetchone())
        if not found.made:
            if found.nonce_new:
                cursor.execute(_FORGET_NONCE, {"key_id": pending.key_id, "nonce": pending.nonce})
            return None
    return {
        "test_id": test_id,
        "terminal_id": terminal_id,
        "received_at": now,
        "late": now > found.ends_at,
        "ok": row["ok"],
    }


def record_report(
    conn: Connection,
    test_id: int,
    pending: PendingNonce,
    report: dict[str, Any],
    now: datetime | None = None,
) -> tuple[dict[str, Any], bool]:
    """Keep one terminal's report (in the caller's write transaction): (receipt, made now).

    ``pending``: the signed request's nonce and key, confirmed and kept with the report (a replay,
    a revoked terminal or a key it no longer has is refused: ``terminal_auth_keys``); the terminal
    is ``pending.key_id``. Late when it arrives after the window. The same report again returns the
    first receipt; another report for the same test and terminal is refused (``report_conflict``).
    PostgreSQL does it all in one statement (:data:`_KEEP_ALL`), SQLite in a few.
    """
    now = now or datetime.now(UTC)
    terminal_id = pending.key_id
    digest = report_hash(report)
    checks = report["checks"]
    names = [c["name"] for c in checks]
    row = _report_row(test_id, terminal_id, report, digest, now)
    failed = _failed_rows(test_id, terminal_id, checks)
    if is_postgres(conn):
        test = _keep_all(conn, pending, row, failed, duplicates=len(set(names)) != len(names))
        made = bool(test.made)
    else:
        if not keep_nonce(conn, pending):
            raise replayed(terminal_id)
        test = _test_and_place(conn, test_id, terminal_id)
        made = False
    if test.id is None:
        _test_row(conn, test_id)  # unknown_conntest
        raise NotFound("unknown_terminal", f"no terminal {terminal_id}")
    if test.prior_hash is not None:
        if test.prior_hash != digest:
            raise Conflict(
                "report_conflict",
                f"terminal {terminal_id} already reported for connection test {test_id}, with other results",
            )
        return _receipt(test_id, terminal_id, test), False
    if not made:
        _check_can_report(test, now)
        if len(set(names)) != len(names):
            raise MkpError("invalid_checks", "each check is reported once")
        row["late"] = now > test.ends_at
        conn.execute(_KEEP_REPORT, row)
        if failed:
            conn.execute(insert(conntest_failures), failed)
    return {
        "test_id": test_id,
        "terminal_id": terminal_id,
        "received_at": now,
        "late": now > test.ends_at,
        "ok": row["ok"],
    }, True


def _failed_rows(test_id: int, terminal_id: str, checks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The ``conntest_failures`` rows of a report: one per failed check."""
    return [
        {
            "test_id": test_id,
            "terminal_id": terminal_id,
            "check_name": c["name"],
            "code": c.get("code") or "failed",
            "detail": c.get("detail") or "",
        }
        for c in checks
        if not c["ok"]
    ]


def _report_row(
    test_id: int, terminal_id: str, report: dict[str, Any], digest: str, now: datetime
) -> dict[str, Any]:
    """The ``conntest_reports`` row of a report (``late`` is filled from the test)."""
    checks = report["checks"]
    return {
        "test_id": test_id,
        "terminal_id": terminal_id,
        "received_at": now,
        "started_at": dates.parse_instant(report["started_at"]),
        "late": None,
        "ok": all(c["ok"] for c in checks),
        "latency_ms": report.get("latency_ms"),
        "clock_offset_ms": report.get("clock_offset_ms"),
        "software_version": report["software_version"],
        "crl_version": report.get("crl_version"),
        "checks": json.dumps(checks, ensure_ascii=False),
        "body_hash": digest,
    }


# PostgreSQL: the key confirmed and the nonce kept (terminal_auth_keys), the test with the
# terminal's municipality and its earlier report (as _TEST_AND_PLACE), and the report and its
# failed checks kept when every rule of _check_can_report holds, in one statement: one round trip
# for what every terminal in Japan sends in one window. When nothing was kept, the columns say
# why, and Python raises the same refusals as on SQLite (the transaction rolls the nonce back).
_KEEP_ALL = driver_sql(
    f"""
WITH {CONFIRM_AND_KEEP_CTES},
test AS (
    SELECT c.id, c.starts_at, c.ends_at, c.municipality_code,
           p.municipality_code AS terminal_municipality,
           prior.body_hash AS prior_hash, prior.received_at AS prior_received_at,
           prior.late AS prior_late, prior.ok AS prior_ok
    FROM conntests AS c
    JOIN terminals AS t ON t.id = :key_id
    JOIN places AS p ON p.id = t.place_id
    LEFT JOIN conntest_reports AS prior ON prior.test_id = c.id AND prior.terminal_id = t.id
    WHERE c.id = :test_id
),
kept AS (
    INSERT INTO conntest_reports (test_id, terminal_id, received_at, started_at, late, ok, latency_ms,
                                  clock_offset_ms, software_version, crl_version, checks, body_hash)
    SELECT test.id, :key_id, :received_at, :started_at, :received_at > test.ends_at, :ok,
           CAST(:latency_ms AS integer), CAST(:clock_offset_ms AS bigint), :software_version,
           CAST(:crl_version AS text), :checks, :body_hash
    FROM test
    WHERE EXISTS (SELECT 1 FROM nonce_kept)
      AND test.prior_hash IS NULL
      AND (test.municipality_code IS NULL OR test.terminal_municipality = test.municipality_code)
      AND :received_at >= test.starts_at - :early_grace
      AND :received_at <= test.ends_at + :late_reports
      AND NOT :duplicates
    RETURNING 1
),
failed AS (
    INSERT INTO conntest_failures (test_id, terminal_id, check_name, code, detail)
    SELECT :test_id, :key_id, f.check_name, f.code, f.detail
    FROM json_to_recordset(CAST(:failed AS json)) AS f(check_name text, code text, detail text)
    WHERE EXISTS (SELECT 1 FROM kept)
)
SELECT test.*,
       EXISTS (SELECT 1 FROM key_ok) AS key_ok,
       EXISTS (SELECT 1 FROM nonce_kept) AS nonce_new,
       EXISTS (SELECT 1 FROM kept) AS made
FROM (SELECT 1) AS one LEFT JOIN test ON true
"""
)
_KEPT = namedtuple(  # the columns of _KEEP_ALL, by name as _TEST_AND_PLACE's
    "_KEPT",
    "id starts_at ends_at municipality_code terminal_municipality prior_hash prior_received_at "
    "prior_late prior_ok key_ok nonce_new made",
)


def _keep_all_params(
    pending: PendingNonce, row: dict[str, Any], failed: list[dict[str, Any]], duplicates: bool
) -> dict[str, Any]:
    """The bind parameters of :data:`_KEEP_ALL`."""
    return {
        **pending.params(),
        **row,
        "early_grace": EARLY_GRACE,
        "late_reports": LATE_REPORTS,
        "duplicates": duplicates,
        "failed": json.dumps(
            [{k: f[k] for k in ("check_name", "code", "detail")} for f in failed], ensure_ascii=False
        ),
    }


def _keep_all(
    conn: Connection,
    pending: PendingNonce,
    row: dict[str, Any],
    failed: list[dict[str, Any]],
    duplicates: bool,
) -> Any:
    """Run :data:`_KEEP_ALL`: the test's row (``id`` None when the test or terminal is unknown),
    ``made`` when the report was kept; a replay or a key that no longer holds is raised here."""
    found = _KEPT(*run_driver_sql(conn, _KEEP_ALL, _keep_all_params(pending, row, failed, duplicates)))
    if not found.key_ok:
        refuse(conn, pending)
    if not found.nonce_new:
        raise replayed(pending.key_id)
    return found


# --- status and report: SQL aggregates -------------------------------------------------------------


def _scope(test: Any, op: Operator) -> str | None:
    """The municipality a view covers: the test's own, else a scoped operator's, else all."""
    if test.municipality_code is not None:
        if not op.covers(test.municipality_code):
            raise unknown_conntest(test.id)
        return str(test.municipality_code)
    return op.municipality


def _expected(test: Any, scope: str | None, columns: list[Any]) -> Select[*tuple[Any, ...]]:
    """SELECT ``columns`` over the expected terminals of ``test``, each with its report (or NULLs)."""
    report = conntest_reports
    query = (
        select(*columns)
        .select_from(terminals)
        .join(places, places.c.id == terminals.c.place_id)
        .join(municipalities, municipalities.c.code == places.c.municipality_code)
        .outerjoin(report, and_(report.c.test_id == test.id, report.c.terminal_id == terminals.c.id))
        .where(or_(terminals.c.status == "active", report.c.terminal_id.is_not(None)))
    )
    if scope is not None:
        query = query.where(places.c.municipality_code == scope)
    return query


def _count_if(condition: ColumnElement[bool]) -> ColumnElement[int]:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def _tallies() -> list[Any]:
    r = conntest_reports
    reported = r.c.terminal_id.is_not(None)
    return [
        func.count().label("expected"),
        _count_if(reported).label("reported"),
        _count_if(and_(reported, r.c.ok.is_(True))).label("ok"),
        _count_if(and_(reported, r.c.ok.is_(False))).label("failed"),
        _count_if(and_(reported, r.c.late.is_(True))).label("late"),
    ]


def _status_tallies() -> list[Any]:
    """:func:`_tallies` and the number of reports with a round trip (every report of the scope is
    an expected terminal's): the percentiles' count, without a query of its own."""
    return [*_tallies(), func.count(conntest_reports.c.latency_ms).label("timed")]


def _failures(conn: Connection, test: Any, scope: str | None) -> list[dict[str, Any]]:
    f = conntest_failures
    query = (
        select(f.c.check_name, f.c.code, func.count().label("n"))
        .where(f.c.test_id == test.id)
        .group_by(f.c.check_name, f.c.code)
        .order_by(func.count().desc(), f.c.check_name, f.c.code)
    )
    if scope is not None:
        query = query.join(terminals, terminals.c.id == f.c.terminal_id).join(
            places, and_(places.c.id == terminals.c.place_id, places.c.municipality_code == scope)
        )
    return [{"check": c, "code": code, "count": int(n)} for c, code, n in conn.execute(query)]


def _latency(conn: Connection, test: Any, scope: str | None, count: int) -> dict[str, Any]:
    """p50/p95/p99 of the terminals' signed round trips (nearest rank) of ``count`` timed reports,
    by ORDER BY ... OFFSET on the (test, latency) index: the same SQL on SQLite (which has no
    percentile function) and PostgreSQL, three index probes in one query however many reported."""
    out: dict[str, Any] = {"count": count, "p50": None, "p95": None, "p99": None}
    if not count:
        return out
    r = conntest_reports
    base = select(r.c.latency_ms).where(r.c.test_id == test.id, r.c.latency_ms.is_not(None))
    if scope is not None:
        base = base.join(terminals, terminals.c.id == r.c.terminal_id).join(
            places, and_(places.c.id == terminals.c.place_id, places.c.municipality_code == scope)
        )
    ranks = {f"p{p}": max(1, math.ceil(p / 100 * count)) for p in (50, 95, 99)}
    row = conn.execute(
        select(
            *(
                base.order_by(r.c.latency_ms).offset(rank - 1).limit(1).scalar_subquery().label(name)
                for name, rank in ranks.items()
            )
        )
    ).one()
    return {**out, **row._asdict()}


def status(conn: Connection, op: Operator, test_id: int, now: datetime | None = None) -> dict[str, Any]:
    """Reported / expected, ok, failed, late, failures by reason and latency percentiles, now."""
    now = now or datetime.now(UTC)
    test = _test_row(conn, test_id)
    scope = _scope(test, op)
    totals = conn.execute(_expected(test, scope, _status_tallies())).one()
    return {
        "test": _test(test, now),
        "expected": int(totals.expected),
        "reported": int(totals.reported),
        "ok": int(totals.ok),
        "failed": int(totals.failed),
        "late": int(totals.late),
        "failures": _failures(conn, test, scope),
        "latency_ms": _latency(conn, test, scope, int(totals.timed)),
    }


def _address(prefecture: str, municipality: str, street: str | None) -> str:
    return f"{prefecture}{municipality}" + (f" {street}" if street else "")


def report(conn: Connection, op: Operator, test_id: int, now: datetime | None = None) -> dict[str, Any]:
    """The status, then per prefecture and municipality, the terminals that never reported (with
    their place and address, for someone to go and look) and the failed checks with why."""
    out = status(conn, op, test_id, now)
    test = _test_row(conn, test_id)
    scope = _scope(test, op)
    m = municipalities
    area_query = (
        _expected(test, scope, [m.c.prefecture, m.c.code, m.c.name, *_tallies()])
        .group_by(m.c.prefecture, m.c.code, m.c.name)
        .order_by(m.c.code)
    )
    out["areas"] = [
        {
            "prefecture": a.prefecture,
            "municipality": a.code,
            "municipality_name": a.name,
            "expected": int(a.expected),
            "reported": int(a.reported),
            "ok": int(a.ok),
            "failed": int(a.failed),
            "late": int(a.late),
            "missing": int(a.expected) - int(a.reported),
        }
        for a in conn.execute(area_query)
    ]
    missing_query = (
        _expected(
            test,
            scope,
            [terminals.c.id, terminals.c.name, places.c.id.label("place"), places.c.name.label("place_name")]
            + [places.c.street, m.c.code, m.c.name.label("municipality_name"), m.c.prefecture],
        )
        .where(conntest_reports.c.terminal_id.is_(None))
        .order_by(m.c.code, places.c.id, terminals.c.id)
    )
    out["missing"] = [
        {
            "terminal_id": t.id,
            "name": t.name,
            "place": t.place,
            "place_name": t.place_name,
            "address": _address(t.prefecture, t.municipality_name, t.street),
            "municipality": t.code,
            "prefecture": t.prefecture,
        }
        for t in conn.execute(missing_query)
    ]
    out["failed_terminals"] = _failed_terminals(conn, test, scope)
    return out


def _failed_terminals(conn: Connection, test: Any, scope: str | None) -> list[dict[str, Any]]:
    f, m = conntest_failures, municipalities
    query = (
        select(
            f.c.terminal_id,
            terminals.c.name,
            places.c.id.label("place"),
            places.c.name.label("place_name"),
            m.c.code,
            m.c.prefecture,
            f.c.check_name,
            f.c.code.label("reason"),
            f.c.detail,
            conntest_reports.c.late,
        )
        .select_from(f)
        .join(
            conntest_reports,
            and_(
                conntest_reports.c.test_id == f.c.test_id, conntest_reports.c.terminal_id == f.c.terminal_id
            ),
        )
        .join(terminals, terminals.c.id == f.c.terminal_id)
        .join(places, places.c.id == terminals.c.place_id)
        .join(m, m.c.code == places.c.municipality_code)
        .where(f.c.test_id == test.id)
        .order_by(m.c.code, places.c.id, f.c.terminal_id, f.c.check_name)
    )
    if scope is not None:
        query = query.where(places.c.municipality_code == scope)
    return [
        {
            "terminal_id": r.terminal_id,
            "name": r.name,
            "place": r.place,
            "place_name": r.place_name,
            "municipality": r.code,
            "prefecture": r.prefecture,
            "check": r.check_name,
            "code": r.reason,
            "detail": r.detail,
            "late": bool(r.late),
        }
        for r in conn.execute(query)
    ]
