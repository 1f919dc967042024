"""Past one machine, measured: the connection test's reports through HAProxy to 1, then 2 server hosts
on one PostgreSQL, with every process's CPU, to show that throughput grows with hosts and where it stops.

    .venv/bin/python bench/scaleout.py --postgres postgresql://postgres@127.0.0.1:5432/postgres
    .venv/bin/python bench/scaleout.py --terminals 2000 --phases 1,2,1,2,1 --core-share 0.3  # as root
    .venv/bin/python bench/scaleout.py --smoke [--postgres URL]  # 20 terminals, every code path

Why: README says a host is stateless (nonces, reports, everything in the database), so the
nationwide test is served by several hosts behind a load balancer on one PostgreSQL primary. This
bench checks that claim and finds the next limit. It makes a throwaway database on ``--postgres``'s
server, starts as many separate ``mkp-server run`` processes as ``--phases`` names at most on their own ports (each
``--workers`` x ``--threads``, sharing the terminal CA, the secrets and the release folders as
hosts share them, ``forwarded_hops = 1``), and for each phase writes an HAProxy configuration (a
0600 file in the run's 0700 temp folder: health checks on ``/healthz``, ``X-Forwarded-For`` and
``X-Forwarded-Proto`` set, at most workers x threads requests at once on a host, the rest queued in
HAProxy) balancing that phase's hosts, and starts Debian's ``haproxy`` on it.

The load is the connection test's own generator (``bench/conntest.py``'s enroll, config download
and report, signed by the agent's ``RequestSigner``), run in ``--generators`` separate processes
(one event loop each), as README's "simulators elsewhere" spread it over machines. Terminals are
enrolled once through the proxy; each phase schedules a new nationwide test, every terminal learns
of it from its signed config download and then reports, ``--inflight`` terminals at once per
generator (a closed loop: the hosts are kept saturated, and the latency is their service time plus
a bounded queue, not a window's random moments).

Honest on a small shared machine: everything here shares the machine's cores with each other and
with whatever else runs. By default host i is pinned (``sched_setaffinity``, every thread of its
gunicorn tree) to core i mod cores, so one host gets one core and two hosts two (``--no-pin``: any
core); the generators, HAProxy and PostgreSQL are not pinned. When others' work fills the cores,
pinning gives a second host nothing more: its threads only queue with everyone's. ``--core-share F``
(root, cgroup v1) then gives each host a CPU cgroup limited to F of a core, and the load one more
group: a group competes as one with the rest of the machine, so each host has the same budget in
every phase, and its throttled periods say whether it used all of it. Wall-clock throughput is
printed, but the figures that stay put come from /proc: for each host, PostgreSQL's backends of this
database, HAProxy and the generators, the CPU they ran (per report, and cores got) and the time
they waited runnable for a core (so cores wanted), with ratios (the phases with most hosts against
those with one, means when phases repeat: 1,2,1,2,1 brackets a machine whose load drifts; reports
per host-CPU-second) and the component that saturated first. PostgreSQL's CPU per report against
a host's says where PostgreSQL becomes the limit: how many host cores one PostgreSQL core keeps up
with. No figure is asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import aiohttp
import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import add_postgres_option, add_smoke_option, pct, throwaway_postgres
from bench.conntest import (
    Figures,
    Server,
    SimTerminal,
    codes_in_the_database,
    enroll,
    furnish,
    learn,
    take_part,
)
from server.launcher import ServerProcess, free_port, start_server

#: The test's window: long enough that every report of a phase is on time (the phases are closed loops).
WINDOW_SECONDS = 1800


# --- the load: generator processes, each with its own terminals and event loop ------------------------


@dataclass
class Generator:
    """One generator process's state: its terminals, its session to the proxy, this phase's test."""

    terminals: list[SimTerminal] = field(default_factory=list)
    session: aiohttp.ClientSession | None = None
    server: Server | None = None
    announcements: dict[str, Any] = field(default_factory=dict)
    rng: random.Random = field(default_factory=lambda: random.Random(13))

    async def connect(self, url: str) -> Server:
        """A new session to ``url`` (each phase has its own proxy)."""
        await self.close()
        self.session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=256), timeout=aiohttp.ClientTimeout(total=300)
        )
        self.server = Server(url, self.session)
        return self.server

    async def close(self) -> None:
        if self.session is not None:
            await self.session.close()
            self.session = None

    async def enroll(self, url: str, codes: list[str]) -> dict[str, Any]:
        self.terminals = await enroll(await self.connect(url), codes, concurrency=32)
        return {"enrolled": len(self.terminals)}

    async def learn(self, url: str) -> dict[str, Any]:
        """Every terminal's signed config download, which announces the phase's test."""
        self.announcements = await learn(await self.connect(url), self.terminals, concurrency=32)
        return {"learned": len(self.announcements)}

    async def report(self, inflight: int) -> dict[str, Any]:
        """Every terminal's test now (its clock request and signed report), ``inflight`` at once."""
        assert self.server is not None
        figures, todo = Figures(), iter(self.terminals)
        server = self.server

        async def one_at_a_time() -> None:
            for t in todo:  # one shared iterator: each terminal is taken once
                announced = {**self.announcements[t.terminal_id], "window_seconds": 0}  # its moment: now
                await take_part(server, t, announced, self.rng, figures)

        started = time.time()
        await asyncio.gather(*(one_at_a_time() for _ in range(inflight)))
        return {
            "started": started,
            "ended": time.time(),
            "reports": len(figures.receipts),
            "latencies": dict(figures.latencies),
            "errors": figures.errors,
            "retries": figures.retries,
        }


