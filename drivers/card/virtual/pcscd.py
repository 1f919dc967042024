"""Run pcscd with the vpcd reader driver for the virtual card (tests, demo, benchmarks).

pcscd is one daemon per machine: use the running one, or start ``pcscd -f`` and stop it when
done. vpcd has two slots per machine, so users of the virtual reader take turns through a lock.
Development only: vpcd listens on all interfaces and never belongs on a kiosk.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from smartcard import scard

from drivers.card.pcsc import PcscBackend
from drivers.card.reader import PcscdNotRunningError
from drivers.card.virtual.vpcd import reader_name

LOCK_PATH = Path(os.environ.get("MKP_VPCD_LOCK", "/tmp/mkp-vpcd.lock"))


class PcscdUnavailable(RuntimeError):
    """pcscd cannot be used for the virtual card (not installed, or running without vpcd)."""


def wait_for(cond: Callable[[], bool], timeout: float = 5.0, what: str = "condition") -> None:
    end = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > end:
            raise TimeoutError(f"timed out waiting for {what}")
        time.sleep(0.02)


def pcscd_running() -> bool:
    try:
        PcscBackend().readers()
        return True
    except PcscdNotRunningError:
        return False


def vpcd_ready() -> bool:
    """pcscd runs and shows the first vpcd slot as a reader."""
    try:
        return reader_name(0) in PcscBackend().readers()
    except PcscdNotRunningError:
        return False


def card_present(reader: str) -> bool:
    """What pcscd currently believes about ``reader``."""
    hr, ctx = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
    assert hr == scard.SCARD_S_SUCCESS
    try:
        hr, states = scard.SCardGetStatusChange(ctx, 0, [(reader, scard.SCARD_STATE_UNAWARE)])
        return hr == scard.SCARD_S_SUCCESS and bool(states[0][1] & scard.SCARD_STATE_PRESENT)
    finally:
        scard.SCardReleaseContext(ctx)


class PcscDaemon:
    """The machine's pcscd; ``owned`` if we started it (then we stop it, and may restart it)."""

    def __init__(self, log: Path) -> None:
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def owned(self) -> bool:
        return self.proc is not None

    @classmethod
    def ensure(cls, log: Path) -> PcscDaemon:
        """Use the running pcscd (it must have loaded vpcd) or start one."""
        daemon = cls(log)
        if shutil.which("pcscd") is None:
            raise PcscdUnavailable("pcscd is not installed (apt-get install pcscd vsmartcard-vpcd)")
        if not pcscd_running():
            daemon.start()
        elif not vpcd_ready():
            raise PcscdUnavailable(
                "the running pcscd has not loaded the vpcd driver (/etc/reader.conf.d/vpcd)"
            )
        return daemon

    def start(self) -> None:
        logged_before = self.log.stat().st_size if self.log.exists() else 0
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                ["pcscd", "-f"], stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
            )
        try:
            wait_for(vpcd_ready, 10, "pcscd with the vpcd readers")
        except TimeoutError:
            # A pcscd whose vpcd never came up (its port still held by a pcscd that just stopped)
            # is stopped again, not left behind to make the next caller think one is running.
            self.stop()
            said = self.log.read_bytes()[logged_before:].decode(errors="replace").strip().splitlines()
            raise PcscdUnavailable(
                f"pcscd started but vpcd did not load ({said[0] if said else 'nothing logged'}): try again"
            ) from None

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None
            wait_for(lambda: not pcscd_running(), 10, "pcscd to stop")

    def restart(self) -> None:
        if not self.owned:
            raise RuntimeError("only a pcscd we started may be restarted")
        self.stop()
        self.start()


@contextmanager
def vpcd_slots(timeout: float = 240) -> Iterator[None]:
    """Hold the machine's vpcd slots while inserting virtual cards."""
    with LOCK_PATH.open("a") as f:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"another user of the virtual reader holds {LOCK_PATH}") from None
                time.sleep(0.2)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)
