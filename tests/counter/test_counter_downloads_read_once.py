"""A card session at the counter reads the terminal's downloads (config.json and the trust list)
at most once each, however many times the session looks at the place, the price list, the
offline limits or the JPKI anchors; the next session reads them afresh, so a download made
between two cards is what the second card meets."""

from __future__ import annotations

from collections import Counter as Tally
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from counter_helpers import PIN, offline
from mkp_testing import sqlite_database

import agent.terminal


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    """Reads of local files are the point here: SQLite only."""
    return sqlite_database(tmp_path)


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> Tally[str]:
    """How often each of the terminal's downloaded files was read, by file name."""
    tally: Tally[str] = Tally()
    read_json: Callable[[Path], Any] = agent.terminal.read_json

    def counted(path: Path) -> Any:
        tally[path.name] += 1
        return read_json(path)

    monkeypatch.setattr(agent.terminal, "read_json", counted)
    return tally


def _downloads(reads: Tally[str], desk: Any) -> dict[str, int]:
    home = desk.counter.terminal.home
    return {"config": reads[home.config.name], "trust list": reads[home.trust_list.name]}


def test_an_online_spend_reads_the_downloads_once(desk: Any, reads: Tally[str]) -> None:
    done = desk.counter.spend(PIN, amount=300)

    assert done["ok"] and not done["offline"], done
    assert _downloads(reads, desk) == {"config": 1, "trust list": 1}


def test_an_offline_spend_from_the_price_list_reads_the_downloads_once(desk: Any, reads: Tally[str]) -> None:
    offline(desk)

    done = desk.counter.spend(PIN, item="ippan", quantity=2)

    assert done["ok"] and done["offline"] and done["amount"] == 1000, done
    assert _downloads(reads, desk) == {"config": 1, "trust list": 1}


def test_each_card_session_reads_the_downloads_afresh(desk: Any, reads: Tally[str]) -> None:
    first = desk.counter.spend(PIN, amount=100)
    second = desk.counter.spend(PIN, amount=200)

    assert first["ok"] and second["ok"], (first, second)
    assert _downloads(reads, desk) == {"config": 2, "trust list": 2}