def generator_process(conn: Connection) -> None:
    """A generator process: commands from the controller over ``conn``, one answer each."""
    loop, state = asyncio.new_event_loop(), Generator()
    try:
        while True:
            command, args = conn.recv()
            if command == "stop":
                break
            try:
                conn.send(loop.run_until_complete(getattr(state, command)(*args)))
            except Exception:
                conn.send({"error": traceback.format_exc()})
    finally:
        loop.run_until_complete(state.close())
        loop.close()


class Generators:
    """The controller's side: ``count`` generator processes (spawned: nothing of this one is shared)."""

    def __init__(self, count: int) -> None:
        context = multiprocessing.get_context("spawn")
        self.pipes: list[Connection] = []
        self.processes: list[Any] = []
        for _ in range(count):
            ours, theirs = context.Pipe()
            process = context.Process(target=generator_process, args=(theirs,), daemon=True)
            process.start()
            self.pipes.append(ours)
            self.processes.append(process)

    def ask(self, command: str, args_each: list[tuple[Any, ...]]) -> list[dict[str, Any]]:
        """The same command to each (with its own arguments), run at once; their answers."""
        for pipe, args in zip(self.pipes, args_each, strict=True):
            pipe.send((command, args))
        answers = [pipe.recv() for pipe in self.pipes]
        for answer in answers:
            if "error" in answer:
                raise RuntimeError(f"a generator failed at {command}:\n{answer['error']}")
        return answers

    def pids(self) -> list[int]:
        return [int(p.pid) for p in self.processes]

    def stop(self) -> None:
        for pipe in self.pipes:
            try:
                pipe.send(("stop", ()))
            except OSError:  # that one has ended already
                continue
        for process in self.processes:
            process.join(timeout=10)
            if process.is_alive():
                process.terminate()


# --- the servers: hosts, their cores, HAProxy ------------------------------------------------------------


def pin(pid: int, cores: set[int]) -> None:
    """Every thread of ``pid`` and its descendants (a gunicorn master and its workers) to ``cores``;
    threads and workers made later inherit it."""
    todo = [pid]
    while todo:
        current = todo.pop()
        tasks = Path(f"/proc/{current}/task")
        for task in tasks.iterdir() if tasks.exists() else ():
            try:
                os.sched_setaffinity(int(task.name), cores)
                todo.extend(int(c) for c in (task / "children").read_text().split())
            except (FileNotFoundError, ProcessLookupError):
                continue


def tree_pids(pid: int) -> list[int]:
    """``pid`` and its living descendants."""
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        tasks = Path(f"/proc/{current}/task")
        for task in tasks.iterdir() if tasks.exists() else ():
            try:
                todo.extend(int(c) for c in (task / "children").read_text().split())
            except (FileNotFoundError, ProcessLookupError):
                continue
    return found


#: cgroup v1's CPU controller, where ``--core-share`` makes its groups.
CGROUP_CPU = Path("/sys/fs/cgroup/cpu")


