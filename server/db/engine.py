"""Engines for SQLite (embedded default) and PostgreSQL (scale), and the two kinds of transaction.

SQLite runs in WAL mode with ``synchronous=NORMAL``: commits do not fsync, checkpoints do.
Write transactions start with ``BEGIN IMMEDIATE`` so two writers never deadlock on a lock
upgrade; reads use a plain deferred ``BEGIN`` and see one snapshot.

Bound parameters never appear in error messages (``hide_parameters``): they are the callers'
data (tokens' hashes, certificates, names), and error messages end up in logs.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import hashlib
import logging
import re
import threading
import time
import weakref
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Generic, TypeVar

from sqlalchemy import Connection, CursorResult, Engine, Table, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, DisconnectionError, IntegrityError, OperationalError

from mkp_core.errors import MkpError
from server.files import make_private, private_dir, private_file

READ_OPTION = "mkp_read"
# SQLite engines' in-process writer locks (see ``write``).
_WRITE_LOCKS: weakref.WeakKeyDictionary[Engine, threading.Lock] = weakref.WeakKeyDictionary()
_PLAIN_INSERT = re.compile(r"INSERT INTO (\w+) \(([\w, ]+)\) VALUES \((?:\?, )*\?\)")
T = TypeVar("T")
#: Rows from which :func:`executemany` sends a PostgreSQL INSERT as COPY.
COPY_FROM_ROWS = 20
#: Values per ``IN (...)`` list: SQLite allows 32766 parameters per statement, and huge lists
#: compile slowly on both databases.
IN_CHUNK = 500


class DatabaseUrlError(MkpError, ValueError):
    """A database URL this server cannot use."""

    def __init__(self, message: str) -> None:
        super().__init__("invalid_database_url", message)


def normalize_url(url: str) -> str:
    """Accept ``postgresql://`` / ``postgres://`` for psycopg 3, and plain SQLite paths."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise DatabaseUrlError(
            f"not a database URL: {url!r} (try sqlite:///path or postgresql://...)"
        ) from None
    if parsed.get_backend_name() not in ("sqlite", "postgresql"):
        raise DatabaseUrlError(
            f"unsupported database {parsed.get_backend_name()!r}: use SQLite or PostgreSQL"
        )
    if parsed.get_backend_name() == "postgresql" and parsed.drivername != "postgresql+psycopg":
        raise DatabaseUrlError(f"use the psycopg (3) driver: postgresql://..., not {parsed.drivername}")
    return url


def sqlite_path(url: str) -> Path | None:
    """The database file of a SQLite URL (None for PostgreSQL or an in-memory database)."""
    parsed = make_url(normalize_url(url))
    if parsed.get_backend_name() != "sqlite" or not parsed.database or parsed.database == ":memory:":
        return None
    return Path(parsed.database)


