"""The terminal's part in the nationwide connection test (全国一斉同時アクセステスト).

The server announces a test in the terminal's config download (and, later, its heartbeat):
``{"test_id", "starts_at", "window_seconds", "ends_at"}``. The terminal waits until the start plus
a random moment of the window (so that a hundred thousand terminals arrive spread over the window,
not in the same second), runs the checklist (:mod:`agent.checklist`: signed request, clock, CRL,
reader, printer, software version) and sends the result in one signed request. A terminal that
was offline at that moment runs it when it is back: the announcement stays until the server has
its report, and the server marks it late.

:func:`report_body` and :func:`planned_time` are what the simulator (``bench/conntest.py``) uses
too, so a simulated terminal sends exactly what a real one does.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from agent import checklist
from agent.checklist import CheckResult
from agent.downloads import terminal_client
from agent.home import read_agent_toml, read_json
from agent.terminal import Terminal
from mkp_core.client import ApiClient, ApiError
from mkp_core.errors import MkpError

#: The checklist's names (agent.checklist) as the report names its checks (mkp_core.wire.CONNTEST_CHECKS).
WIRE_NAMES = {
    "Signed request": "signed_request",
    "Clock": "clock",
    "Revocation list (CRL)": "crl",
    "Card reader": "reader",
    "Printer": "printer",
    "Software": "software",
}


#: Refusals worth running the test again for, on the next offer (the server came back).
RETRIED = {"server_unreachable", "stopped"}


#: Unsigned, no database: the server's time to the millisecond (server/conntest/api.py).
CLOCK_PATH = "/v1/terminal/clock"


def server_clock(answer: Any, sent: datetime, round_trip_ms: int) -> datetime | None:
    """The server's time as it was when ``sent`` (its answer, less half the round trip), or None."""
    try:
        when = _instant(answer["server_time"])
    except (KeyError, TypeError, ValueError):
        return None
    return when - timedelta(milliseconds=round_trip_ms / 2)


def report_path(test_id: int) -> str:
    return f"/v1/terminal/conntests/{int(test_id)}/report"


def _instant(value: Any) -> datetime:
    when = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def planned_time(announcement: dict[str, Any], rng: random.Random | None = None) -> datetime:
    """When this terminal runs the test: the start plus a uniformly random moment of the window."""
    spread = (rng or random).uniform(0, float(announcement["window_seconds"]))
    return _instant(announcement["starts_at"]) + timedelta(seconds=spread)


def report_body(
    checks: list[CheckResult],
    *,
    started_at: datetime,
    software_version: str,
    latency_ms: int | None = None,
    clock_offset_ms: int | None = None,
    crl_version: str | None = None,
) -> dict[str, Any]:
    """The report the server keeps (``server.conntest.schemas.ConntestReportCreate``).

    A check is ok when it passed, or when it is optional and was left out (no printer at a lookup
    desk); a failed check carries its machine-readable code, which the live view counts by.
    """
    out = []
    for r in checks:
        ok = r.ok or not r.required
        out.append(
            {
                "name": WIRE_NAMES.get(r.name, r.name),
                "ok": ok,
                "code": (r.code or "failed") if not ok else (r.code or None),
                "detail": r.detail[:200],
            }
        )
    body: dict[str, Any] = {
        "started_at": started_at.astimezone(UTC).isoformat(),
        "checks": out,
        "software_version": software_version[:32],
    }
    for key, value in (
        ("latency_ms", latency_ms),
        ("clock_offset_ms", clock_offset_ms),
        ("crl_version", crl_version),
    ):
        if value is not None:
            body[key] = value
    return body


def software_version() -> str:
    from agent.update import installed_version

    return installed_version()


@dataclass
class Checklist:
    """What one run of the checklist found, and what a report needs besides."""

    checks: list[CheckResult]
    started_at: datetime
    latency_ms: int | None
    clock_offset_ms: int | None
    crl_version: str | None

    def body(self) -> dict[str, Any]:
        return report_body(
            self.checks,
            started_at=self.started_at,
            software_version=software_version(),
            latency_ms=self.latency_ms,
            clock_offset_ms=self.clock_offset_ms,
            crl_version=self.crl_version,
        )


#: The signed-request check as a report states it: the report is itself a signed request, so a
#: report the server accepted proves it (a refused one is resent only for a wrong clock, below).
SIGNED = CheckResult("Signed request", True, True, "this report, signed with the terminal key")


def run_checklist(terminal: Terminal, clock: Callable[[], float] = time.time) -> Checklist:
    """The checklist against the server and this terminal's own reader and printer.

    The clock is read from ``/v1/terminal/clock`` (unsigned, so a wrong clock cannot hide why it
    is wrong, and without the database), and that round trip is the latency reported. The signed
    request is the report itself.
    ``Unreachable`` if the server cannot be reached: the test is then run again when it is back.
    """
    started = datetime.fromtimestamp(clock(), UTC)
    t0 = time.perf_counter()
    answer = ApiClient(terminal.server).get(CLOCK_PATH)
    latency_ms = int((time.perf_counter() - t0) * 1000)
    server_now = server_clock(answer, started, latency_ms)
    offset_ms = int((started - server_now).total_seconds() * 1000) if server_now else None
    settings = read_agent_toml(terminal.home)
    printer = settings.get("printer", {})
    checks = [
        SIGNED,
        checklist.check_clock(server_now, started),
        checklist.check_crl(terminal.home, started),
        checklist.check_reader(settings.get("reader", {}).get("name")),
        checklist.check_printer_status(printer.get("profile"), printer.get("connection")),
        CheckResult("Software", True, True, f"mkp {software_version()}"),
    ]
    crl = read_json(terminal.home.crl)
    version = crl.get("version") if isinstance(crl, dict) else None
    return Checklist(checks, started, latency_ms, offset_ms, str(version)[:64] if version else None)