class CoreShares:
    """``--core-share F``: each host in a CPU cgroup of its own limited to F of a core (a CFS quota),
    and the load (generators, HAProxy) in one more group without a limit. A group competes as one
    with the machine's other work, so every phase gives each host the same budget, whatever else
    runs and however many threads it has, and a host that uses all of it (throttled) is the limit."""

    def __init__(self, share: float, hosts: int) -> None:
        if os.geteuid() != 0 or not (CGROUP_CPU / "cpu.cfs_quota_us").exists():
            sys.exit("--core-share needs root and cgroup v1's cpu controller at /sys/fs/cgroup/cpu")
        base = f"mkp-scaleout-{os.getpid()}"
        self.hosts = [CGROUP_CPU / f"{base}-host{i + 1}" for i in range(hosts)]
        self.load = CGROUP_CPU / f"{base}-load"
        period = int((CGROUP_CPU / "cpu.cfs_period_us").read_text())
        for group in [*self.hosts, self.load]:
            group.mkdir()
        for group in self.hosts:
            (group / "cpu.cfs_period_us").write_text(str(period))
            (group / "cpu.cfs_quota_us").write_text(str(int(share * period)))

    @staticmethod
    def join(group: Path, pid: int) -> None:
        """Every process of ``pid``'s tree into ``group`` (their children are born in it)."""
        for each in tree_pids(pid):
            try:
                (group / "cgroup.procs").write_text(str(each))
            except ProcessLookupError:
                continue

    def throttled(self, host: int) -> tuple[int, int]:
        """(periods, periods throttled) of host ``host``'s group so far."""
        stat = dict(line.split() for line in (self.hosts[host] / "cpu.stat").read_text().splitlines())
        return int(stat["nr_periods"]), int(stat["nr_throttled"])

    def remove(self) -> None:
        """Back to the root group, whatever is left, and the groups gone."""
        for group in [*self.hosts, self.load]:
            for pid in (group / "cgroup.procs").read_text().split():
                try:
                    (CGROUP_CPU / "cgroup.procs").write_text(pid)
                except ProcessLookupError:
                    continue
            group.rmdir()


def haproxy_config(port: int, hosts: list[tuple[str, int]], per_host: int) -> str:
    """HAProxy in front of ``hosts`` (name, port): what README's section shows, without TLS here."""
    servers = "\n".join(
        f"    server {name} 127.0.0.1:{host_port} check inter 2s fall 2 rise 1 maxconn {per_host}"
        for name, host_port in hosts
    )
    return f"""global
    maxconn 4096
    nbthread 1

defaults
    mode http
    option http-keep-alive
    timeout connect 5s
    timeout client 300s
    timeout server 300s
    timeout queue 300s

frontend mkp
    bind 127.0.0.1:{port}
    option forwardfor
    http-request set-header X-Forwarded-Proto http
    default_backend hosts

backend hosts
    balance leastconn
    option httpchk
    http-check send meth GET uri /healthz ver HTTP/1.1 hdr Host mkp
    http-check expect status 200
{servers}
"""


@contextmanager
def haproxy(folder: Path, hosts: list[tuple[str, int]], per_host: int) -> Iterator[tuple[str, int]]:
    """HAProxy balancing ``hosts`` on a new port: its URL and pid, once it answers and every host
    is up; stopped afterwards."""
    port = free_port()
    path = folder / f"haproxy-{port}.cfg"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(haproxy_config(port, hosts, per_host))
    checked = subprocess.run(["haproxy", "-c", "-q", "-f", str(path)], capture_output=True, text=True)
    if checked.returncode != 0:
        raise RuntimeError(f"haproxy refused {path}: {checked.stderr.strip() or checked.stdout.strip()}")
    log = (folder / f"haproxy-{port}.log").open("wb")
    process = subprocess.Popen(["haproxy", "-db", "-f", str(path)], stdout=log, stderr=subprocess.STDOUT)
    log.close()
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_for(url, process, len(hosts))
        yield url, process.pid
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_for(url: str, process: subprocess.Popen[bytes], hosts: int) -> None:
    """Until /healthz answers through the proxy from every host (HAProxy's first checks take a moment)."""
    deadline, answered = time.monotonic() + 30, 0
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"haproxy exited with {process.returncode} at start-up")
        try:
            answered = answered + 1 if requests.get(url + "/healthz", timeout=2).status_code == 200 else 0
        except requests.RequestException:
            answered = 0
        if answered >= 2 * hosts:
            time.sleep(1)  # every host's first health check has passed by now (inter 2s, rise 1)
            return
        time.sleep(0.1)
    raise RuntimeError(f"nothing answered through haproxy at {url} within 30 s")


