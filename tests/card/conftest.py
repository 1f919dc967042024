"""Fixtures for the card stack: a real pcscd with the vpcd driver, a test CA, virtual cards.

pcscd is one daemon per machine: the session fixture uses the one that runs, or starts
``pcscd -f`` and stops it at the end. Each test inserts its own virtual card(s) into vpcd and
they are pulled out (and pcscd has seen them go) before the next test starts.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from drivers.card.virtual.ca import TestCA
from drivers.card.virtual.card import VirtualMyNumberCard
from drivers.card.virtual.cardfile import load_card, new_card, save_card
from drivers.card.virtual.pcscd import PcscDaemon, card_present, wait_for
from drivers.card.virtual.vpcd import VpcdLink, reader_name


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


@dataclass
class Slots:
    """Insert virtual cards into vpcd; everything inserted is removed at teardown."""

    links: list[VpcdLink] = field(default_factory=list)

    def insert_card(self, card, *, slot: int = 0, pull_on=None, wait: bool = True) -> VpcdLink:
        link = VpcdLink(card, slot=slot, pull_on=pull_on).insert()
        self.links.append(link)
        if wait:
            wait_for(lambda: card_present(reader_name(slot)), 5, f"pcscd to see the card in slot {slot}")
        return link

    def insert(self, card_file: Path, *, slot: int = 0, pull_on=None) -> VirtualMyNumberCard:
        """Insert a card file, writing PIN tries back to it like `mkp-vcard insert`."""
        card = VirtualMyNumberCard(load_card(card_file), on_change=lambda d: save_card(d, card_file))
        self.insert_card(card, slot=slot, pull_on=pull_on)
        return card

    def remove(self, link: VpcdLink | None = None) -> None:
        for lk in [link] if link else list(self.links):
            lk.remove()
            self.links.remove(lk)
            slot = 0 if lk.port == 35963 else 1
            wait_for(lambda s=slot: not card_present(reader_name(s)), 5, "pcscd to see the card removed")
            if lk.pulled:
                # A card pulled mid-command is marked absent by the failed command, before pcscd's
                # reader poll (every 0.4 s) has seen the slot empty; a new card inserted within
                # that window would look to pcscd like the old one never left.
                time.sleep(0.6)


@pytest.fixture
def slots(pcscd: PcscDaemon, vpcd_lock: None) -> Iterator[Slots]:
    s = Slots()
    yield s
    s.remove()


@pytest.fixture
def crl_file(tmp_path: Path, test_ca: TestCA) -> Callable[[], Path]:
    """Issue a fresh CRL of ``test_ca`` (call it after revoking)."""

    def issue() -> Path:
        from cryptography.hazmat.primitives.serialization import Encoding

        path = tmp_path / "jpki.crl"
        path.write_bytes(test_ca.issue_crl().public_bytes(Encoding.DER))
        return path

    return issue
