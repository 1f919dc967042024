"""`mkp-agent run` as a list of steps, taken every tick until the terminal is stopped.

1. **downloads**: config, trust list and CRL, every ``interval`` seconds (only what changed);
2. **answers**: online spends whose answer was never heard are sent again (first answer back);
3. **queue**: offline entries are sent while any wait and the server answers;
4. **heartbeat**: the counter's status (reader, printer, queue, CRL age, version) to the server;
5. **connection test**: a test the heartbeat or the config announced runs (agent/conntest.py).

A step that cannot reach the server leaves everything as it was and the next tick tries again;
a terminal the server no longer accepts stops the loop (a technician must act).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from agent.conntest import ConntestRunner
from agent.counter.service import Counter
from agent.downloads import Downloads, refresh_downloads
from mkp_core.client import ApiError, Unreachable

NEEDS_TECHNICIAN = {"not_enrolled", "revoked_key", "unknown_key"}


class TerminalRefused(Exception):
    """The server no longer accepts this terminal (revoked, unknown key)."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


@dataclass
class CounterLoop:
    counter: Counter
    interval: float  # seconds between downloads
    log: Callable[[str], None]
    conntests: ConntestRunner | None = None
    clock: Callable[[], float] = time.monotonic
    _next_download: float = field(default=0.0)

    def tick(self) -> None:
        """One pass of the steps in the module docstring."""
        if self.clock() >= self._next_download:
            self._downloads()
            self._next_download = self.clock() + self.interval
        try:
            queue = self.counter.queue
            if queue.unfinished_attempts() or queue.totals().pending or queue.unconfirmed_prints():
                done = self.counter.sync()
                self.log(
                    f"sync: {done['accepted']} accepted, {done['refused']} refused, "
                    f"{done['resolved']} answers heard again, {done['pending']} waiting, "
                    f"{done['prints_confirmed']} prints confirmed"
                )
                for r in done["prints_refused"]:
                    self.log(f"voucher {r['serial']} printed here, refused: {r['code']}: {r['message']}")
            reply = self.counter.heartbeat()
            if self.conntests is not None:
                self.conntests.offer(reply.get("conntest") or self.counter.config().get("conntest"))
        except Unreachable as e:
            self.log(f"offline: {e}")
        except ApiError as e:
            if e.code in NEEDS_TECHNICIAN:
                raise TerminalRefused(e.code) from None
            self.log(f"refused: {e.code}: {e.message}")

    def _downloads(self) -> Downloads:
        result = refresh_downloads(self.counter.terminal.client(), self.counter.terminal.home)
        self.log(
            "downloads: "
            + ", ".join(
                f"{d.name} {d.status}" + (f" ({d.reason})" if d.status == "failed" else "")
                for d in result.items
            )
        )
        if any(d.status != "failed" for d in result.items):
            self.counter.contacted()
        refused = result.failed_codes() & NEEDS_TECHNICIAN
        if refused:
            raise TerminalRefused(sorted(refused)[0])
        return result
