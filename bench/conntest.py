"""The nationwide connection test, rehearsed: N simulated terminals against a real server.

    .venv/bin/python bench/conntest.py --terminals 10000 --window 60 \\
        --postgres postgresql://postgres@127.0.0.1:5432/postgres --workers 2 --threads 8
    .venv/bin/python bench/conntest.py --terminals 2000 --window 60        # SQLite, one worker
    .venv/bin/python bench/conntest.py --url http://mkp:8080 --token mkp_op_... --terminals 5000
                                                            # a running server (from another machine)
    .venv/bin/python bench/conntest.py --smoke [--postgres URL]  # 10 terminals, a 2 s window

Each simulated terminal is enrolled as a real one is (an operator's one-time code, then
``POST /v1/enroll`` with a CSR for a key made here: its own key and certificate), learns of the
test from its signed config download, waits for ``starts_at`` plus its random moment of the window
(``agent.conntest.planned_time``), runs the network half of the checklist (the server's clock and
the round trip from ``/v1/terminal/clock``) with the reader and printer simulated, and sends its report
(``agent.conntest.report_body``) signed by ``mkp_core.signing.RequestSigner``: the same code as
the agent. asyncio with aiohttp, one event loop; the server runs as in production (``mkp-server
run``: gunicorn on PostgreSQL, or one worker on SQLite).

Prints one line per figure: enrollment, the announcement, the window (completed / expected, late,
lost, errors), request latencies in the window (p50/p95/p99), the live status and the report.
Targets, on this 2-core machine, load generator included: 10,000 terminals complete
within a 60 s window, none lost (goal 30,000); the report for 10,000 in <= 2 s; enrolling
10,000 in <= 60 s.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from agent.checklist import CheckResult, check_clock
from agent.conntest import CLOCK_PATH, SIGNED, planned_time, report_body, report_path, server_clock
from bench.common import add_smoke_option, pct, process_tree_cpu, served, throwaway_postgres
from mkp_core.signing import RequestSigner, generate_terminal_key
from provisioning.enroll import make_csr

#: Where the simulated terminals stand: (municipality, place id, name, street).
AREAS = (
    ("011002", "sapporo-office", "札幌市役所", "中央区北1条西2丁目"),
    ("041009", "sendai-museum", "仙台市博物館", "青葉区川内26"),
    ("131016", "chiyoda-library", "千代田図書館", "九段南1-2-1"),
    ("142018", "yokosuka-museum", "横須賀美術館", "鴨居4-1"),
    ("271004", "osaka-shotengai", "天神橋筋商店街", "北区天神橋"),
    ("401005", "kitakyushu-office", "北九州市役所", "小倉北区城内1-1"),
    ("472018", "naha-market", "第一牧志公設市場", "松山2-10-1"),
)
SOFTWARE = "0.1.0"


@dataclass
class SimTerminal:
    terminal_id: str
    signer: RequestSigner
    silent: bool = False  # never reports: the report must list it, with its place and address
    failing: str | None = None  # the check it fails (a reader unplugged)


@dataclass
class Figures:
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    receipts: dict[str, dict[str, Any]] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    retries: int = 0


class Server:
    """HTTP to the server: JSON bodies, a bearer token or a terminal signature per request."""

    def __init__(self, url: str, session: aiohttp.ClientSession, token: str | None = None) -> None:
        self.url = url.rstrip("/")
        self.session = session
        self.token = token
        self.clock_session: aiohttp.ClientSession | None = None

    async def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        signer: RequestSigner | None = None,
        operator: bool = False,
        session: aiohttp.ClientSession | None = None,
    ) -> tuple[int, Any, float, Any]:
        """(status, JSON or None, milliseconds, headers). Signing happens here, just before sending,
        anew for each attempt: a kept-alive connection the server closed meanwhile is tried again
        (as ``ApiClient`` does; every request here is idempotent)."""
        data = json.dumps(body).encode() if body is not None else b""
        for attempt in range(3):
            headers = {"Content-Type": "application/json"} if body is not None else {}
            if operator:
                headers["Authorization"] = f"Bearer {self.token}"
            if signer is not None:
                headers.update(signer.headers(method, self.url + path, data))
            t0 = time.perf_counter()
            try:
                async with (session or self.session).request(
                    method, self.url + path, data=data or None, headers=headers
                ) as r:
                    payload = await r.read()
                    ms = (time.perf_counter() - t0) * 1000
                    return r.status, json.loads(payload) if payload else None, ms, r.headers
            except aiohttp.ClientConnectionError:
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    async def op(self, path: str, body: dict[str, Any]) -> Any:
        status, data, _, _ = await self.call(
            "POST", path, {"client_id": str(uuid.uuid4()), **body}, operator=True
        )
        if status not in (200, 201):
            raise RuntimeError(f"{path}: HTTP {status}: {data}")
        return data


# --- setting up: places and terminals, through the real protocol ----------------------------------


async def furnish(server: Server) -> list[str]:
    """The municipalities and one place in each (an address someone could go to)."""
    for code, place, name, street in AREAS:
        status, _, _, _ = await server.call("GET", f"/v1/municipalities/{code}", operator=True)
        if status == 404:
            await server.op("/v1/municipalities", {"code": code})
        status, _, _, _ = await server.call("GET", "/v1/places", operator=True)
        await server.call(
            "POST",
            "/v1/places",
            {
                "client_id": f"bench-place-{place}",
                "place_id": place,
                "name": name,
                "kind": "office",
                "municipality": code,
                "street": street,
            },
            operator=True,
        )
    return [a[1] for a in AREAS]


def codes_in_the_database(database_url: str, places: list[str], count: int) -> list[str]:
    """The operator's half of enrolling, done in one transaction by the server's own function
    (``terminals.service.create_enrollment``, what ``POST /v1/terminals/enrollments`` runs): an
    operator makes the codes ahead, over days; the terminals' half is what is measured."""
    from server.db.engine import make_engine, write
    from server.platform.operators.service import Operator
    from server.terminals.service import create_enrollment

    engine = make_engine(database_url)
    op = Operator(0, "bench", None)
    with write(engine) as conn:
        codes = [
            create_enrollment(conn, op, places[n % len(places)], f"sim {n:06d}", 24)["code"]
            for n in range(count)
        ]
    engine.dispose()
    return codes


