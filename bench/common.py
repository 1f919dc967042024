"""What the benches share: a throwaway PostgreSQL database, a timer of wall and CPU time,
percentiles, the ``--smoke`` and ``--postgres`` options, and the raw baselines their figures are
divided by.

One place, so that each bench says only what it measures. The baselines exist because the machine
is shared: a figure measured while others run tests halves for no reason of ours, but a raw
operation measured in the same run (plain INSERTs into the same database, ``/healthz`` on the
same server) slows with it, and the ratio of the two stays put.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import statistics
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import requests
from sqlalchemy import Connection, Engine, create_engine, text

POSTGRES_ENV = "MKP_TEST_POSTGRES_URL"


def add_smoke_option(parser: argparse.ArgumentParser) -> None:
    """``--smoke``: every code path of the bench at a tiny size, in seconds (the tests run it)."""
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="tiny sizes: every code path in seconds, figures meaningless (tests/test_benches.py)",
    )


def add_postgres_option(parser: argparse.ArgumentParser) -> None:
    """``--postgres ADMIN_URL``: PostgreSQL figures too, in a throwaway database on that server."""
    parser.add_argument(
        "--postgres",
        default=os.environ.get(POSTGRES_ENV),
        help=f"a PostgreSQL server's URL: also measured there, in a throwaway database (default ${POSTGRES_ENV})",
    )


@contextmanager
def throwaway_postgres(base: str, label: str = "bench") -> Iterator[str]:
    """A new database on ``base``'s server for the run, dropped afterwards (never the one named)."""
    name = f"mkp_{label}_{uuid.uuid4().hex[:8]}"
    admin = create_engine(
        base.replace("postgresql://", "postgresql+psycopg://", 1), isolation_level="AUTOCOMMIT"
    )
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield base.rsplit("/", 1)[0] + "/" + name
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@contextmanager
def timed() -> Iterator[Callable[[], tuple[float, float]]]:
    """Yields a function giving (wall, cpu) seconds since the block started."""
    wall, cpu = time.perf_counter(), time.process_time()
    yield lambda: (time.perf_counter() - wall, time.process_time() - cpu)


def pct(values: list[float], p: int) -> float:
    """The ``p``-th percentile (one value: that value; none: NaN)."""
    if len(values) < 2:
        return values[0] if values else float("nan")
    return statistics.quantiles(values, n=100, method="inclusive")[p - 1]


# --- raw baselines, measured in the same run -------------------------------------------------------


def raw_inserts_per_second(engine: Engine, rows: int, batch: int) -> float:
    """Plain INSERTs of transfer-sized rows into a scratch table, ``batch`` a transaction: the
    database's own pace on this machine now, with none of our code in the way."""
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE IF EXISTS bench_raw"))
        conn.execute(
            text(
                "CREATE TABLE bench_raw (id INTEGER PRIMARY KEY, client_id VARCHAR(80) UNIQUE, "
                "debit VARCHAR(80), credit VARCHAR(80), amount BIGINT)"
            )
        )
    statement = text(
        "INSERT INTO bench_raw (id, client_id, debit, credit, amount) VALUES (:id, :c, :d, :k, :a)"
    )
    started = time.perf_counter()
    for start in range(0, rows, batch):
        with engine.begin() as conn:
            conn.execute(
                statement,
                [
                    {"id": n, "c": f"raw-{n}", "d": f"holder:h{n % 1000}", "k": "payee:shop", "a": 10}
                    for n in range(start, min(start + batch, rows))
                ],
            )
    elapsed = time.perf_counter() - started
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE bench_raw"))
    return rows / elapsed


def raw_transfers_per_second(engine: Engine, rows: int, batch: int, accounts: int = 1000) -> float:
    """:func:`raw_transfers_rates`' rows per second of wall-clock time."""
    return raw_transfers_rates(engine, rows, batch, accounts)[0]


def raw_transfers_rates(engine: Engine, rows: int, batch: int, accounts: int = 1000) -> tuple[float, float]:
    """Transfer-shaped rows written by hand through the driver (no SQLAlchemy in the way), ``batch``
    a transaction: each row INSERTed with a unique client id and its two accounts' totals UPDATEd,
    as the ledger must at the least (one row, two balances), with nothing checked. The floor
    under the ledger's own rate: rows per second of wall-clock time, and per second of this
    process's CPU time (on SQLite the database's work too; on PostgreSQL the client's only)."""
    with engine.begin() as conn:
        for statement in (
            "DROP TABLE IF EXISTS bench_raw",
            "DROP TABLE IF EXISTS bench_raw_accounts",
            "CREATE TABLE bench_raw (id INTEGER PRIMARY KEY, client_id VARCHAR(80) UNIQUE, "
            "debit INTEGER, credit INTEGER, amount BIGINT)",
            "CREATE TABLE bench_raw_accounts (id INTEGER PRIMARY KEY, debits BIGINT, credits BIGINT)",
        ):
            conn.execute(text(statement))
        conn.execute(
            text("INSERT INTO bench_raw_accounts (id, debits, credits) VALUES (:id, 0, 0)"),
            [{"id": n} for n in range(accounts + 1)],
        )
    mark = "%s" if engine.dialect.name == "postgresql" else "?"
    insert = f"INSERT INTO bench_raw (id, client_id, debit, credit, amount) VALUES ({', '.join([mark] * 5)})"
    debit = f"UPDATE bench_raw_accounts SET debits = debits + {mark} WHERE id = {mark}"
    credit = f"UPDATE bench_raw_accounts SET credits = credits + {mark} WHERE id = {mark}"
    started, cpu = time.perf_counter(), time.process_time()
    for start in range(0, rows, batch):
        numbers = range(start, min(start + batch, rows))
        with engine.begin() as conn:
            cursor = conn.connection.cursor()
            cursor.executemany(insert, [(n, f"raw-{n}", n % accounts + 1, 0, 10) for n in numbers])
            cursor.executemany(debit, [(10, n % accounts + 1) for n in numbers])
            cursor.executemany(credit, [(10, 0) for _ in numbers])
            cursor.close()
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE bench_raw"))
        conn.execute(text("DROP TABLE bench_raw_accounts"))
    return rows / elapsed, rows / cpu


