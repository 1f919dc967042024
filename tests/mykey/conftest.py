"""The MyKey commands through pcscd run once, on SQLite: the server side of every call is tested
on both databases in tests/server (test_mykey_*.py); here the card and the commands are the point,
and the card tests take their turns on the machine's one pcscd."""

from __future__ import annotations

from pathlib import Path

import pytest
from mkp_testing import sqlite_database


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    return sqlite_database(tmp_path)