def secure_sqlite_files(url: str) -> list[Path]:
    """chmod an existing SQLite database and its -wal / -shm files to 0600; the files changed."""
    path = sqlite_path(url)
    if path is None:
        return []
    files = [path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")]
    return [f for f in files if make_private(f)]


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine for ``url``, tuned for this server."""
    url = normalize_url(url)
    parsed = make_url(url)
    kwargs.setdefault("hide_parameters", True)
    path = sqlite_path(url)
    if path is not None:
        # SQLite makes -wal and -shm with the database file's mode: a private file keeps all three private.
        private_dir(path.parent)
        private_file(path)
    if parsed.get_backend_name() == "sqlite":
        engine = create_engine(url, connect_args={"timeout": 30}, **kwargs)
        _tune_sqlite(engine)
    else:
        kwargs.setdefault("pool_size", 10)
        engine = create_engine(url, **kwargs)
        if not kwargs.get("pool_pre_ping"):
            _ping_after_idling(engine)
    event.listen(engine, "after_cursor_execute", _note_a_write)
    return engine


#: A pooled PostgreSQL connection unused for longer than this is pinged before it is handed out.
IDLE_PING_SECONDS = 1.0
_LAST_USED = "mkp_last_used"


def _ping_after_idling(engine: Engine) -> None:
    """Ping a pooled connection before use only when it has been idle (SQLAlchemy's pre-ping, done
    on every checkout, cost a round trip per transaction: two or three a signed request). A
    connection dropped while idle (PostgreSQL restarted, a firewall's timeout) is replaced
    unseen; one dropped within the last second fails its request once, and the pool is renewed."""

    @event.listens_for(engine, "checkin")
    def _note_last_use(_dbapi_conn: Any, record: Any) -> None:
        record.info[_LAST_USED] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _ping_if_idle(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        last = record.info.get(_LAST_USED)
        if last is None or time.monotonic() - last < IDLE_PING_SECONDS:
            return  # new, or used a moment ago
        try:
            cursor = dbapi_conn.cursor()
            cursor.execute("SELECT 1")
            cursor.close()
            dbapi_conn.rollback()
        except Exception as e:  # any failure: SQLAlchemy discards it and connects anew
            raise DisconnectionError(f"pooled connection is gone: {type(e).__name__}") from e


_WROTE = "mkp_wrote"
_WRITES = ("INSERT", "UPDATE", "DELETE")


def _note_a_write(conn: Connection, cursor: Any, statement: str, *_: Any) -> None:
    """Remember that this transaction changed a row (a driver that cannot count says -1: changed).
    SQLite's driver counts the rows of a statement with ``RETURNING`` only once they are fetched,
    after this runs: such a write counts as a change there (a nonce is kept ``uncounted``)."""
    if statement.lstrip()[:6].upper() not in _WRITES:
        return
    if cursor.rowcount != 0 or (conn.dialect.name == "sqlite" and " RETURNING " in statement.upper()):
        conn.info[_WROTE] = True


def wrote(conn: Connection) -> bool:
    """Has this write transaction changed a row yet? (A retry answered from its first reply has not.)"""
    return bool(conn.info.get(_WROTE))


@contextmanager
def uncounted(conn: Connection) -> Iterator[None]:
    """Rows written inside are kept but are not the transaction's change (:func:`wrote`): a signed
    request's nonce, or the pruning of old ones, so a retry answered from its first reply still
    changed nothing and leaves no audit entry."""
    before = conn.info.get(_WROTE)
    try:
        yield
    finally:
        if before:
            conn.info[_WROTE] = True
        else:
            conn.info.pop(_WROTE, None)


def _tune_sqlite(engine: Engine) -> None:
    _WRITE_LOCKS[engine] = threading.Lock()

    @event.listens_for(engine, "connect")
    def _connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        read = conn.get_execution_options().get(READ_OPTION, False)
        conn.exec_driver_sql("BEGIN" if read else "BEGIN IMMEDIATE")


def is_postgres(conn: Connection | Engine) -> bool:
    return conn.dialect.name == "postgresql"


@contextmanager
def write(engine: Engine) -> Iterator[Connection]:
    """A write transaction: committed on success, rolled back on any exception.

    SQLite lets one writer in at a time; the threads of one process queue for it on a lock here
    rather than in SQLite's busy handler, which sleeps in growing steps (a wait of up to 100 ms
    per try) and turned eight threads' 2 ms transactions into a p99 of a second.
    """
    with _writing(engine) as conn:
        yield conn
        _run_before_commit(conn)


@contextmanager
def _writing(engine: Engine) -> Iterator[Connection]:
    """:func:`write` without the hooks run before it commits (a group runs each caller's own);
    what :func:`on_commit` asked for runs once it has committed."""
    lock = _WRITE_LOCKS.get(engine)
    with lock or contextlib.nullcontext(), engine.begin() as conn:
        conn.info.pop(_WROTE, None)
        conn.info.pop(_ON_COMMIT, None)  # a rolled-back transaction's, on this pooled connection
        conn.info[_LAST_ROWS] = {}
        conn.info[_AT_COMMIT] = []
        try:
            yield conn
            _finish(conn)
        finally:
            conn.info.pop(_LAST_ROWS, None)
            conn.info.pop(_AT_COMMIT, None)
        committed: list[Callable[[], None]] = conn.info.pop(_ON_COMMIT, [])
    for callback in committed:
        callback()


_ON_COMMIT = "mkp_on_commit"
_LAST_ROWS = "mkp_last_rows"
_AT_COMMIT = "mkp_at_commit"


@dataclass(frozen=True)
class _Requirement:
    """A query that must find a row when the transaction commits, and the refusal if it does not."""

    sql: str
    params: tuple[Any, ...]
    refused: Callable[[], Exception]


def require_at_commit(
    conn: Connection, sql: str, params: Sequence[Any], refused: Callable[[], Exception]
) -> None:
    """Commit ``conn``'s write transaction only if ``sql`` (``?`` placeholders) finds a row at its
    very end; else roll it back and raise ``refused()``. Only in :func:`write`'s transactions.

    Why: a check that must hold at the commit (an operator's token not revoked) cost a round trip
    of its own before the COMMIT's. On PostgreSQL it goes with the transaction's last rows
    (:func:`insert_last`) and its COMMIT, in one round trip, asked so that finding no row is an
    error (a division by zero): the database skips the COMMIT sent behind a failed statement, so
    nothing of the transaction is kept. SQLite: asked just before the commit."""
    checks: list[_Requirement] | None = conn.info.get(_AT_COMMIT)
    if checks is None:
        raise RuntimeError("require_at_commit outside a write transaction: nothing would check it")
    checks.append(_Requirement(sql, tuple(params), refused))


def _finish(conn: Connection) -> None:
    """The transaction's last rows and its checks at commit; on PostgreSQL its COMMIT too, all in
    one round trip (SQLAlchemy's own commit then finds nothing left to commit): a COMMIT sent
    behind a failed statement is skipped."""
    pending: dict[Table, list[dict[str, Any]]] = conn.info[_LAST_ROWS]
    checks: list[_Requirement] = conn.info[_AT_COMMIT]
    if not is_postgres(conn) or not (checks or any(pending.values())):
        _insert_last_rows(conn)
        for check in checks:
            if not fetch_raw(conn, check.sql, check.params):
                raise check.refused()
        return
    driver: Any = conn.connection.driver_connection  # the transaction's own psycopg connection
    cursors = [driver.cursor() for _ in checks]
    try:
        with driver.pipeline():
            for table, rows in pending.items():
                _insert_through_driver(conn, table, rows)
            for cursor, check in zip(cursors, checks, strict=True):
                # One shape each (no IN list): psycopg may prepare it, PostgreSQL then plans it once.
                cursor.execute(_REQUIRED.format(check.sql.replace("?", "%s")), check.params)
            driver.execute("COMMIT")
    except Exception as e:
        if getattr(e, "sqlstate", None) != _DIVISION_BY_ZERO:
            # As SQLAlchemy raises it (a unique key's clash: IntegrityError, which run_write retries).
            raise DBAPIError.instance(
                None, None, e, conn.dialect.loaded_dbapi.Error, hide_parameters=True, dialect=conn.dialect
            ) from e
        # The first check without a result failed; those after it were skipped with the COMMIT.
        failed = next(c for cursor, c in zip(cursors, checks, strict=True) if cursor.pgresult is None)
        raise failed.refused() from None
    finally:
        for cursor in cursors:
            cursor.close()


#: A check at commit as PostgreSQL is asked it: no row found is a division by zero.
_REQUIRED = "SELECT 1 / count(*) FROM ({} LIMIT 1) AS found"
_DIVISION_BY_ZERO = "22012"  # its SQLSTATE


def _insert_through_driver(conn: Connection, table: Table, rows: list[dict[str, Any]]) -> None:
    """:func:`_insert_last_rows` of one table through the driver (it may run in a pipeline): one
    INSERT of all its rows alike, their values made as SQLAlchemy would bind them."""
    by_columns: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for row in rows:
        by_columns.setdefault(tuple(row), []).append(row)
    for columns, alike in by_columns.items():
        sql, processors = _driver_insert(conn.dialect, table, columns)
        values = [
            value
            for row in alike
            for value in (p(row[c]) if p else row[c] for c, p in zip(columns, processors, strict=True))
        ]
        cursor = conn.connection.cursor()  # the transaction's own DBAPI connection
        try:
            many = ", ".join([sql[1]] * len(alike))
            cursor.execute((sql[0] + many).replace("?", "%s"), tuple(values))
        finally:
            cursor.close()


@functools.cache
def _driver_insert(dialect: Any, table: Table, columns: tuple[str, ...]) -> tuple[tuple[str, str], list[Any]]:
    """The INSERT of ``columns`` into ``table`` (``?`` placeholders) as its head and one row's
    ``(?, ...)``, and each column's bind processor."""
    names = ", ".join(columns)
    marks = "(" + ", ".join("?" * len(columns)) + ")"
    processors = [table.c[c].type.bind_processor(dialect) for c in columns]
    return (f"INSERT INTO {table.name} ({names}) VALUES ", marks), processors


def insert_last(conn: Connection, table: Table, row: dict[str, Any], counts: bool = False) -> None:
    """INSERT ``row`` into ``table`` as the write transaction's last statement, just before it
    commits (never if it rolls back first). Rows asked for by the several callers of one
    :class:`WriteGroup` pass (their audit entries) go in one statement per table, not one each.
    For rows nothing in the transaction reads back (but through :func:`last_rows`); only in
    :func:`write`'s transactions, outside savepoints (:func:`can_insert_last`). ``counts``: the row
    is a change of the transaction (:func:`wrote`), as an INSERT made at once would be."""
    pending: dict[Table, list[dict[str, Any]]] | None = conn.info.get(_LAST_ROWS)
    if pending is None:
        raise RuntimeError("insert_last outside a write transaction: the row would never be written")
    pending.setdefault(table, []).append(row)
    if counts:
        conn.info[_WROTE] = True


def can_insert_last(conn: Connection) -> bool:
    """May ``conn`` ask for :func:`insert_last` rows: in :func:`write`'s transaction, and outside any
    savepoint (a savepoint rolled back would not take back a row asked for in it)?"""
    return conn.info.get(_LAST_ROWS) is not None and not conn.in_nested_transaction()


def last_rows(conn: Connection, table: Table) -> list[dict[str, Any]]:
    """The rows of ``table`` asked for by :func:`insert_last` in this transaction, not written yet."""
    pending: dict[Table, list[dict[str, Any]]] = conn.info.get(_LAST_ROWS) or {}
    return pending.get(table, [])


def _insert_last_rows(conn: Connection) -> None:
    pending: dict[Table, list[dict[str, Any]]] = conn.info[_LAST_ROWS]
    for table, rows in pending.items():
        conn.execute(_plain_insert(table), rows)


@functools.cache
def _plain_insert(table: Table) -> Any:
    """``INSERT INTO table`` built once per table, so SQLAlchemy finds it compiled."""
    return table.insert()


def on_commit(conn: Connection, callback: Callable[[], None]) -> None:
    """Run ``callback`` once ``conn``'s write transaction has committed; never if it rolls back
    (what a callback notes, e.g. "this request's audit entry is written", is then true)."""
    conn.info.setdefault(_ON_COMMIT, []).append(callback)


# What every write transaction does last, before it commits, while a caller has asked for it (the
# web layer, for the length of one request): the audit trail's entry is written in the same
# transaction as the change it records, so there is never a change without its entry, and a
# refused request (rolled back) leaves none. A context variable: each request thread has its own.
_BEFORE_COMMIT: ContextVar[tuple[Callable[[Connection], None], ...]] = ContextVar(
    "mkp_before_commit", default=()
)


def set_before_commit(hooks: tuple[Callable[[Connection], None], ...]) -> None:
    """Run ``hooks`` (in order) at the end of every write transaction of this context, until
    changed; ``()`` stops them."""
    _BEFORE_COMMIT.set(hooks)


def add_before_commit(hook: Callable[[Connection], None]) -> None:
    """Run ``hook`` too, after those set already, at the end of every write transaction of this
    context, until :func:`set_before_commit` changes them (the web layer clears them after each
    request); a hook added twice runs once."""
    hooks = _BEFORE_COMMIT.get()
    if hook not in hooks:
        _BEFORE_COMMIT.set((*hooks, hook))


def _run_before_commit(conn: Connection) -> None:
    for hook in _BEFORE_COMMIT.get():
        hook(conn)


@contextmanager
def read(engine: Engine) -> Iterator[Connection]:
    """A read-only transaction that sees one consistent snapshot."""
    with engine.connect() as conn:
        conn = conn.execution_options(**{READ_OPTION: True})
        if is_postgres(conn):
            conn = conn.execution_options(isolation_level="REPEATABLE READ")
        with conn.begin():
            yield conn


def lock_key(conn: Connection, key: str) -> None:
    """Serialise write transactions that name the same ``key`` until this one ends.

    PostgreSQL: a transaction-scoped advisory lock on a 64-bit hash of the key (a twin waits,
    then sees the first one's committed rows). SQLite: ``BEGIN IMMEDIATE`` already lets one
    writer in at a time, so there is nothing to do.
    """
    if is_postgres(conn):
        conn.execute(text("SELECT pg_advisory_xact_lock(:n)"), {"n": _lock_number(key)})


def read_once_locked(conn: Connection, key: str, sql: str, params: dict[str, Any]) -> tuple[Any, ...] | None:
    """:func:`lock_key`, then the first row of ``sql`` (``:name`` parameters), read once the lock is
    held: what a twin committed while this one waited is seen.

    PostgreSQL: both in one round trip, sent together in a pipeline (each statement of a READ
    COMMITTED transaction takes its snapshot when it starts, so the read sees what the lock waited
    for), its row read once the pipeline has ended (a read inside waits for its rows, then the end
    for the pipeline's sync: two round trips). SQLite: the write transaction is the lock; the read
    alone. Rows as the driver gives them."""
    if not is_postgres(conn):
        return conn.execute(_text(sql), params).first()
    driver: Any = conn.connection.driver_connection  # the transaction's own psycopg connection
    with driver.cursor() as lock, driver.cursor() as read:
        with driver.pipeline():
            lock.execute(_LOCK, {"n": _lock_number(key)})
            read.execute(_psycopg_sql(sql), params)
        row = read.fetchone()
    return None if row is None else tuple(row)


_LOCK = "SELECT pg_advisory_xact_lock(%(n)s)"


def lock_key_statements(conn: Connection, key: str) -> list[tuple[str, list[Any]]]:
    """:func:`lock_key` as the statements to send (none on SQLite), for a caller that sends them
    with its other reads in one round trip (:func:`fetch_together`)."""
    return [("SELECT pg_advisory_xact_lock(?)", [_lock_number(key)])] if is_postgres(conn) else []


@functools.cache
def _text(sql: str) -> Any:
    """``sql`` as a statement SQLAlchemy finds compiled in its cache (built once per text)."""
    return text(sql)


@functools.cache
def _psycopg_sql(sql: str) -> str:
    """``sql`` with ``:name`` parameters written as psycopg's ``%(name)s`` (no ``::`` casts)."""
    return re.sub(r"(?<![:\w]):(\w+)", r"%(\1)s", sql)


def _lock_number(key: str) -> int:
    """The advisory lock of ``key``: a 64-bit hash of it."""
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big", signed=True)


def lock_keys(conn: Connection, keys: Iterable[str]) -> None:
    """:func:`lock_key` for many keys in one statement (a batch's), taken in one order (the
    hashes'), so two transactions locking overlapping sets never wait on each other in a circle."""
    if is_postgres(conn):
        numbers = sorted({_lock_number(k) for k in keys})
        if numbers:
            conn.execute(
                text(
                    "SELECT count(pg_advisory_xact_lock(n)) FROM "
                    "(SELECT unnest(CAST(:ns AS bigint[])) AS n ORDER BY n) AS keys"
                ),
                {"ns": numbers},
            )


def insert_ignoring_conflicts(conn: Connection, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """INSERT rows, skipping those that clash with a unique key (both dialects)."""
    if not rows:
        return
    from sqlalchemy.dialects import postgresql, sqlite

    insert = postgresql.insert if is_postgres(conn) else sqlite.insert
    conn.execute(insert(table).on_conflict_do_nothing(), list(rows))


def insert_if_new(conn: Connection, table: Table, values: dict[str, Any]) -> bool:
    """INSERT one row unless it clashes with a unique key: was it new? One statement (no savepoint:
    a twin still in flight on another connection is waited for, as a plain INSERT would)."""
    return conn.execute(_insert_if_new_statement(conn.dialect.name, table), values).first() is not None


@functools.cache
def _insert_if_new_statement(dialect: str, table: Table) -> Any:
    """Built once per table and dialect (the values come as parameters), so SQLAlchemy finds it
    compiled in its cache without building and hashing a new statement each time."""
    from sqlalchemy.dialects import postgresql, sqlite

    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    key = next(iter(table.primary_key.columns))
    return insert(table).on_conflict_do_nothing().returning(key)


def inserted_id(result: CursorResult[Any]) -> int:
    """The id an INSERT of one row made (SQLAlchemy's type allows a statement that made none)."""
    key = result.inserted_primary_key
    if key is None:
        raise RuntimeError("the statement inserted no row")
    return int(key[0])


def executemany(conn: Connection, sql: str, rows: Sequence[tuple[Any, ...]]) -> None:
    """Run ``sql`` (``?`` placeholders) once per row, straight through the driver's executemany.

    For the ledger's hot statements, whose values are plain integers: SQLAlchemy's per-row
    parameter processing costs more than the database's work there. psycopg gets ``%s``.
    """
    if not rows:
        return
    cursor = conn.connection.cursor()  # the transaction's own DBAPI connection
    try:
        plain_insert = _PLAIN_INSERT.fullmatch(sql)
        if is_postgres(conn) and plain_insert and len(rows) >= COPY_FROM_ROWS and not _in_pipeline(conn):
            # PostgreSQL takes many rows fastest by COPY (a pipelined INSERT costs a statement a
            # row); a few go quicker as one pipelined executemany (COPY costs two round trips).
            table, columns = plain_insert.group(1), plain_insert.group(2)
            with cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        elif is_postgres(conn):
            cursor.executemany(sql.replace("?", "%s"), rows)
        else:
            cursor.executemany(sql, rows)
    finally:
        cursor.close()


@contextmanager
def sent_together(conn: Connection, few: bool = True) -> Iterator[None]:
    """Statements run through the driver (:func:`executemany`, :func:`fetch_raw`,
    :func:`new_ids`) inside this block are sent to PostgreSQL together (a psycopg pipeline): those
    whose rows nobody reads cost no round trip of their own, all go at the first read or at the
    end (a block without a read costs one round trip; a read inside costs one more). A statement's error is raised there, and the transaction is then aborted anyway.
    SQLAlchemy's own ``execute`` must not run inside (it reads a result's shape at once).
    ``few``: False where the block may write many rows, which COPY takes faster than a pipeline
    (and COPY cannot run in one): the block then runs as it is, as it does on SQLite."""
    if not few or not is_postgres(conn):
        yield
        return
    driver: Any = conn.connection.driver_connection  # the transaction's own psycopg connection
    with driver.pipeline():
        yield


def _in_pipeline(conn: Connection) -> bool:
    """Is ``conn`` (PostgreSQL) inside :func:`sent_together`? COPY cannot run in a pipeline."""
    driver: Any = conn.connection.driver_connection
    return bool(driver.pgconn.pipeline_status)


def fetch_raw(conn: Connection, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
    """Rows of ``sql`` (``?`` placeholders; ``(?*)`` stands for one per param) as the driver
    returns them: no type processing (timestamps: see :func:`db_datetime`)."""
    sql = _one_marker_a_param(sql, params)
    cursor = conn.connection.cursor()  # the transaction's own DBAPI connection
    try:
        if is_postgres(conn):
            # Never a prepared statement: its generic plan for a long IN list scans the table.
            # `prepare` is psycopg's own keyword; the DB-API protocol SQLAlchemy types it with has none.
            cursor.execute(sql.replace("?", "%s"), tuple(params), prepare=False)  # type: ignore[call-arg]
        else:
            cursor.execute(sql, tuple(params))
        return [tuple(row) for row in cursor.fetchall()]
    finally:
        cursor.close()


def _one_marker_a_param(sql: str, params: Sequence[Any]) -> str:
    """``sql`` with its ``(?*)`` written out as one ``?`` for each of ``params``."""
    return sql.replace("(?*)", "(" + ", ".join("?" * len(params)) + ")")


def fetch_later(conn: Connection, sql: str, params: Sequence[Any]) -> Callable[[], list[tuple[Any, ...]]]:
    """Send ``sql`` (as :func:`fetch_raw` takes it) now, and give the function that reads its rows.
    Inside :func:`sent_together`, call it once the block has ended: the read then goes with the
    block's writes in their round trip (a read inside waits for its rows, one trip more)."""
    sql = _one_marker_a_param(sql, params)
    cursor = conn.connection.cursor()  # the transaction's own DBAPI connection
    if is_postgres(conn):
        cursor.execute(sql.replace("?", "%s"), tuple(params), prepare=False)  # type: ignore[call-arg]
    else:
        cursor.execute(sql, tuple(params))

    def rows() -> list[tuple[Any, ...]]:
        try:
            return [tuple(row) for row in cursor.fetchall()]
        finally:
            cursor.close()

    return rows


def fetch_together(
    conn: Connection, statements: Sequence[tuple[str, Sequence[Any]]], fixed: bool = False
) -> list[list[tuple[Any, ...]]]:
    """The rows of each of ``statements`` (as :func:`fetch_raw` takes them), run in order.

    PostgreSQL: all sent in one round trip (a psycopg pipeline). Each statement of a READ
    COMMITTED transaction takes its snapshot when it starts, so one that follows a lock
    (``FOR UPDATE``) sees what the lock waited for. SQLite: one after another. ``fixed``: every
    statement has one shape (no IN list of varying length), so psycopg may prepare it after a few
    runs, as it does SQLAlchemy's, and PostgreSQL stops parsing and planning it each time."""
    if not is_postgres(conn):
        return [fetch_raw(conn, sql, params) for sql, params in statements]
    driver: Any = conn.connection.driver_connection  # the transaction's own psycopg connection
    cursors = [driver.cursor() for _ in statements]
    try:
        # Read once the pipeline has ended: a read inside would wait for its rows, and the end
        # for the pipeline's sync, two round trips.
        with driver.pipeline():
            for cursor, (sql, params) in zip(cursors, statements, strict=True):
                cursor.execute(
                    _one_marker_a_param(sql, params).replace("?", "%s"),
                    tuple(params),
                    prepare=None if fixed else False,
                )
        return [[tuple(row) for row in cursor.fetchall()] for cursor in cursors]
    finally:
        for cursor in cursors:
            cursor.close()


def new_ids(conn: Connection, table: str, count: int) -> list[int]:
    """``count`` fresh primary keys for rows about to be inserted into ``table`` with explicit ids.

    PostgreSQL: taken from the table's own sequence (concurrent writers get distinct ones).
    SQLite: after the largest id, which is safe because a write transaction (``BEGIN IMMEDIATE``)
    is the only writer, and the ledger's tables are never deleted from.
    """
    if count <= 0:
        return []
    if is_postgres(conn):
        ahead = _ids_ahead(conn).get(table, [])
        if len(ahead) >= count:
            taken, ahead[:] = ahead[:count], ahead[count:]
            return taken
        # Through the driver's cursor: it may run inside :func:`sent_together`.
        rows = fetch_raw(conn, *new_ids_statement(table, count))
        return [int(r[0]) for r in rows]
    top = conn.exec_driver_sql(f"SELECT coalesce(max(id), 0) FROM {table}").scalar_one()
    return list(range(int(top) + 1, int(top) + 1 + count))


def new_ids_statement(table: str, count: int) -> tuple[str, list[Any]]:
    """PostgreSQL's read of ``count`` fresh ids of ``table``, for a caller that sends it with its
    other reads in one round trip (:func:`fetch_together`), then hands the rows to :func:`ids_ahead`."""
    return "SELECT nextval(pg_get_serial_sequence(?, 'id')) FROM generate_series(1, ?)", [table, count]


def ids_ahead(conn: Connection, table: str, rows: list[tuple[Any, ...]]) -> None:
    """Fresh ids of ``table`` read ahead (:func:`new_ids_statement`), which :func:`new_ids` hands
    out first in this transaction. Those never handed out are gaps in the ids, as a rolled-back
    transaction's are (a sequence never gives one twice)."""
    _ids_ahead(conn).setdefault(table, []).extend(int(r[0]) for r in rows)


def _ids_ahead(conn: Connection) -> dict[str, list[int]]:
    """This transaction's ids read ahead, by table (a pooled connection's earlier ones forgotten)."""
    transaction = conn.get_transaction()
    kept = conn.info.get(_IDS_AHEAD)
    if kept is None or kept[0] is not transaction:
        kept = conn.info[_IDS_AHEAD] = (transaction, {})
    ahead: dict[str, list[int]] = kept[1]
    return ahead


_IDS_AHEAD = "mkp_ids_ahead"


def db_timestamp(conn: Connection, value: datetime | None) -> Any:
    """An aware datetime as :func:`executemany` passes it: SQLite stores the text SQLAlchemy would
    (UTC, microseconds), psycopg takes the datetime itself."""
    if value is None or is_postgres(conn):
        return value
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def db_datetime(value: Any) -> datetime | None:
    """A timestamp column read through ``exec_driver_sql``, as an aware UTC datetime."""
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(value).replace(tzinfo=UTC)


def chunked(values: Sequence[T], size: int = IN_CHUNK) -> Iterator[Sequence[T]]:
    """``values`` in slices of at most ``size`` (for ``IN`` lists)."""
    for start in range(0, len(values), size):
        yield values[start : start + size]


def run_write(engine: Engine, work: Callable[[Connection], T], attempts: int = 3) -> T:
    """Run ``work`` in a write transaction, retrying when a concurrent twin won a race.

    Two requests with one client id on different accounts meet only at the unique index;
    PostgreSQL may also pick a deadlock victim. Either way the retry sees the winner's row.
    """
    for attempt in range(attempts):
        try:
            with write(engine) as conn:
                return work(conn)
        except (IntegrityError, OperationalError) as e:
            if attempt == attempts - 1 or not _retryable(e):
                raise
    raise AssertionError("unreachable")


def _retryable(e: DBAPIError) -> bool:
    if isinstance(e, IntegrityError):
        return "unique" in str(e.orig).lower() or "duplicate" in str(e.orig).lower()
    sqlstate = getattr(e.orig, "sqlstate", None)
    return sqlstate in ("40001", "40P01")  # serialization failure, deadlock


# --- group commit: write transactions of one kind asked for at once, run as one --------------------

A = TypeVar("A")
log = logging.getLogger(__name__)

#: Passes a group makes at most: a pass whose work refused some shares is rolled back and made
#: again without them (they run alone); what is still refused after the last runs alone too.
GROUP_PASSES = 3


@dataclass(eq=False)
class Share(Generic[A]):
    """One caller's part of a grouped write transaction: what it asked (``asked``), in its own
    context (its request, its ``g``, its hooks before commit), and what the group made of it: an
    ``answer`` (:meth:`give`); a ``refusal`` (:meth:`refuse`: the error its own work raised, its
    work rolled back, for the caller to raise as alone it would have); or ``alone``: the group
    could not answer it, and the caller runs it in a write transaction of its own, exactly as
    without the group."""

    asked: A
    context: contextvars.Context = field(default_factory=contextvars.copy_context, repr=False)
    answer: Any = None
    answered: bool = False
    refusal: Exception | None = None
    alone: bool = False
    wrote: bool = False
    woken: threading.Event = field(default_factory=threading.Event, repr=False)
    leads: bool = False

    def give(self, answer: Any, wrote: bool = False) -> None:
        """This share's answer; ``wrote``: the group's work changed rows for it (its hooks run)."""
        self.answer, self.answered, self.wrote = answer, True, self.wrote or wrote

    def refuse(self, error: Exception) -> None:
        """Refuse this share with ``error``, as its own write transaction would have (raised in
        it): the pass is made again without it, so nothing it did is kept."""
        self.refusal = error

    def within(self, conn: Connection, work: Callable[[], T]) -> T:
        """``work()`` in the caller's own context (its request, its ``g``), noting whether it
        changed a row: its hooks before commit see that as :func:`wrote`, as alone they would."""
        before = conn.info.pop(_WROTE, None)
        try:
            return self.context.run(work)
        finally:
            self.wrote = self.wrote or bool(conn.info.get(_WROTE))
            conn.info[_WROTE] = bool(before) or bool(conn.info.get(_WROTE))

    def _forget(self) -> None:
        """What a rolled-back pass made of this share."""
        self.answer, self.answered, self.wrote = None, False, False


class _Queue:
    """One engine's waiting shares of one group, and whether a thread leads them now."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.waiting: list[Share[Any]] = []
        self.leading = False


class _Redo(Exception):
    """A pass refused some shares: roll it back, then make it again without them."""


class WriteGroup(Generic[A]):
    """Write transactions of one kind that a process's threads ask for at the same time, run as ONE
    write transaction: one begin and one commit (SQLite: one writer's turn) for all of them, and
    one pass of ``work`` over all of them (which may read and write for them together).

    Why: SQLite lets one writer in at a time, so a process's writes queue; each one's begin,
    commit and statements, and each wait for the interpreter lock in between, are paid in the
    queue, one after the other. Together they are paid once.

    How, in steps:

    1. **Queue.** A caller (:meth:`run`) puts its share in the engine's queue. If no thread leads
       the queue, it leads; else it waits.
    2. **Lead.** The leader offers the interpreter to other threads once (those about to queue
       join), then takes every share waiting (up to ``most``) and makes a pass: one
       write transaction in which ``work(conn, shares)`` gives each share its answer
       (:meth:`Share.give`), refuses it with the error its own work raised (:meth:`Share.refuse`)
       or leaves it to run alone (``share.alone = True``), running each caller's own steps in
       that caller's context (:meth:`Share.within`).
    3. **Refusals out.** If the pass refused any share or left one alone, it is rolled back and
       made again without them (at most ``GROUP_PASSES`` passes), so a refused share leaves
       nothing in the group's transaction: its caller raises its refusal, or runs it alone
       afterwards (its own transaction, its own answer), and hears exactly what it would have
       without the group.
    4. **Commit.** Each answered share's hooks before commit (its audit entry) run in its own
       context, then the transaction commits once. Any other failure (a database error, a lost
       race) sends every share of the pass to run alone, where the usual retries apply.
    5. **Hand over.** Every share of the pass is woken with its answer; if more are waiting, the
       first of them leads the next pass (the leader returns its own answer at once).
    """

    def __init__(self, work: Callable[[Connection, Sequence[Share[A]]], None], most: int = 500) -> None:
        self._work = work
        self._most = most
        self._queues: weakref.WeakKeyDictionary[Engine, _Queue] = weakref.WeakKeyDictionary()
        self._lock = threading.Lock()

    def run(self, engine: Engine, asked: A) -> Share[A]:
        """``asked`` in a group: its share, answered, or ``alone`` (the caller runs it on its own);
        its refusal is raised here."""
        share: Share[A] = Share(asked)
        queue = self._queue(engine)
        with queue.lock:
            queue.waiting.append(share)
            leads = not queue.leading
            queue.leading = True
        if not leads:
            share.woken.wait()
            if share.leads:
                share.woken.clear()
                self._lead(engine, queue)
        else:
            self._lead(engine, queue)
        if share.refusal is not None:
            raise share.refusal
        return share

    def waiting(self, engine: Engine) -> int:
        """How many shares wait for the next pass on ``engine`` (tests hold a pass to see a group)."""
        queue = self._queue(engine)
        with queue.lock:
            return len(queue.waiting)

    def _queue(self, engine: Engine) -> _Queue:
        with self._lock:
            queue = self._queues.get(engine)
            if queue is None:
                queue = self._queues[engine] = _Queue()
            return queue

    def _lead(self, engine: Engine, queue: _Queue) -> None:
        # Let the threads that are a step from the queue (their request read and checked) join it
        # before it is taken: the interpreter's lock offered once, no time waited. A request often
        # led a pass of its own while the rest of its round was being checked, and a pass of one
        # costs nearly what a pass of eight does.
        time.sleep(0)
        with queue.lock:
            shares: list[Share[A]] = queue.waiting[: self._most]
            del queue.waiting[: self._most]
        try:
            self._commit(engine, shares)
        finally:
            for share in shares:
                share.alone = share.alone or (not share.answered and share.refusal is None)
                share.woken.set()
            with queue.lock:
                if queue.waiting:
                    queue.waiting[0].leads = True
                    queue.waiting[0].woken.set()
                else:
                    queue.leading = False

    def _commit(self, engine: Engine, shares: list[Share[A]]) -> None:
        todo = shares
        for _ in range(GROUP_PASSES):
            try:
                with _writing(engine) as conn:
                    self._work(conn, todo)
                    if any(not s.answered or s.alone or s.refusal is not None for s in todo):
                        raise _Redo
                    for share in todo:
                        conn.info[_WROTE] = share.wrote
                        share.context.run(_run_before_commit, conn)
                return
            except _Redo:
                todo = [s for s in todo if s.answered and not s.alone and s.refusal is None]
            except Exception as e:
                if not isinstance(e, IntegrityError | OperationalError | MkpError):  # those: told alone
                    log.warning("a write group failed: its %d shares run alone", len(todo), exc_info=True)
                for share in todo:
                    share.refusal = None  # judged in a pass that failed: judged again alone
                todo = []
            for share in shares:
                share._forget()
            if not todo:
                return
