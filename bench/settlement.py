"""Settlement in one figure: a month's statement and export over a million transfers.

    .venv/bin/python bench/settlement.py [--transfers N] [--postgres URL] [--smoke]

A fresh SQLite file (and PostgreSQL with --postgres or MKP_TEST_POSTGRES_URL) gets N transfers
booked in November 2026 across 200 places, 5 partners, 3 departments and 50,000 wallets (spends,
grants, conversions, expiry, refunds), written straight into ``transfers`` with the driver's
executemany (COPY on PostgreSQL) and the accounts' posted totals set to match: building them
through ``create_transfers`` would take longer than what is measured. Then, timed:

* the open month's statement (the membership rule and two SQL aggregates) and its export as
  CSV and Shift_JIS (target: export of a month of 1,000,000 transfers <= 30 s);
* closing the month (the same aggregate, stored);
* the closed month's export (its stored lines) and ``ledger verify``'s closed-period check.

Times are wall-clock, with this process's CPU time beside them (a shared machine slows the wall).
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine, text

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import common
from bench.common import add_postgres_option, add_smoke_option, throwaway_postgres
from mkp_core.dates import JST
from mkp_core.settlement_export import export
from server.db.engine import db_timestamp, executemany, make_engine, read, write
from server.db.migrate import upgrade
from server.ledger import periods
from server.ledger.accounts import open_account
from server.platform.municipalities.service import add_municipality
from server.platform.operators.service import Operator
from server.settlement import service

CODE = "142018"
NOVEMBER = periods.parse_period("2026-11")
CENTRAL = Operator(1, "bench", None)
PLACES, PARTNERS, DEPARTMENTS, WALLETS = 200, 5, 3, 50_000
CHUNK = 100_000


@contextmanager
def timed() -> Iterator[Callable[[], str]]:
    """Yields a function giving 'wall s (cpu s)' since the block started."""
    with common.timed() as took:
        yield lambda: "{:.2f} s (cpu {:.2f} s)".format(*took())


def build(engine: Engine, count: int) -> None:
    """The month of the module docstring: accounts, ``count`` transfers, matching posted totals
    (fewer wallets than transfers: as many wallets as transfers)."""
    wallets_count = min(WALLETS, count)
    owners = (
        [f"payee:shop-{n}" for n in range(PLACES)]
        + [f"partner:P{n}" for n in range(PARTNERS)]
        + [f"mykey:{n}" for n in range(wallets_count)]
        + [f"breakage:{CODE}", f"muni:{CODE}"]
    )
    with write(engine) as conn:
        add_municipality(conn, CODE)
        for owner in owners:
            open_account(conn, owner, CODE)
        for n in range(DEPARTMENTS):
            open_account(conn, f"dept:{CODE}-d{n}", CODE, floor=-(10**15))
        ids = dict(conn.execute(text("SELECT owner, id FROM accounts")).all())
    rng = random.Random(10)
    places = [ids[f"payee:shop-{n}"] for n in range(PLACES)]
    partners = [ids[f"partner:P{n}"] for n in range(PARTNERS)]
    depts = [ids[f"dept:{CODE}-d{n}"] for n in range(DEPARTMENTS)]
    wallets = [ids[f"mykey:{n}"] for n in range(wallets_count)]
    breakage = ids[f"breakage:{CODE}"]
    seconds = int((NOVEMBER.end - NOVEMBER.start).total_seconds())

    def leg(n: int) -> tuple[str, int, int]:
        roll = n % 20
        wallet = wallets[rng.randrange(wallets_count)]
        if roll < 2:
            return "grant", depts[roll % DEPARTMENTS], wallet
        if roll < 4:
            return "convert", partners[n % PARTNERS], wallet
        if roll == 4:
            return "expire", wallet, breakage
        if roll == 5:
            return "reverse", places[rng.randrange(PLACES)], wallet
        return "spend", wallet, places[rng.randrange(PLACES)]

    for start in range(0, count, CHUNK):
        rows = []
        with write(engine) as conn:
            for n in range(start, min(count, start + CHUNK)):
                kind, debit, credit = leg(n)
                at = NOVEMBER.start + timedelta(seconds=n * seconds // count)
                rows.append(
                    (
                        n + 1,
                        f"bench-{n:09d}",
                        "0" * 64,
                        kind,
                        CODE,
                        debit,
                        credit,
                        100 + n % 900,
                        "bench",
                        db_timestamp(conn, at),
                    )
                )
            executemany(
                conn,
                "INSERT INTO transfers (id, client_id, body_hash, kind, point_code, debit_account_id, "
                "credit_account_id, amount, actor, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                rows,
            )
    with write(engine) as conn:
        conn.execute(
            text(
                "UPDATE accounts SET "
                "debits_posted = coalesce((SELECT sum(amount) FROM transfers WHERE debit_account_id = accounts.id), 0), "
                "credits_posted = coalesce((SELECT sum(amount) FROM transfers WHERE credit_account_id = accounts.id), 0)"
            )
        )
        if engine.dialect.name == "postgresql":
            conn.execute(text("SELECT setval(pg_get_serial_sequence('transfers', 'id'), :n)"), {"n": count})
            conn.execute(text("ANALYZE"))


def measure(label: str, url: str, count: int) -> None:
    engine = make_engine(url)
    upgrade(engine)
    with timed() as took:
        build(engine, count)
    print(f"{label}: built {count:,} November transfers in {took()}")
    with timed() as took, read(engine) as conn:
        data = service.statements(conn, CENTRAL, str(NOVEMBER), CODE)
        utf8, sjis = export(data, "csv"), export(data, "csv-sjis")
    lines = len(data["statements"][0]["lines"])
    moved = sum(x["transfers"] for x in data["statements"][0]["lines"]) // 2
    assert moved == count, (moved, count)
    print(
        f"{label}: open month statement + CSV + Shift_JIS export: {took()} "
        f"({lines} lines, {len(utf8):,} + {len(sjis):,} bytes; target <= 30 s)"
    )
    with timed() as took, write(engine) as conn:
        service.close(conn, CENTRAL, str(NOVEMBER), CODE, now=datetime.now(UTC))
    print(f"{label}: close the month (aggregate stored): {took()}")
    with timed() as took, read(engine) as conn:
        export(service.statements(conn, CENTRAL, str(NOVEMBER), CODE), "csv-sjis")
    print(f"{label}: closed month export (stored lines): {took()}")
    with timed() as took, read(engine) as conn:
        breaches = periods.check_closed_periods(conn)
    assert not breaches, breaches
    print(f"{label}: ledger verify's closed-period check: {took()}")
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    add_postgres_option(parser)
    add_smoke_option(parser)
    parser.add_argument("--transfers", type=int, default=1_000_000)
    parser.add_argument("--skip-sqlite", action="store_true", help="Measure PostgreSQL only.")
    args = parser.parse_args()
    if args.smoke:
        args.transfers = 2_000
    assert datetime.now(JST) >= NOVEMBER.end, "the bench closes November 2026: run it after the month"
    with tempfile.TemporaryDirectory() as tmp:
        if not args.skip_sqlite:
            measure("sqlite", f"sqlite:///{Path(tmp) / 'settlement.sqlite3'}", args.transfers)
    if args.postgres:
        with throwaway_postgres(args.postgres) as url:
            measure("postgresql", url, args.transfers)
    else:
        print("postgresql: skipped (no --postgres / MKP_TEST_POSTGRES_URL)")


if __name__ == "__main__":
    main()
