"""Ledger throughput: transfers/s in-process (batched commits) and single HTTP spend latency.

    .venv/bin/python bench/ledger.py [--postgres URL] [--transfers N] [--requests N]

Prints one line per figure. PostgreSQL figures need --postgres or MKP_TEST_POSTGRES_URL.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import requests
from sqlalchemy import create_engine, text

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from server import ledger
from server.db.engine import make_engine, write
from server.db.migrate import upgrade
from server.launcher import run_server_command, start_server
from server.municipalities.service import add_municipality

CODE = "142018"


def in_process(url: str, total: int, batch: int) -> float:
    """Post `total` transfers (half grants, half spends) in batches; transfers per second."""
    engine = make_engine(url)
    upgrade(engine)
    with write(engine) as conn:
        add_municipality(conn, CODE)
    run = uuid.uuid4().hex[:8]
    holders = 1000
    started = time.perf_counter()
    for b in range(0, total, batch):
        requests_ = []
        for n in range(b, min(b + batch, total)):
            holder = f"holder:h{n % holders}"
            if (n // holders) % 2 == 0:
                requests_.append(
                    ledger.TransferRequest(f"{run}-{n}", CODE, "muni:142018", holder, 10, "grant")
                )
            else:
                requests_.append(
                    ledger.TransferRequest(f"{run}-{n}", CODE, holder, "payee:shop", 10, "spend")
                )
        with write(engine) as conn:
            results = ledger.create_transfers(conn, requests_, "bench")
        assert all(isinstance(r, ledger.Transfer) for r in results)
    elapsed = time.perf_counter() - started
    engine.dispose()
    return total / elapsed


def http_spends(url: str, workdir: Path, count: int) -> list[float]:
    """Single spends over HTTP with keep-alive against a real server process; latencies in ms."""
    server = start_server(url, workdir)
    try:
        token = run_server_command("create-operator", f"bench-{uuid.uuid4().hex[:6]}", env=server.env)
        s = requests.Session()
        s.headers["Authorization"] = f"Bearer {token}"
        r = s.post(server.url + "/v1/municipalities", json={"client_id": str(uuid.uuid4()), "code": CODE})
        assert r.status_code in (201, 409), r.text
        r = s.post(
            server.url + "/v1/grants",
            json={
                "client_id": str(uuid.uuid4()),
                "municipality": CODE,
                "holder": "bench",
                "amount": count * 2,
            },
        )
        assert r.status_code == 201, r.text
        latencies = []
        for _ in range(count):
            body = {
                "client_id": str(uuid.uuid4()),
                "holder": "bench",
                "payee": "shop",
                "point_code": CODE,
                "amount": 1,
                "reason": "bench: the central operator's correction path",
            }
            t0 = time.perf_counter()
            r = s.post(server.url + "/v1/spends", json=body)
            latencies.append((time.perf_counter() - t0) * 1000)
            assert r.status_code == 201, r.text
        return latencies
    finally:
        server.stop()


def pct(values: list[float], p: float) -> float:
    return statistics.quantiles(values, n=100)[int(p) - 1]


def fresh_postgres(base: str) -> tuple[str, callable]:
    name = f"mkp_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(
        base.replace("postgresql://", "postgresql+psycopg://", 1), isolation_level="AUTOCOMMIT"
    )
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))

    return base.rsplit("/", 1)[0] + "/" + name, drop


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postgres", default=os.environ.get("MKP_TEST_POSTGRES_URL"))
    parser.add_argument("--transfers", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--requests", type=int, default=500)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        rate = in_process(f"sqlite:///{work / 'a.sqlite3'}", args.transfers, args.batch)
        print(
            f"sqlite in-process: {rate:,.0f} transfers/s ({args.transfers:,} in batches of {args.batch}; target >= 20,000)"
        )
        lat = http_spends(f"sqlite:///{work / 'b.sqlite3'}", work, args.requests)
        print(
            f"sqlite HTTP spend: p50 {pct(lat, 50):.2f} ms, p95 {pct(lat, 95):.2f} ms ({args.requests} requests; target p50 <= 5 ms)"
        )
        if args.postgres:
            url, drop = fresh_postgres(args.postgres)
            try:
                rate = in_process(url, args.transfers, args.batch)
                print(
                    f"postgresql in-process: {rate:,.0f} transfers/s ({args.transfers:,} in batches of {args.batch})"
                )
            finally:
                drop()
            url, drop = fresh_postgres(args.postgres)
            try:
                lat = http_spends(url, work, args.requests)
                print(
                    f"postgresql HTTP spend: p50 {pct(lat, 50):.2f} ms, p95 {pct(lat, 95):.2f} ms ({args.requests} requests)"
                )
            finally:
                drop()
        else:
            print("postgresql: skipped (no --postgres / MKP_TEST_POSTGRES_URL)")


if __name__ == "__main__":
    main()
