"""Never lose, never double: the agent killed with SIGKILL at every step of a spend and of a sync.

The server runs as its own process (gunicorn) on each database; the counter runs as its own
process (tests/counter/counter_proc.py) and dies at one place of agent/failpoints.py. Then it
starts again and syncs; every spend the clerk began is in the ledger at most once, and exactly
once if the server or the queue took it; every receipt printed matches one.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import counter_proc
import pytest
from counter_helpers import DEPARTMENT, furnish_points
from mkp_testing import run_forked

from agent.card_session import proving_card
from agent.failpoints import ENV, PLACES
from agent.mykey import MyKeyClient
from agent.queue import OfflineQueue
from drivers.card.virtual.card import VirtualMyNumberCard
from drivers.card.virtual.cardfile import load_card, new_card, save_card
from drivers.card.virtual.direct import DirectBackend

pytestmark = pytest.mark.slow
SCRIPT = Path(__file__).with_name("counter_proc.py")
AMOUNT = 100

# (place, offline?, does the spend end up in the ledger once the agent restarted and synced?)
CASES = [
    ("spend:card-signed", False, False),  # died before anything was sent or written
    ("spend:sent", False, True),  # the server took it; the journal sends it again, first answer back
    ("spend:before-print", False, True),
    ("spend:after-print", False, True),
    ("spend:before-queue", True, False),  # offline, died before the queue write
    ("spend:after-queue", True, True),  # offline, queued: power lost before the receipt
    ("spend:before-print", True, True),
    ("sync:before-send", True, True),
    ("sync:sent", True, True),  # the server committed the batch, the agent never heard
    ("sync:mid-answer", True, True),
]


def counter(home: Path, card: Path, *args: str, crash_at: str | None = None) -> subprocess.CompletedProcess:
    """counter_proc.py's ``main`` as a process of its own (forked with the agent imported already)."""
    env = {k: v for k, v in os.environ.items() if k != ENV}
    if crash_at:
        env[ENV] = crash_at
    return run_forked(counter_proc.main, [str(home), str(card), *args], env)


def test_every_place_covers_every_failpoint():
    assert {place for place, _, _ in CASES} == set(PLACES)


def test_sigkill_at_every_step_loses_and_doubles_nothing(live_server, tmp_path):
    platform = live_server
    home, card, balance = _counter_with_points(platform, tmp_path, points=5000)

    expected = balance()
    for place, offline, taken in CASES:
        offline_args = ["--offline"] if offline else []
        if place.startswith("sync:"):
            queued = counter(home, card, "spend", str(AMOUNT), *offline_args)
            assert queued.returncode == 0 and json.loads(queued.stdout)["offline"], queued.stderr
            died = counter(home, card, "sync", crash_at=place)
        else:
            died = counter(home, card, "spend", str(AMOUNT), *offline_args, crash_at=place)
        assert died.returncode == -signal.SIGKILL, (place, died.stdout, died.stderr)
        restarted = counter(home, card, "sync")
        assert restarted.returncode == 0, (place, restarted.stderr)
        assert json.loads(restarted.stdout)["pending"] == 0, place
        expected -= AMOUNT if taken else 0
        assert balance() == expected, place
    again = counter(home, card, "sync")  # a last sync changes nothing
    assert json.loads(again.stdout)["accepted"] == 0 and balance() == expected
    _receipts_match(home)
    assert platform.api.get("/v1/ledger/verify")["ok"]


def _receipts_match(home: Path) -> None:
    """Every receipt printed is of one spend in the ledger (online) or one accepted entry (offline)."""
    queue = OfflineQueue(home / "counter.sqlite3")
    try:
        accepted = {f"{e.entry['transaction']['terminal']}-{e.seq}" for e in queue.entries("accepted")}
        seen: set[str] = set()
        for receipt in queue.last_receipts(1000):
            body = receipt["body"]
            key = body["reference"] if body["offline"] else str(body["transfer_id"])
            assert key not in seen, receipt  # no spend has two receipts
            seen.add(key)
            if body["offline"]:
                assert key in accepted, receipt
            else:
                assert body["transfer_id"] and body["amount"] == AMOUNT, receipt
    finally:
        queue.close()


def test_the_server_killed_mid_batch_loses_and_doubles_nothing(live_server, tmp_path):
    """A sync of two batches; the server dies (SIGKILL, master and workers) while one is in
    flight: its transaction never commits, the agent keeps the entries, the next sync takes each once."""
    platform = live_server
    home, card, balance = _counter_with_points(platform, tmp_path, points=5000)
    queued = counter(home, card, "queue", "400", "1", "--offline")
    assert json.loads(queued.stdout)["pending"] == 400, queued.stderr
    before = balance()
    sync = subprocess.Popen(
        [sys.executable, str(SCRIPT), str(home), str(card), "sync"],
        env={**os.environ, "PYTHONPATH": str(Path(__file__).parent.parent.parent)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while before - balance() < 200 and time.monotonic() < deadline:  # the first batch committed:
        time.sleep(0.05)  # the second is on its way or on the server
    platform.kill_server()
    out, err = sync.communicate(timeout=120)
    assert sync.returncode != 0 and "Unreachable" in err, (out, err[-500:])  # it died under the sync
    platform.restart_server()
    partial = before - balance()
    assert partial == 200, partial  # the first batch whole, the second not at all
    again = counter(home, card, "sync")
    assert again.returncode == 0 and json.loads(again.stdout)["pending"] == 0, again.stderr
    assert before - balance() == 400  # every entry once
    assert platform.api.get("/v1/ledger/verify")["ok"]


def _counter_with_points(platform, tmp_path: Path, points: int):
    """A terminal enrolled at the museum, a registered card file with ``points``; (home, card, balance())."""
    furnish_points(platform)
    home = tmp_path / "term" / "home"
    platform.provision(home, code=platform.new_code()["code"])
    assert (home / "agent.toml").exists()
    card = tmp_path / "card.json"
    save_card(new_card(platform.ca), card)
    backend = DirectBackend()
    backend.insert(VirtualMyNumberCard(load_card(card)))
    with proving_card(backend, "1234") as opened:
        mykey_id = MyKeyClient(platform.api).register(opened)["mykey_id"]
    platform.api.post(
        "/v1/grants",
        {"department": DEPARTMENT, "mykey_id": mykey_id, "amount": points, "grant_kind": "childcare"},
    )

    def balance() -> int:
        return sum(b["balance"] for b in platform.api.get(f"/v1/mykeys/{mykey_id}/balances")["balances"])

    return home, card, balance
