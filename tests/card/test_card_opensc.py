"""Fidelity: OpenSC's own JPKI driver accepts the virtual card as a My Number card."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding

from drivers.card.virtual.cardfile import load_card

pytestmark = pytest.mark.pcsc

PKCS11 = Path("/usr/lib/x86_64-linux-gnu/opensc-pkcs11.so")


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(list(args), capture_output=True, text=True, timeout=60)


@pytest.fixture
def opensc() -> None:
    if shutil.which("pkcs15-tool") is None or not PKCS11.exists():
        pytest.skip("OpenSC is not installed (apt-get install opensc)")


def test_pkcs15_tool_lists_the_user_authentication_certificate(opensc, slots, make_card, tmp_path):
    path = make_card()
    slots.insert(path)
    r = run("pkcs15-tool", "--list-certificates")
    assert r.returncode == 0, r.stderr
    assert "X.509 Certificate [User Authentication Certificate]" in r.stdout
    assert "Path           : 000a" in r.stdout
    cert = x509.load_der_x509_certificate(load_card(path).auth_certificate)
    assert f"{cert.serial_number:X}" in r.stdout.replace(" ", "")
    # and the bytes OpenSC reads are the card's certificate
    r = run("pkcs15-tool", "--read-certificate", "01")
    assert r.returncode == 0, r.stderr
    assert x509.load_pem_x509_certificate(r.stdout.encode()) == cert


def test_pkcs11_tool_signs_with_the_pin_and_the_signature_verifies(opensc, slots, make_card, tmp_path):
    path = make_card(pin="1234")
    slots.insert(path)
    msg, sig = tmp_path / "msg", tmp_path / "sig"
    msg.write_bytes(b"challenge from the MyKey Platform")
    r = run(
        "pkcs11-tool",
        "--module",
        str(PKCS11),
        "--login",
        "--pin",
        "1234",
        "--sign",
        "-m",
        "SHA256-RSA-PKCS",
        "--input-file",
        str(msg),
        "--output-file",
        str(sig),
    )
    assert r.returncode == 0, r.stdout + r.stderr
    cert = x509.load_der_x509_certificate(load_card(path).auth_certificate)
    cert.public_key().verify(sig.read_bytes(), msg.read_bytes(), padding.PKCS1v15(), hashes.SHA256())
    assert load_card(path).pin_tries_left == 3


def test_pkcs11_tool_wrong_pin_spends_a_try(opensc, slots, make_card, tmp_path):
    path = make_card(pin="1234")
    slots.insert(path)
    r = run("pkcs11-tool", "--module", str(PKCS11), "--login", "--pin", "9999", "--list-objects")
    assert r.returncode != 0
    assert load_card(path).pin_tries_left == 2
