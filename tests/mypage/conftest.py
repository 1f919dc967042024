"""My Page's tests hash passwords with argon2id at its cheapest (the real cost is ~0.4 s a hash)."""

from __future__ import annotations

import pytest
from argon2 import PasswordHasher

from server.logins import accounts


@pytest.fixture(autouse=True)
def cheap_argon2(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(accounts, "HASHER", PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))
