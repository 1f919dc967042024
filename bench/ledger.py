"""Ledger throughput: transfers/s in-process (batched commits) and single HTTP spend latency.

    .venv/bin/python bench/ledger.py [--postgres URL] [--transfers N] [--requests N] [--smoke]

Prints one line per figure, each beside a raw baseline measured in the same run, and their ratio
(a shared machine moves both alike): transfers/s against as many transfer-shaped rows written by
hand in the same batches into the same database (each a row INSERTed and two account totals
UPDATEd: target >= 0.25 x, goal 0.50 x; on SQLite also as CPU time, which a busy machine does
not inflate), and against plain INSERTs; the spend's latency against ``GET /healthz`` on the same
server and connection, and a terminal's signed ping; and the server's CPU a spend against its CPU
a ``/healthz`` (its process tree, from /proc: a busy machine does not inflate it). The spend is
the central operator's correction (``POST /v1/spends`` with a reason: README, "Who may act on
whose points"); a resident's spend with the card at a terminal is bench/counter.py's "tap to
result". PostgreSQL figures need --postgres or
MKP_TEST_POSTGRES_URL (a throwaway database each).
"""

from __future__ import annotations

import argparse
import gc
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import requests
from sqlalchemy import Engine

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import (
    CPU_TICK,
    add_postgres_option,
    add_smoke_option,
    cpu_readable,
    healthz_latencies,
    pct,
    process_tree_cpu,
    raw_inserts_per_second,
    raw_transfers_rates,
    register_holders,
    served,
    throwaway_postgres,
    timed,
)
from mkp_core import signing
from mkp_core.client import ApiClient, BearerToken
from provisioning.enroll import make_csr
from server import ledger
from server.db.engine import make_engine, write
from server.db.migrate import upgrade
from server.platform.municipalities.service import add_municipality

CODE = "142018"
DEPARTMENT = f"{CODE}-bench"
HOLDER = "BENCH001"


@dataclass
class InProcess:
    """The in-process figures: rows per second of wall-clock time and of this process's CPU time."""

    rate: float
    cpu_rate: float
    raw_transfers: float
    raw_transfers_cpu: float
    raw_inserts: float


def in_process(url: str, total: int, batch: int) -> InProcess:
    """Post ``total`` transfers (half grants, half spends) in batches, then the raw baselines in
    the same database."""
    engine = make_engine(url)
    upgrade(engine)
    with write(engine) as conn:
        add_municipality(conn, CODE)
    run = uuid.uuid4().hex[:8]
    holders = 1000
    # As a server worker does once loaded (server/cli.py): what is loaded lives as long as the
    # process, so a full collection need not walk it while a batch waits.
    gc.freeze()
    with timed() as spent:
        _post_batches(engine, run, total, batch, holders)
    wall, cpu = spent()
    raw_transfers, raw_transfers_cpu = raw_transfers_rates(engine, total, batch)
    raw = raw_inserts_per_second(engine, total, batch)
    engine.dispose()
    return InProcess(total / wall, total / cpu, raw_transfers, raw_transfers_cpu, raw)


def _post_batches(engine: Engine, run: str, total: int, batch: int, holders: int) -> None:
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


@dataclass
class OverHttp:
    """Latencies in ms of single spends, ``/healthz`` and signed pings on one server, and the
    server's CPU seconds (its process tree) over all the spends and over all the ``/healthz``."""

    spends: list[float]
    healthz: list[float]
    pings: list[float]
    spends_cpu: float
    healthz_cpu: float


def http_spends(url: str, workdir: Path, count: int) -> OverHttp:
    """Single spends over HTTP with keep-alive against a real server process, then as many
    ``/healthz`` requests and signed ``GET /v1/terminal/ping`` of a terminal enrolled at the shop."""
    engine = make_engine(url)
    upgrade(engine)
    with write(engine) as conn:
        register_holders(conn, [HOLDER])
    engine.dispose()
    with served(url, workdir) as (server, token):
        api = ApiClient(server.url, BearerToken(token))
        api.post("/v1/municipalities", {"code": CODE})
        api.post(
            f"/v1/municipalities/{CODE}/departments", {"code": "bench", "name": "ベンチ課", "budget": 10**9}
        )
        api.post(f"/v1/departments/{DEPARTMENT}/grant-kinds", {"code": "bench", "name": "ベンチ"})
        api.post("/v1/places", {"place_id": "shop", "name": "商店", "kind": "shop", "municipality": CODE})
        grant = {"department": DEPARTMENT, "mykey_id": HOLDER, "amount": count * 2, "grant_kind": "bench"}
        api.post("/v1/grants", grant)
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {token}"
        latencies = []
        cpu_before = process_tree_cpu(server.process.pid)
        for _ in range(count):
            body = {
                "client_id": str(uuid.uuid4()),
                "mykey_id": HOLDER,
                "place": "shop",
                "point_code": CODE,
                "amount": 1,
                "reason": "bench: the central operator's correction path",
            }
            t0 = time.perf_counter()
            r = session.post(server.url + "/v1/spends", json=body)
            latencies.append((time.perf_counter() - t0) * 1000)
            assert r.status_code == 201, r.text
        spends_cpu = process_tree_cpu(server.process.pid) - cpu_before
        held = api.get(f"/v1/mykeys/{HOLDER}/balances")["balances"]
        assert [b["balance"] for b in held] == [count], held
        cpu_before = process_tree_cpu(server.process.pid)
        floor = healthz_latencies(server.url, session, count)
        healthz_cpu = process_tree_cpu(server.process.pid) - cpu_before
        return OverHttp(latencies, floor, signed_pings(server.url, api, count), spends_cpu, healthz_cpu)


