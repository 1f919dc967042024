"""The agent's part: a provisioned terminal runs the checklist at its moment and reports; offline
at that moment, it runs when the server is back (late); `mkp-agent run` does it by itself."""

from __future__ import annotations

import json
import random
import subprocess
import threading
import time
from datetime import UTC, datetime, timedelta

from mkp_testing import BIN

from agent.conntest import ConntestRunner, planned_time, run_conntest
from agent.terminal import Terminal


def provisioned(platform, tmp_path, name: str = "counter 1") -> Terminal:
    home = tmp_path / name.replace(" ", "-") / "home"
    done = platform.provision(home, code=platform.new_code(name)["code"])
    assert (home / "agent.toml").exists(), done.stdout + done.stderr
    return Terminal.open(home)


def schedule(platform, seconds_from_now: float = 0, window: int = 1) -> dict:
    starts = datetime.now(UTC) + timedelta(seconds=seconds_from_now)
    return platform.api.post("/v1/conntests", {"starts_at": starts.isoformat(), "window_seconds": window})


def announced(platform, terminal: Terminal) -> dict:
    assert platform.agent("sync", "--home", str(terminal.home.root)).returncode in (0, 1)
    return terminal.config()["conntest"]


def test_the_terminal_waits_for_its_moment_runs_the_checklist_and_reports(platform, tmp_path):
    terminal = provisioned(platform, tmp_path)
    test = schedule(platform, 0, window=60)
    announcement = announced(platform, terminal)
    assert announcement["test_id"] == test["id"]
    waited: list[float] = []
    outcome = run_conntest(
        terminal, announcement, wait=lambda s: bool(waited.append(s)), rng=random.Random(7)
    )
    assert outcome.error is None, outcome.error
    assert outcome.receipt and outcome.receipt["late"] is False
    planned = planned_time(announcement, random.Random(7))
    assert 0 < waited[0] <= 60 and planned <= datetime.fromisoformat(test["ends_at"])
    status = platform.api.get(f"/v1/conntests/{test['id']}")
    assert status["reported"] == 1 and status["latency_ms"]["count"] == 1
    report = platform.api.get(f"/v1/conntests/{test['id']}/report")
    checks = {f["check"] for f in report["failed_terminals"]}
    assert checks <= {"reader"}  # no card reader may be plugged into the test machine: said, not hidden
    assert announced(platform, terminal) is None  # reported: no longer announced


def test_offline_at_its_moment_it_reports_late_when_the_server_is_back(platform, tmp_path):
    terminal = provisioned(platform, tmp_path)
    test = schedule(platform, 0, window=1)
    announcement = announced(platform, terminal)
    stop = threading.Event()
    runner = ConntestRunner(terminal, stop)
    transport = _unplug(platform)
    runner.offer(announcement)
    runner.join(30)
    assert runner.done[test["id"]].error.code == "server_unreachable"
    _plug(platform, transport)
    time.sleep(1.1)  # the window (1 s) is over
    runner.offer(announcement)  # the next sync brings the announcement again
    runner.join(30)
    receipt = runner.done[test["id"]].receipt
    assert receipt and receipt["late"] is True
    runner.offer(announcement)  # reported: not run again
    assert not runner._running


def _unplug(platform):
    from mkp_core import client

    transport = client._transports[platform.url]
    client.unmount_transport(platform.url)
    return transport


def _plug(platform, transport) -> None:
    from mkp_core import client

    client.mount_transport(platform.url, transport)


def test_mkp_agent_run_takes_part_by_itself(live_server, tmp_path):
    platform = live_server
    terminal = provisioned(platform, tmp_path)
    test = schedule(platform, 2, window=2)
    agent = subprocess.Popen(
        [str(BIN / "mkp-agent"), "run", "--home", str(terminal.home.root), "--interval", "1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if platform.api.get(f"/v1/conntests/{test['id']}")["reported"] == 1:
                break
            time.sleep(0.3)
        status = platform.api.get(f"/v1/conntests/{test['id']}")
        assert status["reported"] == 1  # late, if this machine was slow to start the agent: still counted
    finally:
        agent.terminate()
        _, err = agent.communicate(timeout=20)
    assert f"conntest {test['id']}: reported" in err
    assert json.loads(platform.admin("conntest", "status", str(test["id"]), "--json").stdout)["reported"] == 1
