"""`mkp-vcard insert` / `remove`: a card served by its own process, PIN tries kept in the card file."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import pytest
from mkp_testing import BIN, READER1, cli

from drivers.card.virtual.cardfile import load_card
from drivers.card.virtual.pcscd import card_present, wait_for

pytestmark = pytest.mark.pcsc


@pytest.fixture
def vcard_proc(pcscd, vpcd_lock, tmp_path):
    """Start `mkp-vcard insert` processes; kill leftovers and wait for the slot to empty."""
    procs: list[subprocess.Popen] = []
    env = {**os.environ, "MKP_VCARD_RUNDIR": str(tmp_path)}

    def start(card: Path, slot: int = 1) -> subprocess.Popen:
        p = subprocess.Popen(
            [str(BIN / "mkp-vcard"), "insert", str(card), "--slot", str(slot)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        procs.append(p)
        wait_for(lambda: card_present(READER1) or p.poll() is not None, 10, "mkp-vcard insert")
        assert p.poll() is None, p.stderr.read() if p.stderr else ""
        return p

    yield start, env
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGINT)
            p.wait(10)
    wait_for(lambda: not card_present(READER1), 5, "slot 1 to empty")


def test_insert_remove_and_blocked_stays_blocked(vcard_proc, make_card, test_ca, crl_file):
    start, env = vcard_proc
    card = make_card()
    pki = ["--trust", str(test_ca.cert_path), "--crl", str(crl_file())]
    p = start(card)
    r = cli("mkp-agent", "card", "read", "--reader", READER1, *pki)
    assert r.returncode == 0 and "result:    valid" in r.stdout
    codes = [cli("mkp-agent", "card", "check", "--pin", "0000", *pki).returncode for _ in range(3)]
    assert codes == [5, 5, 6]
    r = cli("mkp-vcard", "remove", "--slot", "1", env=env)
    assert r.returncode == 0, r.stderr
    out, _ = p.communicate(timeout=10)
    assert p.returncode == 0 and "removed" in out
    assert load_card(card).pin_tries_left == 0
    wait_for(lambda: not card_present(READER1), 5, "pcscd to see the card gone")

    start(card)  # the same card file, back in the reader: still blocked
    r = cli("mkp-agent", "card", "check", "--pin", "1234", *pki)
    assert r.returncode == 6 and "blocked" in r.stderr


def test_remove_with_nothing_inserted(tmp_path):
    r = cli("mkp-vcard", "remove", "--slot", "1", env={"MKP_VCARD_RUNDIR": str(tmp_path)})
    assert r.returncode == 1 and "no virtual card is inserted" in r.stderr


def test_insert_refuses_a_file_that_is_not_a_card(tmp_path):
    bad = tmp_path / "x.json"
    bad.write_text("{}")
    r = cli("mkp-vcard", "insert", str(bad))
    assert r.returncode == 1 and "not a virtual card file" in r.stderr
