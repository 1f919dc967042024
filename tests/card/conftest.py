"""Fixtures for the card stack: a real pcscd with the vpcd driver, a test CA, virtual cards.

pcscd is one daemon per machine: the session fixture uses the one that runs, or starts
``pcscd -f`` and stops it at the end. Each test inserts its own virtual card(s) into vpcd and
they are pulled out (and pcscd has seen them go) before the next test starts.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from smartcard import scard

from drivers.card.pcsc import PcscBackend
from drivers.card.reader import PcscdNotRunningError
from drivers.card.virtual.ca import TestCA
from drivers.card.virtual.card import VirtualMyNumberCard
from drivers.card.virtual.cardfile import load_card, new_card, save_card
from drivers.card.virtual.vpcd import VpcdLink, reader_name

READER0 = reader_name(0)
READER1 = reader_name(1)
BIN = Path(sys.executable).parent


def cli(
    name: str, *args: str, env: dict[str, str] | None = None, timeout: float = 30
) -> subprocess.CompletedProcess:
    """Run one of the project's console scripts the way a user does."""
    exe = shutil.which(name, path=str(BIN)) or name
    return subprocess.run(
        [exe, *args], capture_output=True, text=True, timeout=timeout, env={**os.environ, **(env or {})}
    )


def card_present(reader: str) -> bool:
    """What pcscd currently believes about ``reader``."""
    hr, ctx = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
    assert hr == scard.SCARD_S_SUCCESS
    try:
        hr, states = scard.SCardGetStatusChange(ctx, 0, [(reader, scard.SCARD_STATE_UNAWARE)])
        return hr == scard.SCARD_S_SUCCESS and bool(states[0][1] & scard.SCARD_STATE_PRESENT)
    finally:
        scard.SCardReleaseContext(ctx)


def wait_for(cond: Callable[[], bool], timeout: float = 5.0, what: str = "condition") -> None:
    end = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


@dataclass
class Pcscd:
    """The machine's pcscd; ``owned`` if this test session started it (then it may be restarted)."""

    proc: subprocess.Popen | None
    log: Path

    @property
    def owned(self) -> bool:
        return self.proc is not None

    def _start(self) -> None:
        self.proc = subprocess.Popen(
            ["pcscd", "-f"], stdout=self.log.open("ab"), stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )
        wait_for(_vpcd_ready, 10, "pcscd with the vpcd readers")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            wait_for(lambda: not _pcscd_up(), 10, "pcscd to stop")

    def restart(self) -> None:
        assert self.owned, "only a pcscd this session started may be restarted"
        self.stop()
        self._start()


def _pcscd_up() -> bool:
    try:
        PcscBackend().readers()
        return True
    except PcscdNotRunningError:
        return False


def _vpcd_ready() -> bool:
    try:
        return READER0 in PcscBackend().readers()
    except PcscdNotRunningError:
        return False


LOCK_PATH = Path(os.environ.get("MKP_VPCD_LOCK", "/tmp/mkp-vpcd.lock"))


@pytest.fixture(scope="session")
def vpcd_lock() -> Iterator[None]:
    """vpcd has two slots per machine: test sessions (and the benchmark) take turns using them."""
    with LOCK_PATH.open("a") as f:
        deadline = time.monotonic() + 240
        while True:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    pytest.fail(f"another card test session holds {LOCK_PATH} for over 4 minutes")
                time.sleep(0.2)
        yield
        fcntl.flock(f, fcntl.LOCK_UN)


@pytest.fixture(scope="session")
def pcscd(tmp_path_factory: pytest.TempPathFactory, vpcd_lock: None) -> Iterator[Pcscd]:
    """A running pcscd that has loaded the vpcd driver (started here only if none runs)."""
    log = tmp_path_factory.mktemp("pcscd") / "pcscd.log"
    if shutil.which("pcscd") is None:
        pytest.skip("pcscd is not installed (apt-get install pcscd vsmartcard-vpcd)")
    daemon = Pcscd(None, log)
    if not _pcscd_up():
        daemon._start()
    elif not _vpcd_ready():
        pytest.skip("the running pcscd has not loaded the vpcd driver (/etc/reader.conf.d/vpcd)")
    yield daemon
    if daemon.owned:
        daemon.stop()


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

    def insert_card(self, card, *, slot: int = 0, pull_on=None, wait: bool = True) -> VpcdLink:  # noqa: ANN001
        link = VpcdLink(card, slot=slot, pull_on=pull_on).insert()
        self.links.append(link)
        if wait:
            wait_for(lambda: card_present(reader_name(slot)), 5, f"pcscd to see the card in slot {slot}")
        return link

    def insert(self, card_file: Path, *, slot: int = 0, pull_on=None) -> VirtualMyNumberCard:  # noqa: ANN001
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
def slots(pcscd: Pcscd) -> Iterator[Slots]:
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