def signed_pings(url: str, api: ApiClient, count: int) -> list[float]:
    """A terminal enrolled at the shop (one-time code, CSR), then ``count`` signed pings with
    keep-alive, in ms: the floor of a signed request on this server."""
    code = api.post(
        "/v1/terminals/enrollments", {"client_id": str(uuid.uuid4()), "place": "shop", "name": "ベンチ端末"}
    )["code"]
    key = signing.generate_terminal_key()
    enrolled = requests.post(
        url + "/v1/enroll", json={"code": code, "csr": make_csr(key, "bench")}, timeout=30
    )
    assert enrolled.status_code == 201, enrolled.text
    terminal = requests.Session()
    terminal.auth = signing.TerminalAuth(enrolled.json()["terminal_id"], key)
    latencies = []
    for _ in range(count):
        t0 = time.perf_counter()
        r = terminal.get(url + "/v1/terminal/ping")
        latencies.append((time.perf_counter() - t0) * 1000)
        assert r.status_code == 200, r.text
    return latencies


def measure(label: str, url: Callable[[], str], work: Path, args: argparse.Namespace) -> None:
    """Both figures on one database (``url``: a fresh one each; PostgreSQL's made by the caller)."""
    f = in_process(url(), args.transfers, args.batch)
    # On SQLite the database works in this process: CPU time counts all of it, and a busy machine
    # does not inflate it as it does wall-clock time. PostgreSQL's work is in its own processes.
    cpu = f", CPU {f.cpu_rate / f.raw_transfers_cpu:.2f} x raw's" if label == "sqlite" else ""
    print(
        f"{label} in-process: {f.rate:,.0f} transfers/s = {f.rate / f.raw_transfers:.2f} x raw "
        f"transfer-shaped rows ({f.raw_transfers:,.0f}/s; target >= 0.25 x{cpu}) = "
        f"{f.rate / f.raw_inserts:.2f} x plain INSERTs ({f.raw_inserts:,.0f} rows/s) "
        f"({args.transfers:,} in batches of {args.batch})",
        flush=True,
    )
    h = http_spends(url(), work, args.requests)
    spends, floor, pings = h.spends, h.healthz, h.pings
    print(
        f"{label} HTTP spend (operator's correction): p50 {pct(spends, 50):.2f} ms = "
        f"{pct(spends, 50) / pct(floor, 50):.1f} x GET /healthz ({pct(floor, 50):.2f} ms; target <= 2 x) = "
        f"{pct(spends, 50) / pct(pings, 50):.1f} x a signed GET /v1/terminal/ping ({pct(pings, 50):.2f} ms), "
        f"p95 {pct(spends, 95):.2f} ms ({args.requests} requests each); server CPU "
        f"{server_cpu(h, args.requests)}",
        flush=True,
    )


def server_cpu(h: OverHttp, requests: int) -> str:
    """The server's CPU a spend against its CPU a ``/healthz``, where both span enough clock ticks
    to be read (/proc counts in 10 ms steps: a few requests' CPU reads 0, or one step too many)."""
    if not cpu_readable(h.spends_cpu, h.healthz_cpu):
        return f"n/a: too few requests to read CPU ({requests} each; /proc counts in {CPU_TICK * 1000:.0f} ms steps)"
    return (
        f"{h.spends_cpu / requests * 1000:.2f} ms a spend = {h.spends_cpu / h.healthz_cpu:.1f} x a "
        f"/healthz's ({h.healthz_cpu / requests * 1000:.2f} ms)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    add_postgres_option(parser)
    add_smoke_option(parser)
    parser.add_argument("--transfers", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--requests", type=int, default=500)
    args = parser.parse_args()
    if args.smoke:
        args.transfers, args.batch, args.requests = 2_000, 500, 5
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        files = iter(range(10))
        measure("sqlite", lambda: f"sqlite:///{work / f'{next(files)}.sqlite3'}", work, args)
        if not args.postgres:
            print("postgresql: skipped (no --postgres / MKP_TEST_POSTGRES_URL)")
            return
        with throwaway_postgres(args.postgres) as one, throwaway_postgres(args.postgres) as two:
            urls = iter((one, two))
            measure("postgresql", lambda: next(urls), work, args)


if __name__ == "__main__":
    main()
