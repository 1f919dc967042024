"""The test CA and `mkp-vcard`'s offline commands: CA shaped like J-LIS's, cards, revocation, CRL."""

from __future__ import annotations

import json
import stat
from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID, SignatureAlgorithmOID
from mkp_testing import run_in_process

from drivers.card.virtual import cli as vcard_cli
from drivers.card.virtual.ca import CaError, TestCA
from drivers.card.virtual.cardfile import CardFileError, CardSpecError, load_card, new_card
from mkp_core.certcheck import CertStatus, check_certificate
from mkp_core.crl import CrlStore
from mkp_core.errors import MkpError
from mkp_core.trust import TrustStore


def cli(name: str, *args: str):
    """`mkp-vcard ARGS` run in this process (its offline commands need no daemon)."""
    assert name == "mkp-vcard"
    return run_in_process(vcard_cli.main, *args)


JLIS_DN = (
    "OU=Japan Agency for Local Authority Information Systems,OU=JPKI for user authentication,O=JPKI,C=JP"
)


def test_ca_init_is_shaped_like_the_jpki_user_authentication_ca(tmp_path):
    r = cli("mkp-vcard", "ca", "init", str(tmp_path / "ca"))
    assert r.returncode == 0, r.stderr
    cert = x509.load_pem_x509_certificate((tmp_path / "ca" / "ca.pem").read_bytes())
    assert cert.subject.rfc4514_string() == JLIS_DN
    assert cert.issuer == cert.subject
    assert isinstance(cert.public_key(), rsa.RSAPublicKey) and cert.public_key().key_size == 2048
    assert cert.signature_algorithm_oid == SignatureAlgorithmOID.RSA_WITH_SHA256
    assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert "TEST CA" in str(cert.extensions.get_extension_for_class(x509.CertificatePolicies).value)
    assert stat.S_IMODE((tmp_path / "ca" / "ca.key").stat().st_mode) == 0o600
    TrustStore.from_pem_files([tmp_path / "ca" / "ca.pem"])  # usable as a trust anchor


def test_ca_init_refuses_to_overwrite(tmp_path):
    assert cli("mkp-vcard", "ca", "init", str(tmp_path / "ca")).returncode == 0
    r = cli("mkp-vcard", "ca", "init", str(tmp_path / "ca"))
    assert r.returncode == 1 and "already holds a CA" in r.stderr


def test_new_card_carries_no_personal_data_and_is_valid_five_years(tmp_path, test_ca):
    out = tmp_path / "card.json"
    r = cli("mkp-vcard", "new", "--ca", str(test_ca.directory), "--out", str(out), "--pin", "9876")
    assert r.returncode == 0, r.stderr
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    card = load_card(out)
    assert card.pin == "9876" and card.pin_tries_left == 3
    cert = x509.load_der_x509_certificate(card.auth_certificate)
    attrs = {a.oid for a in cert.subject}
    assert attrs == {NameOID.COUNTRY_NAME, NameOID.COMMON_NAME}
    assert cert.public_key().key_size == 2048
    years = (cert.not_valid_after_utc - cert.not_valid_before_utc).days / 365.25
    assert 4.99 < years < 5.01
    trust = TrustStore.from_pem_files([test_ca.cert_path])
    crl = CrlStore.load(test_ca.issue_crl().public_bytes(Encoding.DER), trust)
    assert check_certificate(card.auth_certificate, trust, crl).status is CertStatus.VALID


def test_new_refuses_a_pin_that_is_not_four_digits(tmp_path, test_ca):
    for pin in ("123", "12345", "12a4"):
        r = cli(
            "mkp-vcard", "new", "--ca", str(test_ca.directory), "--out", str(tmp_path / pin), "--pin", pin
        )
        assert r.returncode == 2 and "4 digits" in r.stderr
        assert not (tmp_path / pin).exists()


def test_new_expired_and_not_yet_valid(tmp_path, test_ca):
    now = datetime.now(UTC)
    for flag in ("--expired", "--not-yet-valid"):
        out = tmp_path / f"{flag}.json"
        assert (
            cli("mkp-vcard", "new", "--ca", str(test_ca.directory), "--out", str(out), flag).returncode == 0
        )
        cert = x509.load_der_x509_certificate(load_card(out).auth_certificate)
        if flag == "--expired":
            assert cert.not_valid_after_utc < now - timedelta(days=1)
        else:
            assert cert.not_valid_before_utc > now + timedelta(days=1)


def test_revoke_then_crl_lists_the_serial(tmp_path):
    ca_dir = tmp_path / "ca"
    assert cli("mkp-vcard", "ca", "init", str(ca_dir)).returncode == 0
    card = tmp_path / "card.json"
    assert cli("mkp-vcard", "new", "--ca", str(ca_dir), "--out", str(card)).returncode == 0
    r = cli("mkp-vcard", "revoke", "--ca", str(ca_dir), str(card))
    assert r.returncode == 0, r.stderr
    assert (
        cli("mkp-vcard", "revoke", "--ca", str(ca_dir), str(card))
        .stdout.strip()
        .endswith("(already revoked)")
    )
    serial = x509.load_der_x509_certificate(load_card(card).auth_certificate).serial_number
    assert [s["serial"] for s in json.loads((ca_dir / "revoked.json").read_text())["revoked"]] == [serial]
    for fmt in ([], ["--der"]):
        crl_path = tmp_path / f"crl{len(fmt)}"
        assert cli("mkp-vcard", "crl", "--ca", str(ca_dir), "--out", str(crl_path), *fmt).returncode == 0
        store = CrlStore.load(crl_path.read_bytes(), TrustStore.from_pem_files([ca_dir / "ca.pem"]))
        assert store.is_revoked(serial)
        assert store.next_update - store.this_update == timedelta(hours=24)


def test_revoke_refuses_a_card_of_another_ca(tmp_path, test_ca, foreign_ca):
    card = tmp_path / "card.json"
    assert cli("mkp-vcard", "new", "--ca", str(foreign_ca.directory), "--out", str(card)).returncode == 0
    # same DN, other key: the issuer name matches, so the check must be by key
    r = cli("mkp-vcard", "revoke", "--ca", str(test_ca.directory), str(card))
    assert r.returncode == 1 and "not issued by this CA" in r.stderr


def test_missing_ca_directory_is_one_line_error(tmp_path):
    r = cli("mkp-vcard", "new", "--ca", str(tmp_path / "nope"), "--out", str(tmp_path / "c.json"))
    assert r.returncode == 1
    assert r.stderr.strip().count("\n") == 0 and "not a CA directory" in r.stderr


def test_load_ca_round_trip(tmp_path):
    ca = TestCA.init(tmp_path / "ca")
    again = TestCA.load(tmp_path / "ca")
    assert again.certificate == ca.certificate


def test_ca_and_card_file_refusals_carry_a_code(tmp_path, test_ca):
    """The CA's and the card file's refusals are MkpErrors: programs decide by code, not by text."""
    refusals = []
    for call in (
        lambda: TestCA.load(tmp_path / "nope"),
        lambda: TestCA.init(test_ca.directory),
        lambda: load_card(tmp_path / "missing.json"),
        lambda: new_card(test_ca, pin="12"),
    ):
        with pytest.raises(MkpError) as caught:
            call()
        refusals.append((type(caught.value), caught.value.code))
    assert refusals == [
        (CaError, "ca_error"),
        (CaError, "ca_error"),
        (CardFileError, "invalid_card_file"),
        (CardSpecError, "invalid_card_spec"),
    ]