def process_tree_cpu(pid: int) -> float:
    """CPU seconds (user + system) used so far by process ``pid`` and its living descendants (a
    gunicorn master and its workers), from /proc: the server's own cost of what a bench sends,
    which a busy machine does not inflate as it does wall-clock time. NaN without /proc."""
    if not Path(f"/proc/{pid}/stat").exists():
        return float("nan")
    total, todo = 0.0, [pid]
    while todo:
        cpu, children = _process_cpu(todo.pop())
        total += cpu
        todo.extend(children)
    return total


#: The step in which /proc counts CPU time (a clock tick: 10 ms on Linux).
CPU_TICK = 1 / os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 0.01
#: Ticks a CPU reading must span to be told within 5 %: fewer, and it may read 0 or double.
READABLE_TICKS = 20


def cpu_readable(*seconds: float) -> bool:
    """Do these :func:`process_tree_cpu` differences span enough clock ticks to be compared?"""
    return all(s >= READABLE_TICKS * CPU_TICK for s in seconds)


def _process_cpu(pid: int) -> tuple[float, list[int]]:
    """One process's CPU seconds and its children's ids (0 and none if it has just ended)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        children = [
            int(c)
            for task in Path(f"/proc/{pid}/task").iterdir()
            for c in (task / "children").read_text().split()
        ]
    except (FileNotFoundError, ProcessLookupError):
        return 0.0, []
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK"), children  # utime + stime


def healthz_latencies(url: str, session: requests.Session, count: int) -> list[float]:
    """``GET /healthz`` on the same server and connection, in ms: its HTTP floor right now."""
    latencies = []
    for _ in range(count):
        t0 = time.perf_counter()
        r = session.get(url + "/healthz")
        latencies.append((time.perf_counter() - t0) * 1000)
        assert r.status_code == 200, r.text
    return latencies


# --- set-up the benches repeat ---------------------------------------------------------------------


def register_holders(conn: Connection, mykey_ids: list[str], home: str | None = None) -> None:
    """MyKey IDs registered by the registry's own function for made-up certificates: registering a
    card (its proof, the CRL) is bench/mykey.py's figure, not what the others measure."""
    from server.platform.mykey import registry
    from server.platform.mykey.cards import Card

    not_after = datetime.now(UTC) + timedelta(days=3650)
    for mykey_id in mykey_ids:
        digest = hashlib.sha256(mykey_id.encode()).hexdigest()
        card = Card(digest, "0" * 64, digest[:16].upper(), not_after)
        registry.register(conn, card, mykey_id, home, 1)


@dataclass
class AppInProcess:
    """The server's app in this process behind Flask's test client (no sockets), and an operator."""

    app: Any
    client: Any
    headers: dict[str, str]

    def post(self, path: str, body: dict[str, Any]) -> Any:
        """An operator's mutation (a new client id), asserted to succeed: its JSON reply."""
        r = self.client.post(path, json={"client_id": f"b-{uuid.uuid4()}", **body}, headers=self.headers)
        assert r.status_code in (200, 201), (path, r.json)
        return r.json

    def dispose(self) -> None:
        """Close the app's connections (before a throwaway database is dropped)."""
        self.app.extensions["mkp.engine"].dispose()


def app_in_process(folder: Path, database_url: str, municipality: str = "142018") -> AppInProcess:
    """A migrated database with ``municipality`` and an operator, and the app on it."""
    from server.app import create_app
    from server.config import ServerConfig
    from server.db.engine import make_engine, write
    from server.db.migrate import upgrade
    from server.platform.municipalities.service import add_municipality
    from server.platform.operators.service import create_operator

    engine = make_engine(database_url)
    upgrade(engine)
    with write(engine) as conn:
        token = create_operator(conn, f"bench-{time.time_ns()}")
        add_municipality(conn, municipality)
    engine.dispose()
    config = ServerConfig(
        database_url=database_url, secrets_dir=str(folder / "secrets"), terminal_ca_dir=str(folder / "ca")
    )
    app = create_app(config)
    return AppInProcess(app, app.test_client(), {"Authorization": f"Bearer {token}"})


@contextmanager
def served(
    database_url: str,
    work: Path,
    workers: int = 1,
    threads: int = 8,
    extra_env: dict[str, str] | None = None,
) -> Iterator[tuple[Any, str]]:
    """``mkp-server run`` (gunicorn) on ``database_url``, as in production, and a new central
    operator's token (made by the server's own function in this process: one process fewer to
    start than ``mkp-server create-operator``); the server is stopped afterwards."""
    from server.db.engine import make_engine, write
    from server.launcher import start_server
    from server.platform.operators.service import create_operator

    server = start_server(database_url, work, workers=workers, threads=threads, extra_env=extra_env)
    try:
        engine = make_engine(database_url)
        with write(engine) as conn:
            token = create_operator(conn, f"bench-{uuid.uuid4().hex[:6]}")
        engine.dispose()
        yield server, token
    finally:
        server.stop()