# --- CPU from /proc ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Cpu:
    """Seconds on a core and seconds runnable but waiting for one (the scheduler's own counts, from
    /proc/<pid>/task/<tid>/schedstat): a process that waited as long as it ran wanted twice the CPU
    it got, so it was CPU-bound; one that hardly waited was held up by something else."""

    ran: float = 0.0
    waited: float = 0.0

    def __add__(self, other: Cpu) -> Cpu:
        return Cpu(self.ran + other.ran, self.waited + other.waited)

    def __sub__(self, other: Cpu) -> Cpu:
        return Cpu(self.ran - other.ran, self.waited - other.waited)

    def wanted(self, seconds: float) -> float:
        """Cores it would have used over ``seconds`` had none been shared: (ran + waited) / wall."""
        return (self.ran + self.waited) / seconds


def tree_cpu(pid: int) -> Cpu:
    """Every thread of ``pid`` and its living descendants (a gunicorn master and its workers)."""
    total, todo = Cpu(), [pid]
    while todo:
        tasks = Path(f"/proc/{todo.pop()}/task")
        for task in tasks.iterdir() if tasks.exists() else ():
            try:
                ran, waited = (task / "schedstat").read_text().split()[:2]
                todo.extend(int(c) for c in (task / "children").read_text().split())
            except (FileNotFoundError, ProcessLookupError):
                continue
            total += Cpu(int(ran) / 1e9, int(waited) / 1e9)
    return total


def postgres_backends(database: str) -> dict[int, Cpu]:
    """Each PostgreSQL backend connected to ``database`` (its process title names it)."""
    found = {}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            title = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").split()
        except OSError:
            continue
        if title and title[0] == "postgres:" and database in title:
            found[int(proc.name)] = tree_cpu(int(proc.name))
    return found


def machine_busy() -> tuple[float, float]:
    """(busy, total) jiffies of every core since boot, from /proc/stat."""
    fields = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return sum(fields[:8]) - idle, sum(fields[:8])


@dataclass
class Snapshot:
    hosts: list[Cpu]
    postgres: dict[int, Cpu]
    haproxy: Cpu
    generators: Cpu
    machine: tuple[float, float]
    throttled: list[tuple[int, int]]  # per host with --core-share: (periods, throttled)


def snapshot(run: Run, hosts: list[ServerProcess], proxy_pid: int) -> Snapshot:
    return Snapshot(
        [tree_cpu(h.process.pid) for h in hosts],
        postgres_backends(run.database),
        tree_cpu(proxy_pid),
        sum((tree_cpu(pid) for pid in run.generators.pids()), Cpu()),
        machine_busy(),
        [run.shares.throttled(i) for i in range(len(hosts))] if run.shares else [],
    )


# --- a phase: N hosts behind the proxy, every terminal reports once ------------------------------------------


@dataclass
class Phase:
    hosts: int
    where: list[str]  # each host's cores: "on core 0", "on any core", "at 0.25 of a core"
    allowed: list[float]  # each host's cores at most
    reports: int
    seconds: float
    report_ms: list[float]
    clock_ms: list[float]
    errors: list[str]
    retries: int
    host_cpu: list[Cpu]
    postgres: Cpu
    haproxy: Cpu
    generators: Cpu
    machine_busy: float  # share of all the machine's cores busy during the phase (everyone's work)
    throttled: list[float]  # with --core-share: each host's share of periods spent at its quota

    @property
    def rate(self) -> float:
        return self.reports / self.seconds

    @property
    def host_ran(self) -> float:
        return sum(c.ran for c in self.host_cpu)

    @property
    def per_host_cpu_second(self) -> float:
        return self.reports / max(self.host_ran, 1e-9)

    def ms(self, cpu: Cpu | float) -> float:
        """CPU milliseconds a report."""
        return (cpu.ran if isinstance(cpu, Cpu) else cpu) / max(self.reports, 1) * 1000


def schedule_test(url: str, token: str) -> dict[str, Any]:
    """A nationwide test starting in 2 s: every terminal is announced the earliest it has not reported."""
    starts = datetime.now(UTC) + timedelta(seconds=2)
    r = requests.post(
        url + "/v1/conntests",
        json={
            "client_id": str(uuid.uuid4()),
            "starts_at": starts.isoformat(),
            "window_seconds": WINDOW_SECONDS,
        },
        headers={"Authorization": f"Bearer {token}"},
        timeout=60,
    )
    if r.status_code not in (200, 201):
        raise RuntimeError(f"scheduling the test: HTTP {r.status_code}: {r.text}")
    test: dict[str, Any] = r.json()
    return test


