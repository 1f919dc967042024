"""A pcscd we start whose vpcd never loads is stopped again and named in one line.

When a pcscd has just stopped, vpcd's port can still be held for a while: a new pcscd then runs
with no reader. Left running, every later caller would find "a pcscd without vpcd" and refuse;
the start is undone instead, and the refusal quotes what pcscd logged. (In process: the daemon is a
stand-in shell that logs what pcscd logged on this machine, so the test needs no pcscd.)
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from drivers.card.virtual import pcscd


def test_a_pcscd_whose_vpcd_does_not_load_is_stopped_and_named(monkeypatch, tmp_path: Path):
    log = tmp_path / "pcscd.log"
    log.write_text("an earlier run's line\n")  # not this start's: the refusal must not quote it
    daemon = pcscd.PcscDaemon(log)
    started: list[subprocess.Popen[bytes]] = []
    real_popen = subprocess.Popen

    def stand_in(_args, **kwargs):
        """pcscd as this machine's log showed it: the line, then running on without a reader
        (returned once the line is logged, as it is well within the real 10 s wait)."""
        proc = real_popen(["sh", "-c", "echo 'Address already in use'; exec sleep 60"], **kwargs)
        started.append(proc)
        deadline = time.monotonic() + 10
        while "Address" not in log.read_text() and time.monotonic() < deadline:
            time.sleep(0.01)
        return proc

    def at_once(cond, timeout=5.0, what="condition"):
        if not cond():
            raise TimeoutError(f"timed out waiting for {what}")

    monkeypatch.setattr(pcscd.subprocess, "Popen", stand_in)
    monkeypatch.setattr(pcscd, "vpcd_ready", lambda: False)
    monkeypatch.setattr(pcscd, "pcscd_running", lambda: False)
    monkeypatch.setattr(pcscd, "wait_for", at_once)

    with pytest.raises(pcscd.PcscdUnavailable, match=r"vpcd did not load \(Address already in use\)"):
        daemon.start()

    assert started and all(p.poll() is not None for p in started)  # nothing left running
    assert not daemon.owned