def send_report(
    terminal: Terminal, test_id: int, found: Checklist, clock: Callable[[], float] = time.time
) -> dict[str, Any]:
    """Send the report, signed; the receipt (``late``, ``ok``). Retried sends are the same report.

    A clock so wrong that the server refuses the signature (``clock_skew``) is exactly what the
    operator must hear of: the report then says so and is signed on the server's time, as measured.
    """
    try:
        return dict(terminal.client().request("POST", report_path(test_id), found.body()))
    except ApiError as e:
        if e.code != "clock_skew" or found.clock_offset_ms is None:
            raise
        refused = CheckResult("Signed request", False, True, e.message[:200], code=e.code)
    found.checks = [refused if c.name == SIGNED.name else c for c in found.checks]
    offset = found.clock_offset_ms / 1000
    corrected: ApiClient = terminal_client(
        terminal.server, terminal.terminal_id, terminal.key, clock=lambda: clock() - offset
    )
    return dict(corrected.request("POST", report_path(test_id), found.body()))


@dataclass
class Outcome:
    """One test run by this terminal: the server's receipt, or the refusal that stopped it."""

    test_id: int
    receipt: dict[str, Any] | None = None
    error: MkpError | None = None
    checks: list[CheckResult] = field(default_factory=list)


def _sleep(seconds: float) -> bool:
    """The default wait: sleep the whole time (nothing can ask it to stop early)."""
    time.sleep(seconds)
    return False


def run_conntest(
    terminal: Terminal,
    announcement: dict[str, Any],
    *,
    wait: Callable[[float], bool] = _sleep,
    rng: random.Random | None = None,
    clock: Callable[[], float] = time.time,
) -> Outcome:
    """Wait for this terminal's moment in the window, run the checklist, report.

    ``wait(seconds)`` returns True when the agent is stopping (then nothing is sent). A moment
    already past (the terminal was offline, or started late) runs at once.
    """
    test_id = int(announcement["test_id"])
    at = planned_time(announcement, rng)
    delay = (at - datetime.fromtimestamp(clock(), UTC)).total_seconds()
    if delay > 0 and wait(delay):
        return Outcome(test_id, error=MkpError("stopped", "the agent stopped before the test"))
    try:
        found = run_checklist(terminal, clock)
    except MkpError as e:  # the server is not there: run again when it is (late)
        return Outcome(test_id, error=e)
    try:
        return Outcome(test_id, send_report(terminal, test_id, found, clock), checks=found.checks)
    except MkpError as e:
        return Outcome(test_id, error=e, checks=found.checks)


class ConntestRunner:
    """The connection tests of ``mkp-agent run``: each announced test in a thread of its own, so
    the sync loop goes on while a test waits for its moment; a test that could not report (the
    server was unreachable) is run again on the next offer, marked late by the server."""

    def __init__(
        self, terminal: Terminal, stop: threading.Event, log: Callable[[str], None] = lambda _: None
    ) -> None:
        self.terminal = terminal
        self.stop = stop
        self.log = log
        self._lock = threading.Lock()
        self._running: dict[int, threading.Thread] = {}
        self.done: dict[int, Outcome] = {}

    def offer(self, announcement: dict[str, Any] | None) -> None:
        """Called with what the config download (or a heartbeat) announced; None: no test now."""
        if not announcement:
            return
        test_id = int(announcement["test_id"])
        with self._lock:
            if test_id in self._running or not self._worth_another_try(test_id):
                return
            thread = threading.Thread(target=self._run, args=(announcement,), daemon=True)
            self._running[test_id] = thread
        thread.start()

    def _worth_another_try(self, test_id: int) -> bool:
        """Not run yet, or it could not reach the server (a refusal would only be repeated)."""
        outcome = self.done.get(test_id)
        return outcome is None or (outcome.error is not None and outcome.error.code in RETRIED)

    def _run(self, announcement: dict[str, Any]) -> None:
        test_id = int(announcement["test_id"])
        try:
            outcome = run_conntest(self.terminal, announcement, wait=self.stop.wait)
        finally:
            with self._lock:
                self._running.pop(test_id, None)
        self.done[test_id] = outcome
        if outcome.receipt:
            r = outcome.receipt
            verdict = "ok" if r.get("ok") else "with failures"
            self.log(f"conntest {test_id}: reported {verdict}{' (late)' if r.get('late') else ''}")
        elif outcome.error:
            self.log(f"conntest {test_id}: not reported: {outcome.error.code}: {outcome.error.message}")

    def join(self, timeout: float | None = None) -> None:
        """Wait for the tests now running (tests use it; the service just stops)."""
        for thread in list(self._running.values()):
            thread.join(timeout)