def run_phase(run: Run, count: int) -> Phase:
    """The first ``count`` hosts behind a new HAProxy; each terminal learns of a new test, then reports."""
    hosts = run.hosts[:count]
    where, allowed = _place_hosts(run, hosts)
    names = [(f"host{i + 1}", int(h.url.rsplit(":", 1)[1])) for i, h in enumerate(hosts)]
    with haproxy(run.folder, names, run.args.workers * run.args.threads) as (url, proxy_pid):
        if run.shares:
            run.shares.join(run.shares.load, proxy_pid)
        test = schedule_test(url, run.token)
        run.generators.ask("learn", [(url,)] * len(run.generators.pids()))
        time.sleep(max(0.0, (datetime.fromisoformat(test["starts_at"]) - datetime.now(UTC)).total_seconds()))
        before = snapshot(run, hosts, proxy_pid)
        answers = run.generators.ask("report", [(run.args.inflight,)] * len(run.generators.pids()))
        after = snapshot(run, hosts, proxy_pid)
    busy = after.machine[0] - before.machine[0]
    return Phase(
        hosts=count,
        where=where,
        allowed=allowed,
        reports=sum(a["reports"] for a in answers),
        seconds=max(a["ended"] for a in answers) - min(a["started"] for a in answers),
        report_ms=[ms for a in answers for ms in a["latencies"].get("report (signed)", [])],
        clock_ms=[ms for a in answers for ms in a["latencies"].get("clock", [])],
        errors=[e for a in answers for e in a["errors"]],
        retries=sum(a["retries"] for a in answers),
        host_cpu=[b - a for a, b in zip(before.hosts, after.hosts, strict=True)],
        postgres=sum((cpu - before.postgres.get(pid, Cpu()) for pid, cpu in after.postgres.items()), Cpu()),
        haproxy=after.haproxy - before.haproxy,
        generators=after.generators - before.generators,
        machine_busy=busy / max(after.machine[1] - before.machine[1], 1),
        throttled=[
            (b[1] - a[1]) / max(b[0] - a[0], 1)
            for a, b in zip(before.throttled, after.throttled, strict=True)
        ],
    )


def _place_hosts(run: Run, hosts: list[ServerProcess]) -> tuple[list[str], list[float]]:
    """Each host's cores for this phase: a quota (--core-share), its own core, or any core."""
    if run.shares:
        share = run.args.core_share
        return [f"at {share:.2f} of a core"] * len(hosts), [share] * len(hosts)
    where, allowed = [], []
    for i, host in enumerate(hosts):
        cores = {i % run.cores} if run.args.pin else set(range(run.cores))
        pin(host.process.pid, cores)
        where.append(f"on core {min(cores)}" if len(cores) == 1 else "on any core")
        allowed.append(float(len(cores)))
    return where, allowed


def _label(hosts: int) -> str:
    return "1 host" if hosts == 1 else f"{hosts} hosts"


def print_phase(phase: Phase, cores: int) -> None:
    s = phase.seconds
    pinned = ", ".join(f"host {i + 1} {where}" for i, where in enumerate(phase.where))
    print(
        f"{_label(phase.hosts)}: {phase.reports:,} reports in {s:.1f} s = {phase.rate:,.1f} reports/s ({pinned}); "
        f"report p50 {pct(phase.report_ms, 50):.0f} ms, p99 {pct(phase.report_ms, 99):.0f} ms "
        f"(clock p50 {pct(phase.clock_ms, 50):.0f} ms); {len(phase.errors)} errors, {phase.retries} retries"
    )
    for error in phase.errors[:3]:
        print(f"  error: {error}")
    parts = [(f"host {i + 1}", cpu) for i, cpu in enumerate(phase.host_cpu)]
    parts += [
        ("PostgreSQL backends", phase.postgres),
        ("HAProxy", phase.haproxy),
        ("generators", phase.generators),
    ]
    throttled = [f", at its quota in {t:.0%} of periods" for t in phase.throttled]
    for (name, cpu), note in zip(parts, [*throttled, *[""] * len(parts)], strict=False):
        print(
            f"  CPU {name}: ran {cpu.ran:.1f} s ({phase.ms(cpu):.2f} ms a report), waited {cpu.waited:.1f} s for a "
            f"core: got {cpu.ran / s:.2f} cores, wanted {cpu.wanted(s):.2f}{note}"
        )
    print(
        f"  reports per host-CPU-second: {phase.per_host_cpu_second:,.1f}; the machine's {cores} cores "
        f"{phase.machine_busy:.0%} busy (everyone's work)"
    )


