"""A counter in this process: a terminal provisioned at 横須賀美術館, a registered virtual card with
points in a reader of this process (``DirectBackend``: the card's own APDUs, without pcscd), and
the server behind the in-process transport (both databases)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from mkp_testing import PLACE, Platform

from agent.card_session import proving_card
from agent.counter.service import Counter
from agent.mykey import MyKeyClient
from agent.terminal import Terminal
from drivers.card.virtual.card import VirtualMyNumberCard
from drivers.card.virtual.cardfile import new_card
from drivers.card.virtual.direct import DirectBackend

PIN = "1234"
DEPARTMENT = "142018-kosodate"


@dataclass
class Desk:
    platform: Platform
    home: Path
    counter: Counter
    backend: DirectBackend
    mykey_id: str

    def points(self) -> int:
        held = self.platform.api.get(f"/v1/mykeys/{self.mykey_id}/balances")["balances"]
        return sum(b["balance"] for b in held)

    def verify(self) -> dict:
        report = self.platform.api.get("/v1/ledger/verify")
        assert report["ok"], report
        return report

    def reopen(self) -> Counter:
        """The counter as a restarted agent finds it (its queue file and journal on disk)."""
        self.counter.queue.close()
        self.counter = Counter(Terminal.open(self.home), self.backend)
        return self.counter


def furnish_points(platform: Platform) -> None:
    platform.api.post(
        "/v1/municipalities/142018/departments",
        {"code": "kosodate", "name": "子育て支援課", "budget": 100_000},
    )
    platform.api.post(
        f"/v1/departments/{DEPARTMENT}/grant-kinds", {"code": "childcare", "name": "子育て応援"}
    )
    platform.api.post(f"/v1/places/{PLACE}/items", {"code": "ippan", "name": "一般", "price": 500})


@pytest.fixture
def desk(platform: Platform, tmp_path: Path) -> Iterator[Desk]:
    furnish_points(platform)
    home = tmp_path / "term" / "home"
    done = platform.provision(home, code=platform.new_code()["code"])
    assert (home / "agent.toml").exists(), done.stdout + done.stderr  # enrolled (no pcscd: no reader)
    backend = DirectBackend()
    backend.insert(VirtualMyNumberCard(new_card(platform.ca)))
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


@pytest.hookimpl(tryfirst=True, hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Each phase's report on the test item, so a fixture can tell that its test failed (the
    browser tests keep a screenshot then)."""
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)
