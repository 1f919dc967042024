"""Engines for SQLite (embedded default) and PostgreSQL (scale), and the two kinds of transaction.

SQLite runs in WAL mode with ``synchronous=NORMAL``: commits do not fsync, checkpoints do.
Write transactions start with ``BEGIN IMMEDIATE`` so two writers never deadlock on a lock
upgrade; reads use a plain deferred ``BEGIN`` and see one snapshot.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, Table, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, IntegrityError, OperationalError

from mkp_core.errors import MkpError

READ_OPTION = "mkp_read"
T = TypeVar("T")


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


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine for ``url``, tuned for this server."""
    url = normalize_url(url)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30}, **kwargs)
        _tune_sqlite(engine)
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    kwargs.setdefault("pool_size", 10)
    return create_engine(url, **kwargs)


def _tune_sqlite(engine: Engine) -> None:
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
    """A write transaction: committed on success, rolled back on any exception."""
    with engine.begin() as conn:
        yield conn


@contextmanager
def read(engine: Engine) -> Iterator[Connection]:
    """A read-only transaction that sees one consistent snapshot."""
    with engine.connect() as conn:
        conn = conn.execution_options(**{READ_OPTION: True})
        if is_postgres(conn):
            conn = conn.execution_options(isolation_level="REPEATABLE READ")
        with conn.begin():
            yield conn


def insert_ignoring_conflicts(conn: Connection, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """INSERT rows, skipping those that clash with a unique key (both dialects)."""
    if not rows:
        return
    if is_postgres(conn):
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    conn.execute(insert(table).on_conflict_do_nothing(), list(rows))


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