async def codes_over_http(server: Server, places: list[str], count: int, concurrency: int) -> list[str]:
    """The operator's half over HTTP (a server on another machine): one request per code."""
    gate = asyncio.Semaphore(concurrency)

    async def one(n: int) -> str:
        async with gate:
            body = {"place": places[n % len(places)], "name": f"sim {n:06d}"}
            return str((await server.op("/v1/terminals/enrollments", body))["code"])

    return list(await asyncio.gather(*(one(n) for n in range(count))))


async def enroll(server: Server, codes: list[str], concurrency: int) -> list[SimTerminal]:
    """One terminal per code, each with its own key: a CSR for the code (``POST /v1/enroll``) and
    the certificate back, exactly as ``mkp-provision`` does."""
    gate = asyncio.Semaphore(concurrency)

    async def one(n: int) -> SimTerminal:
        async with gate:
            name, key = f"sim {n:06d}", generate_terminal_key()
            status, answer, _, _ = await server.call(
                "POST", "/v1/enroll", {"code": codes[n], "csr": make_csr(key, name)}
            )
            if status != 201:
                raise RuntimeError(f"enroll: HTTP {status}: {answer}")
            return SimTerminal(answer["terminal_id"], RequestSigner(answer["terminal_id"], key))

    return list(await asyncio.gather(*(one(n) for n in range(len(codes)))))