def saturated_first(phase: Phase, cores: int) -> str:
    """Which of ours ran out of CPU first: the most demand (ran + waited) against what it may have
    (a pinned host its one core; the others the machine's cores), and whether the machine was full."""
    s = phase.seconds
    wants = {
        f"host {i + 1} ({where})": cpu.wanted(s) / allowed
        for i, (cpu, where, allowed) in enumerate(
            zip(phase.host_cpu, phase.where, phase.allowed, strict=True)
        )
    }
    if phase.throttled:  # with a quota, time throttled is not counted as waiting: its own figure
        wants |= {
            f"host {i + 1} ({where}, at its quota in {t:.0%} of periods)": max(
                t, phase.host_cpu[i].ran / s / a
            )
            for i, (where, t, a) in enumerate(zip(phase.where, phase.throttled, phase.allowed, strict=True))
        }
    wants |= {
        f"PostgreSQL's backends (of {cores} cores)": phase.postgres.wanted(s) / cores,
        f"the generators (of {cores} cores)": phase.generators.wanted(s) / cores,
        "HAProxy (one thread)": phase.haproxy.wanted(s),
    }
    name, want = max(wants.items(), key=lambda kv: kv[1])
    got = (phase.host_ran + phase.postgres.ran + phase.haproxy.ran + phase.generators.ran) / s
    verdict = f"{name}: its threads runnable for {want:.1f}x the CPU it may have"
    if phase.machine_busy >= 0.9:
        verdict += (
            f"; the machine's {cores} cores were {phase.machine_busy:.0%} busy and this run got {got:.2f} of "
            "them (the rest is others' work): every process here waited for a core"
        )
    return verdict


def _mean(values: list[float]) -> float:
    return sum(values) / len(values)


def summarise(phases: list[Phase], cores: int) -> None:
    """Ratios of the phases with most hosts against those with one (means, when phases repeat)."""
    ones = [p for p in phases if p.hosts == 1]
    top = max(p.hosts for p in phases)
    most = [p for p in phases if p.hosts == top]
    if ones and top > 1:
        rate = _mean([p.rate for p in most]) / _mean([p.rate for p in ones])
        cpu_rate = _mean([p.per_host_cpu_second for p in most]) / _mean([p.per_host_cpu_second for p in ones])
        got = _mean([p.host_ran / p.seconds for p in most]) / _mean([p.host_ran / p.seconds for p in ones])
        wanted = _mean([sum(c.wanted(p.seconds) for c in p.host_cpu) for p in most]) / _mean(
            [sum(c.wanted(p.seconds) for c in p.host_cpu) for p in ones]
        )
        print(
            f"{_label(top)} vs 1 host ({len(most)} phase(s) vs {len(ones)}, means): throughput {rate:.2f}x; "
            f"host cores got {got:.2f}x, wanted {wanted:.2f}x; reports per host-CPU-second {cpu_rate:.2f}x "
            f"(1.00x: a host costs the same per report with {top})"
        )
    last = most[-1]
    print(f"limit: saturated first with {_label(top)}: {saturated_first(last, cores)}")
    pg_ms, host_ms = _mean([p.ms(p.postgres) for p in phases]), _mean([p.ms(p.host_ran) for p in phases])
    per_core = _mean([p.per_host_cpu_second for p in phases])
    if pg_ms > 0:
        print(
            f"limit: a host core serves {per_core:,.0f} reports/s ({host_ms:.2f} ms CPU a report, all phases' "
            f"mean); PostgreSQL's backends spend {pg_ms:.2f} ms a report, so one PostgreSQL core keeps up with "
            f"about {host_ms / pg_ms:.1f} host cores ({1000 / pg_ms:,.0f} reports/s): past that PostgreSQL is "
            "the limit (CPU only: its WAL writes and fsyncs are not counted)"
        )


# --- the run ----------------------------------------------------------------------------------------------------


@dataclass
class Run:
    args: argparse.Namespace
    folder: Path
    database: str
    token: str
    hosts: list[ServerProcess]
    generators: Generators
    cores: int
    shares: CoreShares | None


