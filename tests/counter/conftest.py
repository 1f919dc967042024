"""A counter in this process: a terminal provisioned at 横須賀美術館, a registered virtual card with
points in a reader of this process (``DirectBackend``: the card's own APDUs, without pcscd), and
the server behind the in-process transport (both databases)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from counter_helpers import DEPARTMENT, PIN, Desk, furnish_points, quick_card
from mkp_testing import Platform

from agent.card_session import proving_card
from agent.counter.service import Counter
from agent.counter.web import CounterServer
from agent.mykey import MyKeyClient
from agent.terminal import Terminal
from drivers.card.virtual.card import VirtualMyNumberCard
from drivers.card.virtual.direct import DirectBackend


@pytest.fixture
def desk(platform: Platform, tmp_path: Path) -> Iterator[Desk]:
    furnish_points(platform)
    home = tmp_path / "term" / "home"
    done = platform.provision(home, code=platform.new_code()["code"])
    assert (home / "agent.toml").exists(), done.stdout + done.stderr  # enrolled (no pcscd: no reader)
    backend = DirectBackend()
    backend.insert(VirtualMyNumberCard(quick_card(platform.ca)))
    with proving_card(backend, PIN) as card:
        mykey_id = MyKeyClient(platform.api).register(card)["mykey_id"]
    platform.api.post(
        "/v1/grants",
        {"department": DEPARTMENT, "mykey_id": mykey_id, "amount": 3000, "grant_kind": "childcare"},
    )
    counter = Counter(Terminal.open(home), backend)
    desk = Desk(platform, home, counter, backend, mykey_id)
    yield desk
    desk.counter.queue.close()


@pytest.fixture
def counter_url(desk: Desk) -> Iterator[str]:
    """The counter page served by the agent on a local port, watching the reader for the card."""
    server = CounterServer(desk.counter, 0).start()
    stop_watch = desk.counter.watch_cards()
    yield server.url
    stop_watch()
    server.stop()
