"""`mkp-agent card read|check` end to end: virtual card → vpcd → pcscd → pyscard → certcheck."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from cryptography import x509
from mkp_testing import BIN, READER0, cli, run_in_process

from agent.cli import main as agent_main
from drivers.card.virtual.card import NonJpkiCard
from drivers.card.virtual.cardfile import load_card, save_card
from drivers.card.virtual.pcscd import wait_for

pytestmark = pytest.mark.pcsc


def agent(*args: str) -> subprocess.CompletedProcess:
    """`mkp-agent card ARGS` in this process: the card still goes through pcscd and pyscard."""
    return run_in_process(agent_main, "card", *args)


def agent_process(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    """`mkp-agent card ARGS` as its own process: pcsc-lite reads PCSCLITE_CSOCK_NAME once per process."""
    return cli("mkp-agent", "card", *args, env=env)


@pytest.fixture
def trust(test_ca) -> list[str]:
    return ["--trust", str(test_ca.cert_path)]


@pytest.fixture
def pki(trust, crl_file) -> list[str]:
    return [*trust, "--crl", str(crl_file())]


def test_read_shows_reader_fingerprint_subject_validity_and_result(slots, make_card, pki):
    path = make_card()
    slots.insert(path)
    der = load_card(path).auth_certificate
    cert = x509.load_der_x509_certificate(der)
    r = agent("read", *pki)
    assert r.returncode == 0, r.stderr
    assert f"reader:    {READER0}" in r.stdout
    assert hashlib.sha256(der).hexdigest() in r.stdout
    assert cert.subject.rfc4514_string() in r.stdout
    assert cert.not_valid_after_utc.isoformat() in r.stdout
    assert "result:    valid" in r.stdout


def test_read_json(slots, make_card, pki):
    path = make_card()
    slots.insert(path)
    r = agent("read", "--json", *pki)
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["reader"] == READER0 and doc["result"] == "valid"
    assert doc["certificate"]["sha256"] == hashlib.sha256(load_card(path).auth_certificate).hexdigest()
    assert doc["certificate"]["subject"].endswith("C=JP")


def test_check_with_pin_tests_a_signature(slots, make_card, pki):
    slots.insert(make_card(pin="7531"))
    r = agent("check", "--pin", "7531", *pki)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "pin tries: 3 left" in r.stdout
    assert "signature: ok" in r.stdout
    assert "result:    valid" in r.stdout
    r = agent("check", "--pin", "7531", "--json", *pki)
    doc = json.loads(r.stdout)
    assert doc["signature_test"] == "ok" and doc["pin_tries_left"] == 3


def test_pin_from_stdin_stays_out_of_the_command_line(slots, make_card, pki):
    slots.insert(make_card(pin="2468"))
    exe = BIN / "mkp-agent"
    r = subprocess.run(
        [str(exe), "card", "check", "--pin-stdin", *pki],
        input="2468\n",
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert r.returncode == 0 and "signature: ok" in r.stdout, r.stdout + r.stderr
    r = subprocess.run(
        [str(exe), "card", "check", "--pin-stdin", "--pin", "2468", *pki],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert r.returncode == 2 and "one way only" in r.stderr


def _tamper(path: Path) -> None:
    card = load_card(path)
    der = bytearray(card.auth_certificate)
    der[-1] ^= 0x01  # one bit of the CA's signature
    card.auth_certificate = bytes(der)
    save_card(card, path)


@pytest.mark.parametrize(
    "kind, status",
    [
        ("expired", "expired"),
        ("not_yet_valid", "not_yet_valid"),
        ("revoked", "revoked"),
        ("foreign_ca", "untrusted"),
        ("tampered", "untrusted"),
        ("no_crl", "crl_stale"),
    ],
)
def test_bad_certificates_read_exit_0_check_exit_1(
    slots, make_card, test_ca, foreign_ca, trust, crl_file, kind, status
):
    if kind == "expired":
        path = make_card(expired=True)
    elif kind == "not_yet_valid":
        path = make_card(not_yet_valid=True)
    elif kind == "foreign_ca":
        path = make_card(ca=foreign_ca)  # same DN as the trusted CA, another key
    else:
        path = make_card()
    if kind == "revoked":
        test_ca.revoke(x509.load_der_x509_certificate(load_card(path).auth_certificate).serial_number)
    if kind == "tampered":
        _tamper(path)
    args = trust if kind == "no_crl" else [*trust, "--crl", str(crl_file())]
    slots.insert(path)
    r = agent("read", "--json", *args)
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["result"] == status and doc["certificate"]["status"] == status
    assert doc["certificate"]["reason"]
    r = agent("check", *args)
    assert r.returncode == 1
    assert f"result:    {status}" in r.stdout
    # with a PIN the card itself still works; the certificate decides
    r = agent("check", "--pin", "1234", *args)
    assert r.returncode == 1 and "signature: ok" in r.stdout


def test_production_anchors_do_not_trust_the_test_ca(slots, make_card, crl_file):
    slots.insert(make_card())
    r = agent("read", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["result"] == "untrusted"


def test_wrong_pin_then_blocked_and_still_blocked_after_reinsertion(slots, make_card, pki):
    path = make_card()
    slots.insert(path)
    r = agent("check", "--pin", "0000", *pki)
    assert r.returncode == 5 and "2 tries left" in r.stderr
    r = agent("check", "--pin", "0000", "--json", *pki)
    assert r.returncode == 5 and json.loads(r.stdout) == {
        "error": "wrong_pin",
        "message": "wrong PIN: 1 tries left before the card blocks",
        "pin_tries_left": 1,
    }
    r = agent("check", "--pin", "0000", *pki)
    assert r.returncode == 6 and "blocked" in r.stderr
    slots.remove()
    slots.insert(path)
    r = agent("check", "--pin", "1234", *pki)
    assert r.returncode == 6 and "blocked" in r.stderr
    assert r.stderr.count("\n") == 1
    # reading the certificate needs no PIN and still works
    assert agent("read", *pki).returncode == 0


@pytest.mark.parametrize("pin", ["123", "12345", "12ab", "abcd"])
def test_malformed_pin_is_refused_and_spends_no_try(slots, make_card, pki, pin):
    path = make_card()
    vcard = slots.insert(path)
    r = agent("check", "--pin", pin, *pki)
    assert r.returncode == 2
    assert "4 digits" in r.stderr and "nothing was sent" in r.stderr
    assert vcard.commands == []  # the card saw nothing at all
    assert load_card(path).pin_tries_left == 3


def test_empty_reader(slots, pki):
    r = agent("read", *pki)
    assert r.returncode == 3 and "no card" in r.stderr


def test_not_a_my_number_card(slots, pki):
    slots.insert_card(NonJpkiCard())
    r = agent("read", *pki)
    assert r.returncode == 4 and "not a My Number card" in r.stderr
    r = agent("check", "--json", *pki)
    assert r.returncode == 4 and json.loads(r.stdout)["error"] == "not_my_number_card"


def test_card_removed_mid_read(slots, make_card, pki):
    slots.insert(make_card(), pull_on=lambda apdu: apdu[1] == 0xB0 and apdu[2:4] != b"\x00\x00")
    r = agent("read", *pki)
    assert r.returncode == 3 and "removed" in r.stderr


def test_card_removed_mid_sign(slots, make_card, pki):
    slots.insert(make_card(), pull_on=lambda apdu: apdu[1] == 0x2A)
    r = agent("check", "--pin", "1234", *pki)
    assert r.returncode == 3 and "removed" in r.stderr


def test_help_documents_exit_codes():
    for cmd in ("read", "check"):
        r = agent(cmd, "--help")
        assert r.returncode == 0
        assert "Exit codes:" in r.stdout and "pcscd not running" in r.stdout and "PIN blocked" in r.stdout


def test_unreadable_trust_file_is_bad_input(tmp_path):
    r = agent("read", "--trust", str(tmp_path / "missing.pem"))
    assert r.returncode == 2 and "cannot read trust anchor" in r.stderr


@pytest.fixture
def readerless_pcscd(pcscd, tmp_path) -> dict[str, str]:
    """A second, private pcscd with no reader driver, in its own mount namespace.

    Clients reach it through PCSCLITE_CSOCK_NAME; the machine's pcscd is left alone.
    """
    if shutil.which("unshare") is None:
        pytest.skip("unshare(1) is not available")
    run, conf = tmp_path / "run", tmp_path / "readers.d"
    run.mkdir()
    conf.mkdir()
    proc = subprocess.Popen(
        ["unshare", "--mount", "sh", "-c", f"mount --bind {run} /run/pcscd && exec pcscd -f -c {conf}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for(lambda: (run / "pcscd.comm").exists() or proc.poll() is not None, 5, "private pcscd")
        if proc.poll() is not None:
            pytest.skip("cannot start a private pcscd (needs root and mount namespaces)")
        time.sleep(0.2)
        yield {"PCSCLITE_CSOCK_NAME": str(run / "pcscd.comm")}
    finally:
        proc.terminate()
        proc.wait(10)


def test_no_reader(readerless_pcscd, pki):
    r = agent_process("read", *pki, env=readerless_pcscd)
    assert r.returncode == 3 and "no card reader" in r.stderr


def test_pcscd_not_running(pki, tmp_path):
    # the client library looks for the daemon's socket where no daemon listens
    env = {"PCSCLITE_CSOCK_NAME": str(tmp_path / "no-pcscd" / "pcscd.comm")}
    for cmd in ("read", "check"):
        r = agent_process(cmd, *pki, env=env)
        assert r.returncode == 3
        assert "pcscd" in r.stderr and "not running" in r.stderr
