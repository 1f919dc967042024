"""Fixtures for the card stack: a test CA and virtual cards (pcscd and the ``slots`` to insert
cards into are shared: tests/conftest.py).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from drivers.card.virtual.ca import TestCA
from drivers.card.virtual.cardfile import new_card, save_card


@pytest.fixture(scope="session")
def test_ca(tmp_path_factory: pytest.TempPathFactory) -> TestCA:
    """One JPKI-shaped test CA for the whole session."""
    return TestCA.init(tmp_path_factory.mktemp("ca") / "ca")


@pytest.fixture(scope="session")
def foreign_ca(tmp_path_factory: pytest.TempPathFactory) -> TestCA:
    """Another CA with the very same DN but another key: its cards must be untrusted."""
    return TestCA.init(tmp_path_factory.mktemp("foreign") / "ca")


@pytest.fixture
def make_card(tmp_path: Path, test_ca: TestCA) -> Callable[..., Path]:
    """Issue a card file: ``make_card(pin=..., expired=..., not_yet_valid=..., ca=...)``."""
    counter = iter(range(1000))

    def make(*, pin: str = "1234", ca: TestCA | None = None, **kw: bool) -> Path:
        path = tmp_path / f"card{next(counter)}.json"
        save_card(new_card(ca or test_ca, pin=pin, **kw), path)
        return path

    return make


@pytest.fixture
def crl_file(tmp_path: Path, test_ca: TestCA) -> Callable[[], Path]:
    """Issue a fresh CRL of ``test_ca`` (call it after revoking)."""

    def issue() -> Path:
        from cryptography.hazmat.primitives.serialization import Encoding

        path = tmp_path / "jpki.crl"
        path.write_bytes(test_ca.issue_crl().public_bytes(Encoding.DER))
        return path

    return issue