async def learn(server: Server, terminals: list[SimTerminal], concurrency: int) -> dict[str, Any]:
    """Each terminal's signed config download, which carries the announcement."""
    gate = asyncio.Semaphore(concurrency)
    found: dict[str, Any] = {}

    async def one(t: SimTerminal) -> None:
        async with gate:
            status, config, _, _ = await server.call("GET", "/v1/terminal/config", signer=t.signer)
            if status != 200 or not config.get("conntest"):
                raise RuntimeError(f"config of {t.terminal_id}: HTTP {status}: {config}")
            found[t.terminal_id] = config["conntest"]

    await asyncio.gather(*(one(t) for t in terminals))
    return found


# --- the window -------------------------------------------------------------------------------------


def simulated_checks(t: SimTerminal, signed: CheckResult, clock: CheckResult) -> list[CheckResult]:
    reader_ok = t.failing != "reader"
    return [
        signed,
        clock,
        CheckResult("Revocation list (CRL)", True, True, "simulated: current"),
        CheckResult(
            "Card reader",
            reader_ok,
            True,
            "simulated reader" if reader_ok else "no card reader is connected",
            code="" if reader_ok else "no_reader",
        ),
        CheckResult("Printer", True, True, "simulated printer"),
        CheckResult("Software", True, True, f"mkp {SOFTWARE}"),
    ]


async def take_part(
    server: Server, t: SimTerminal, announcement: dict[str, Any], rng: random.Random, figures: Figures
) -> None:
    """One terminal's test: its moment, the clock, the signed report (retried as ``ApiClient``
    retries: the same body, signed anew)."""
    delay = (planned_time(announcement, rng) - datetime.now(UTC)).total_seconds()
    await asyncio.sleep(max(0.0, delay))
    if t.silent:
        return
    try:
        started = datetime.now(UTC)
        status, answer, ms, _ = await server.call("GET", CLOCK_PATH, session=server.clock_session)
        figures.latencies["clock"].append(ms)
        server_now = server_clock(answer, started, int(ms))
        body = report_body(
            simulated_checks(t, SIGNED, check_clock(server_now, started)),
            started_at=started,
            software_version=SOFTWARE,
            latency_ms=int(ms),
            clock_offset_ms=int((started - server_now).total_seconds() * 1000) if server_now else None,
        )
        path = report_path(int(announcement["test_id"]))
        for attempt in range(3):
            try:
                status, receipt, ms, _ = await server.call("POST", path, body, signer=t.signer)
            except (TimeoutError, aiohttp.ClientError):
                status, receipt, ms = 0, None, 0.0
            if status in (200, 201):
                figures.latencies["report (signed)"].append(ms)
                figures.receipts[t.terminal_id] = receipt
                return
            if status not in (0, 502, 503, 504) or attempt == 2:
                figures.errors.append(f"{t.terminal_id}: HTTP {status}: {receipt}")
                return
            figures.retries += 1
            await asyncio.sleep(0.2 * 2**attempt)
    except (TimeoutError, aiohttp.ClientError, OSError) as e:
        figures.errors.append(f"{t.terminal_id}: {type(e).__name__}: {e}")


async def watch(server: Server, test_id: int, until: float, figures: Figures) -> None:
    """An operator's live view during the window: the status once a second."""
    while time.monotonic() < until:
        _, _, ms, _ = await server.call("GET", f"/v1/conntests/{test_id}", operator=True)
        figures.latencies["status (operator)"].append(ms)
        await asyncio.sleep(1)


# --- the whole run ------------------------------------------------------------------------------------


