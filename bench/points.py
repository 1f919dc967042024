"""Municipal points in figures: a 100,000-row grant file, spends taking expiry lots,
the expiry sweep over a million lots.

    .venv/bin/python bench/points.py [--rows N] [--spends N] [--lots N] [--postgres URL] [--smoke]

Prints one line per figure, with the target. In-process (no HTTP), on a fresh SQLite file
(and PostgreSQL with --postgres or MKP_TEST_POSTGRES_URL). Times are wall-clock; the CPU time
of this process is printed beside them, since a shared machine slows the wall clock, and the
spends' rate also as a ratio to plain INSERTs of as many rows into the same database.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import (
    add_postgres_option,
    add_smoke_option,
    raw_inserts_per_second,
    register_holders,
    throwaway_postgres,
    timed,
)
from server import ledger
from server.db.engine import make_engine, read, write
from server.db.migrate import upgrade
from server.platform.municipalities.service import add_municipality
from server.platform.operators.service import Operator
from server.points import expiry
from server.points.departments import grants, service

CODE = "142018"
DEPARTMENT = "142018-bench"
CENTRAL = Operator(1, "bench", None)


def fresh(url: str, holders: int) -> tuple[object, list[str]]:
    """A migrated database with 横須賀市, a department with a large budget, and ``holders`` MyKey IDs."""
    engine = make_engine(url)
    upgrade(engine)
    ids = [f"B{n:07d}" for n in range(holders)]
    with write(engine) as conn:
        add_municipality(conn, CODE)
        service.add_department(conn, CENTRAL, CODE, "bench", "ベンチ課", 10**12)
        service.add_grant_kind(conn, CENTRAL, DEPARTMENT, "volunteer", "ボランティア", None)
        register_holders(conn, ids)
    return engine, ids


def grant_file(url: str, rows: int) -> str:
    """A CSV of ``rows`` grants to 20,000 holders, checked and applied in one transaction."""
    engine, ids = fresh(url, min(rows, 20_000))
    lines = ["municipality,mykey_id,amount,grant_kind,memo"]
    lines += [f"{CODE},{ids[n % len(ids)]},{100 + n % 7},volunteer,row {n}" for n in range(rows)]
    data = ("\r\n".join(lines) + "\r\n").encode()
    with timed() as took, write(engine) as conn:
        summary = grants.batch(
            conn, CENTRAL, DEPARTMENT, "bench-batch-0001", data, "bench.csv", dry_run=False
        )
    wall, cpu = took()
    assert summary["applied"] and summary["rows"] == rows
    with read(engine) as conn:
        assert ledger.verify(conn).ok
    engine.dispose()  # type: ignore[attr-defined]
    return f"grant CSV: {rows:,} rows checked and applied in {wall:.1f} s (cpu {cpu:.1f} s; target <= 10 s)"


def spends(url: str, count: int, batch: int) -> str:
    """``count`` spends in batches, each taking the earliest-expiring of its wallet's three lots."""
    wallets = min(10_000, count)
    engine, _ = fresh(url, 0)
    now = datetime.now(UTC)
    credits = [
        ledger.TransferRequest(
            f"g-{w}-{n}",
            CODE,
            f"dept:{DEPARTMENT}",
            f"mykey:{w}",
            1000,
            "grant",
            expires_at=now + timedelta(days=30 * (n + 1)),
        )
        for w in range(wallets)
        for n in range(3)
    ]
    for start in range(0, len(credits), 10_000):
        with write(engine) as conn:
            ledger.create_transfers(conn, credits[start : start + 10_000], "bench")
    with timed() as took:
        for start in range(0, count, batch):
            requests = [
                ledger.TransferRequest(f"s-{n}", CODE, f"mykey:{n % wallets}", "payee:shop", 7, "spend")
                for n in range(start, min(start + batch, count))
            ]
            with write(engine) as conn:
                results = ledger.create_transfers(conn, requests, "bench")
            assert all(isinstance(r, ledger.Transfer) for r in results)
    wall, cpu = took()
    with read(engine) as conn:
        assert ledger.verify(conn).ok
    raw = raw_inserts_per_second(engine, count, batch)  # type: ignore[arg-type]
    engine.dispose()  # type: ignore[attr-defined]
    return (
        f"spends with lots: {count / wall:,.0f}/s = {count / wall / raw:.2f} x raw INSERTs ({raw:,.0f} rows/s) "
        f"({count:,} in batches of {batch}, wallets of 3 lots; cpu {count / cpu:,.0f}/s; target >= 10,000/s)"
    )


def sweep(url: str, lots: int) -> str:
    """The sweep over ``lots`` expired lots, four per wallet."""
    wallets = lots // 4
    engine, _ = fresh(url, 0)
    credited = datetime.now(UTC) - timedelta(days=400)
    expired = credited + timedelta(days=200)
    with timed() as setup:
        for start in range(0, lots, 20_000):
            requests = [
                ledger.TransferRequest(
                    f"g-{n}",
                    CODE,
                    f"dept:{DEPARTMENT}",
                    f"mykey:{n % wallets}",
                    10,
                    "grant",
                    expires_at=expired,
                )
                for n in range(start, min(start + 20_000, lots))
            ]
            with write(engine) as conn:
                ledger.create_transfers(conn, requests, "bench", now=credited)
    setup_wall, _ = setup()
    with timed() as took, write(engine) as conn:
        report = expiry.sweep(conn, "bench-sweep-0001", datetime.now(UTC), "bench")
    wall, cpu = took()
    assert report["lots"] == lots and report["points"] == lots * 10
    with read(engine) as conn:
        assert ledger.verify(conn).ok
    engine.dispose()  # type: ignore[attr-defined]
    return (
        f"expiry sweep: {lots:,} lots of {wallets:,} wallets in {wall:.1f} s (cpu {cpu:.1f} s; target <= 30 s; "
        f"the lots were granted in {setup_wall:.0f} s, {lots / setup_wall:,.0f} grants/s)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--spends", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--lots", type=int, default=1_000_000)
    add_postgres_option(parser)
    add_smoke_option(parser)
    args = parser.parse_args()
    if args.smoke:
        args.rows, args.spends, args.batch, args.lots = 200, 200, 50, 400
    with tempfile.TemporaryDirectory() as tmp:
        for figure, run in (
            ("a", lambda url: grant_file(url, args.rows)),
            ("b", lambda url: spends(url, args.spends, args.batch)),
            ("c", lambda url: sweep(url, args.lots)),
        ):
            print("sqlite " + run(f"sqlite:///{Path(tmp) / f'{figure}.sqlite3'}"), flush=True)
    if not args.postgres:
        print("postgresql: skipped (no --postgres / MKP_TEST_POSTGRES_URL)")
        return
    for run in (lambda url: grant_file(url, args.rows), lambda url: spends(url, args.spends, args.batch)):
        with throwaway_postgres(args.postgres) as url:
            print("postgresql " + run(url), flush=True)


if __name__ == "__main__":
    main()