def prepare(args: argparse.Namespace, folder: Path, database_url: str, stack: ExitStack) -> Run:
    """The hosts, an operator, the places, the generators and their enrolled terminals."""
    from server.db.engine import make_engine, write
    from server.platform.operators.service import create_operator

    shares = CoreShares(args.core_share, max(args.phases)) if args.core_share else None
    if shares:
        stack.callback(shares.remove)  # after the hosts and generators have stopped
    hosts = []
    for _ in range(max(args.phases)):
        hosts.append(
            stack.enter_context(
                start_server(
                    database_url,
                    folder,
                    workers=args.workers,
                    threads=args.threads,
                    extra_env={"MKP_FORWARDED_HOPS": "1"},
                )
            )
        )
    engine = make_engine(database_url)
    with write(engine) as conn:
        token = create_operator(conn, f"bench-{uuid.uuid4().hex[:6]}")
    engine.dispose()
    generators = Generators(args.generators)
    stack.callback(generators.stop)
    if shares:
        for i, host in enumerate(hosts):
            shares.join(shares.hosts[i], host.process.pid)
        for pid in generators.pids():
            shares.join(shares.load, pid)
    run = Run(
        args,
        folder,
        database_url.rsplit("/", 1)[1],
        token,
        hosts,
        generators,
        len(os.sched_getaffinity(0)),
        shares,
    )
    names = [(f"host{i + 1}", int(h.url.rsplit(":", 1)[1])) for i, h in enumerate(hosts)]
    with haproxy(folder, names, args.workers * args.threads) as (url, _):
        places = asyncio.run(_furnish(url, token))
        t0 = time.perf_counter()
        codes = codes_in_the_database(database_url, places, args.terminals)
        share = [codes[i :: args.generators] for i in range(args.generators)]
        generators.ask("enroll", [(url, mine) for mine in share])
        print(
            f"  (set-up: {len(hosts)} hosts, mkp-server run, {args.workers} worker(s) x {args.threads} threads each, "
            f"on one PostgreSQL database; {args.terminals:,} terminals enrolled through HAProxy in "
            f"{time.perf_counter() - t0:.1f} s by {args.generators} generator processes; {run.cores} cores)"
        )
    return run


async def _furnish(url: str, token: str) -> list[str]:
    async with aiohttp.ClientSession() as session:
        return await furnish(Server(url, session, token))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_postgres_option(parser)
    parser.add_argument(
        "--terminals", type=int, default=3000, help="simulated terminals (each reports once a phase)"
    )
    parser.add_argument(
        "--phases", default="1,2", help="hosts behind the proxy in each phase, in order (e.g. 1,2,1)"
    )
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers of each host")
    parser.add_argument("--threads", type=int, default=4, help="threads of each worker")
    parser.add_argument("--generators", type=int, default=2, help="load generator processes")
    parser.add_argument("--inflight", type=int, default=24, help="terminals reporting at once, per generator")
    parser.add_argument(
        "--no-pin",
        dest="pin",
        action="store_false",
        help="let every host run on any core (default: host i on core i mod cores)",
    )
    parser.add_argument(
        "--core-share",
        type=float,
        help="each host limited to this share of a core by a CPU cgroup (root; instead of pinning)",
    )
    add_smoke_option(parser)
    args = parser.parse_args()
    try:
        args.phases = [int(n) for n in args.phases.split(",")]
    except ValueError:
        sys.exit(f"--phases: numbers of hosts separated by commas, not {args.phases!r}")
    if args.smoke:
        args.terminals, args.inflight, args.workers, args.threads = 20, 4, 1, 2
    if not args.postgres:
        sys.exit("scaleout needs PostgreSQL (every host shares it): --postgres URL or MKP_TEST_POSTGRES_URL")
    if shutil.which("haproxy") is None:
        sys.exit("haproxy is not installed: ./install.sh installs it (Debian's package)")
    with (
        tempfile.TemporaryDirectory(prefix="mkp-scaleout-") as tmp,
        throwaway_postgres(args.postgres, "scaleout") as database_url,
        ExitStack() as stack,
    ):
        run = prepare(args, Path(tmp), database_url, stack)
        phases = []
        for count in args.phases:
            phases.append(run_phase(run, count))
            print_phase(phases[-1], run.cores)
        summarise(phases, run.cores)


if __name__ == "__main__":
    main()