async def simulate(
    url: str,
    token: str,
    terminals: int,
    window: int,
    *,
    lead: float | None = None,
    silent: float = 0.01,
    failing: float = 0.02,
    concurrency: int = 64,
    connections: int = 256,
    seed: int = 13,
    database_url: str | None = None,
    server_pid: int | None = None,
    out: Any = print,
) -> dict[str, Any]:
    """Enroll, schedule, announce, run the window, check nothing was lost; the figures as a dict."""
    rng = random.Random(seed)
    timeout = aiohttp.ClientTimeout(total=120)
    connector = aiohttp.TCPConnector(limit=connections)
    # The clock requests have connections of their own: from one pool, each terminal's report took
    # the connection its clock request had just freed, ahead of every terminal waiting to ask the
    # clock, whose requests then queued here, in the load generator, for most of the window (a
    # real terminal has a connection of its own).
    clock_connector = aiohttp.TCPConnector(limit=max(connections // 4, 8))
    async with (
        aiohttp.ClientSession(connector=connector, timeout=timeout) as session,
        aiohttp.ClientSession(connector=clock_connector, timeout=timeout) as clock_session,
    ):
        server = Server(url, session, token)
        server.clock_session = clock_session
        places = await furnish(server)
        t0 = time.perf_counter()
        if database_url:
            codes = codes_in_the_database(database_url, places, terminals)
        else:
            codes = await codes_over_http(server, places, terminals, concurrency)
        codes_s = time.perf_counter() - t0
        t0, meter = time.perf_counter(), CpuMeter(server_pid)
        sims = await enroll(server, codes, concurrency)
        enroll_s = time.perf_counter() - t0
        out(
            f"enroll: {terminals:,} terminals in {enroll_s:.1f} s ({terminals / enroll_s:,.0f}/s) over HTTP, each its "
            f"own key and certificate; target 10,000 <= 60 s (the operator's codes beforehand: {codes_s:.1f} s, "
            f"{'in the database' if database_url else 'over HTTP'}); {meter.per(terminals)}"
        )
        for t in rng.sample(sims, int(terminals * silent)):
            t.silent = True
        for t in rng.sample([t for t in sims if not t.silent], int(terminals * failing)):
            t.failing = "reader"
        lead = lead if lead is not None else 10 + terminals / 25
        starts = datetime.now(UTC) + timedelta(seconds=lead)
        test = await server.op("/v1/conntests", {"starts_at": starts.isoformat(), "window_seconds": window})
        t0, meter = time.perf_counter(), CpuMeter(server_pid)
        announcements = await learn(server, sims, concurrency)
        learn_s = time.perf_counter() - t0
        out(
            f"announcement: {len(announcements):,} signed config downloads in {learn_s:.1f} s "
            f"({len(announcements) / learn_s:,.0f}/s), before the test; {meter.per(len(announcements))}"
        )
        if datetime.now(UTC) > starts:
            out(
                "  (warning: the downloads took longer than the lead: some terminals start late; raise --lead)"
            )
        figures = Figures()
        ends = datetime.fromisoformat(test["ends_at"])
        until = time.monotonic() + (ends - datetime.now(UTC)).total_seconds()
        watcher = asyncio.create_task(watch(server, test["id"], until, figures))
        meter = CpuMeter(server_pid)
        await asyncio.gather(
            *(take_part(server, t, announcements[t.terminal_id], rng, figures) for t in sims)
        )
        finished = datetime.now(UTC)
        await watcher
        server_s, generator_s = meter.seconds()
        reports = max(len(figures.receipts), 1)
        out(
            f"the window's CPU: load generator {generator_s:.1f} s ({generator_s / reports * 1000:.2f} ms a terminal: "
            f"its clock request and signed report)"
        )
        if server_pid:
            clock_ms, poll_ms = await _unit_costs(server, test["id"], server_pid)
            polls = len(figures.latencies["status (operator)"])
            report_ms = (server_s * 1000 - reports * clock_ms - polls * poll_ms) / reports
            out(
                f"server CPU in the window: {server_s:.1f} s for {reports:,} terminals = {server_s / reports * 1000:.2f} ms "
                f"a terminal (its clock request and signed report; {polls} status polls too); less the clock "
                f"({clock_ms:.2f} ms each) and the polls ({poll_ms:.1f} ms each), measured after the window: "
                f"{report_ms:.2f} ms a signed report; target <= 2 ms"
            )
            out(await _config_costs(server, sims, server_pid))
        return await _verify(server, test, sims, figures, finished, out)


class CpuMeter:
    """CPU seconds since it was made: the server's (its process tree, from /proc) and this load
    generator's own (it shares the machine's two cores with the server and the database)."""

    def __init__(self, server_pid: int | None) -> None:
        self.server_pid = server_pid
        self.server = process_tree_cpu(server_pid) if server_pid else float("nan")
        self.generator = time.process_time()

    def seconds(self) -> tuple[float, float]:
        """(server, generator) CPU seconds so far."""
        server = process_tree_cpu(self.server_pid) - self.server if self.server_pid else float("nan")
        return server, time.process_time() - self.generator

    def per(self, count: int) -> str:
        server, generator = self.seconds()
        count = max(count, 1)
        return f"CPU each: server {server / count * 1000:.2f} ms, load generator {generator / count * 1000:.2f} ms"


async def _unit_costs(
    server: Server, test_id: int, server_pid: int, clocks: int = 400, polls: int = 5
) -> tuple[float, float]:
    """Server CPU (ms) of one clock request and one status poll, each measured alone after the
    window: what the window's CPU is split by to leave the reports' own."""
    gate = asyncio.Semaphore(8)

    async def clock() -> None:
        async with gate:
            await server.call("GET", CLOCK_PATH)

    before = process_tree_cpu(server_pid)
    await asyncio.gather(*(clock() for _ in range(clocks)))
    clock_ms = (process_tree_cpu(server_pid) - before) / clocks * 1000
    before = process_tree_cpu(server_pid)
    for _ in range(polls):
        await server.call("GET", f"/v1/conntests/{test_id}", operator=True)
    return clock_ms, (process_tree_cpu(server_pid) - before) / polls * 1000


async def _config_costs(server: Server, sims: list[SimTerminal], server_pid: int, count: int = 400) -> str:
    """The config download measured alone after the window, against a signed ping in the same run
    (one query behind the same signature check): downloads/s and server CPU each, and the ratio."""
    gate = asyncio.Semaphore(8)

    async def one(path: str, n: int) -> None:
        async with gate:
            status, _, _, _ = await server.call("GET", path, signer=sims[n % len(sims)].signer)
            if status != 200:
                raise RuntimeError(f"{path}: HTTP {status}")

    costs = {}
    for path in ("/v1/terminal/ping", "/v1/terminal/config"):
        before, t0 = process_tree_cpu(server_pid), time.perf_counter()
        await asyncio.gather(*(one(path, n) for n in range(count)))
        costs[path] = (
            (process_tree_cpu(server_pid) - before) / count * 1000,
            count / (time.perf_counter() - t0),
        )
    (config_ms, config_rate), (ping_ms, _) = costs["/v1/terminal/config"], costs["/v1/terminal/ping"]
    return (
        f"config download (after the window, {count} signed): {config_rate:,.0f}/s, server CPU {config_ms:.2f} ms "
        f"each; a signed ping {ping_ms:.2f} ms: the config {config_ms / ping_ms:.2f}x a ping"
    )


async def _verify(
    server: Server, test: dict, sims: list[SimTerminal], figures: Figures, finished: datetime, out: Any
) -> dict[str, Any]:
    """The server's own count against the receipts: nothing a terminal was told is kept is missing."""
    reporting = [t for t in sims if not t.silent]
    on_time = sum(1 for r in figures.receipts.values() if not r["late"])
    late = len(figures.receipts) - on_time
    _, status, _, _ = await server.call("GET", f"/v1/conntests/{test['id']}", operator=True)
    timings = []
    for _ in range(3):
        code, report, ms, _ = await server.call("GET", f"/v1/conntests/{test['id']}/report", operator=True)
        timings.append(ms)
    kept = status["reported"]
    missing = {m["terminal_id"] for m in report["missing"]}
    silent = {t.terminal_id for t in sims if t.silent}
    lost = len(set(figures.receipts) - (set(t.terminal_id for t in sims) - missing))
    out(
        f"window: {on_time:,} of {len(reporting):,} reporting terminals completed within the {test['window_seconds']} s window "
        f"({late:,} late, {len(figures.errors):,} errors, {figures.retries:,} retries); server keeps {kept:,}, "
        f"lost {lost:,}; {len(silent):,} silent terminals listed as never reported: {missing == silent}; "
        f"last report {(finished - datetime.fromisoformat(test['ends_at'])).total_seconds():+.1f} s from the window's end"
    )
    for error in figures.errors[:3]:
        out(f"  error: {error}")
    for kind, values in figures.latencies.items():
        out(
            f"  {kind}: {len(values):,} requests, p50 {pct(values, 50):.0f} ms, p95 {pct(values, 95):.0f} ms, "
            f"p99 {pct(values, 99):.0f} ms, max {max(values):.0f} ms"
        )
    failures = ", ".join(f"{f['check']}: {f['code']} {f['count']:,}" for f in status["failures"])
    out(
        f"status: reported {status['reported']:,} / {status['expected']:,}; failures {failures or 'none'}; "
        f"terminals' round trip p50 {status['latency_ms']['p50']} / p95 {status['latency_ms']['p95']} / p99 {status['latency_ms']['p99']} ms"
    )
    out(
        f"report: {len(report['areas'])} municipalities, {len(report['missing']):,} never reported, "
        f"{len(report['failed_terminals']):,} failed checks, for {status['expected']:,} terminals in "
        f"{max(timings) / 1000:.2f} s (worst of 3, HTTP and JSON included; best {min(timings) / 1000:.2f} s); target <= 2 s"
    )
    return {
        "expected": len(reporting),
        "on_time": on_time,
        "late": late,
        "errors": figures.errors,
        "lost": lost,
        "kept": kept,
        "silent_listed": missing == silent,
        "report_seconds": max(timings) / 1000,
        "status": status,
    }


# --- a server as in production ------------------------------------------------------------------------


@contextmanager
def production_server(args: argparse.Namespace, work: Path) -> Iterator[tuple[str, str, str, int]]:
    with (
        throwaway_postgres(args.postgres, "bench_conntest")
        if args.postgres
        else nullcontext(f"sqlite:///{work / 'mkp.sqlite3'}") as db
    ):
        with served(db, work, workers=args.workers, threads=args.threads) as (server, token):
            kind = "PostgreSQL" if args.postgres else "SQLite"
            print(
                f"  (server: mkp-server run, gunicorn {args.workers} worker(s) x {args.threads} threads, {kind}; log {server.log_path})"
            )
            yield server.url, token, db, server.process.pid


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--terminals", type=int, default=10_000)
    parser.add_argument("--window", type=int, default=60, help="seconds")
    parser.add_argument(
        "--lead",
        type=float,
        help="seconds from scheduling to the start (default 10 + N/25: every terminal downloads its config first)",
    )
    parser.add_argument("--postgres", help="admin URL of a PostgreSQL server (a throwaway database is made)")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--url", help="a running server instead of starting one (with --token)")
    parser.add_argument("--token", default=os.environ.get("MKP_TOKEN"))
    parser.add_argument("--silent", type=float, default=0.01, help="share of terminals that never report")
    parser.add_argument("--failing", type=float, default=0.02, help="share that report a failed check")
    parser.add_argument("--concurrency", type=int, default=64, help="enrollments and downloads at once")
    parser.add_argument("--connections", type=int, default=256, help="open connections in the window")
    add_smoke_option(parser)
    args = parser.parse_args()
    if args.smoke:
        args.terminals, args.window, args.lead, args.silent, args.failing = 10, 2, 3, 0.1, 0.1
    run = lambda url, token, db=None, pid=None: asyncio.run(  # noqa: E731
        simulate(
            url,
            token,
            args.terminals,
            args.window,
            lead=args.lead,
            silent=args.silent,
            failing=args.failing,
            concurrency=args.concurrency,
            connections=args.connections,
            database_url=db,
            server_pid=pid,
        )
    )
    if args.url:
        if not args.token:
            sys.exit("--url needs --token (or MKP_TOKEN)")
        run(args.url, args.token)
        return
    with tempfile.TemporaryDirectory() as tmp, production_server(args, Path(tmp)) as (url, token, db, pid):
        run(url, token, db, pid)


if __name__ == "__main__":
    main()
