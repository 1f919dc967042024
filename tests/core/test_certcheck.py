"""check_certificate and TrustStore: every status, every bad input, the J-LIS production anchors."""

from __future__ import annotations

import hashlib
import json
import random
from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from mkp_core.certcheck import CertificateFormatError, CertStatus, check_certificate
from mkp_core.crl import CrlStore
from mkp_core.trust import TrustStore, TrustStoreError

# Fingerprints as published in mkp_core/data/jpki/README.md (J-LIS).
JLIS_2015 = "4DCFC4CA0AAF9FB2A3081B3F0C991C320B3ACC008667A341EEAEC5AF1D58CA7D".lower()
JLIS_2023 = "64114F29620C24ED2631D46476A040E7EE740D956089C00B036A6A8118C322B5".lower()


@pytest.fixture
def fresh_crl(pki, trust):
    return CrlStore.load(pki.der(pki.ca.crl([7, 8])), trust)


def test_valid_certificate_reports_its_fields(pki, trust, fresh_crl):
    cert = pki.ca.issue(cn="Yamada card")
    data = pki.der(cert)
    r = check_certificate(data, trust, fresh_crl, at=pki.NOW)
    assert r.status is CertStatus.VALID and r.ok
    assert r.subject == "CN=Yamada card"
    assert r.serial == cert.serial_number
    assert r.sha256 == hashlib.sha256(data).hexdigest()
    assert r.issuer_fingerprint == trust.anchors[0].fingerprint
    assert r.not_before == cert.not_valid_before_utc and r.not_before.tzinfo is not None
    assert r.not_after == cert.not_valid_after_utc
    d = json.loads(json.dumps(r.to_dict()))
    assert d["status"] == "valid" and d["serial_hex"] == format(cert.serial_number, "X")
    assert d["not_after"] == cert.not_valid_after_utc.isoformat()
    with pytest.raises(AttributeError):
        r.status = CertStatus.REVOKED  # frozen


def test_pem_certificate_is_accepted_and_hashed_as_der(pki, trust, fresh_crl):
    cert = pki.ca.issue()
    pem = cert.public_bytes(serialization.Encoding.PEM)
    r = check_certificate(pem, trust, fresh_crl, at=pki.NOW)
    assert r.status is CertStatus.VALID
    assert r.sha256 == hashlib.sha256(pki.der(cert)).hexdigest()


def test_default_time_is_now(pki, trust):
    now = datetime.now(UTC)
    cert = pki.ca.issue(not_before=now - timedelta(days=1), not_after=now + timedelta(days=1))
    crl = CrlStore.load(
        pki.der(pki.ca.crl(this_update=now - timedelta(hours=1), next_update=now + timedelta(hours=1))), trust
    )
    assert check_certificate(pki.der(cert), trust, crl).status is CertStatus.VALID


def test_expired(pki, trust, fresh_crl):
    cert = pki.ca.issue(not_before=pki.NOW - timedelta(days=400), not_after=pki.NOW - timedelta(seconds=1))
    r = check_certificate(pki.der(cert), trust, fresh_crl, at=pki.NOW)
    assert r.status is CertStatus.EXPIRED
    assert "expired" in r.reason


def test_validity_bounds_are_inclusive(pki, trust, fresh_crl):
    cert = pki.ca.issue(not_before=pki.NOW - timedelta(days=1), not_after=pki.NOW)
    assert check_certificate(pki.der(cert), trust, fresh_crl, at=pki.NOW).status is CertStatus.VALID
    late = pki.NOW + timedelta(seconds=1)
    assert check_certificate(pki.der(cert), trust, fresh_crl, at=late).status is CertStatus.EXPIRED


def test_not_yet_valid(pki, trust, fresh_crl):
    cert = pki.ca.issue(not_before=pki.NOW + timedelta(hours=1))
    r = check_certificate(pki.der(cert), trust, fresh_crl, at=pki.NOW)
    assert r.status is CertStatus.NOT_YET_VALID


def test_revoked(pki, trust):
    cert = pki.ca.issue()
    crl = CrlStore.load(pki.der(pki.ca.crl([5, cert.serial_number, 9], number=12)), trust)
    r = check_certificate(pki.der(cert), trust, crl, at=pki.NOW)
    assert r.status is CertStatus.REVOKED
    assert format(cert.serial_number, "X") in r.reason and "12" in r.reason


def test_revoked_wins_over_a_stale_crl(pki, trust):
    cert = pki.ca.issue()
    old = pki.ca.crl(
        [cert.serial_number], this_update=pki.NOW - timedelta(days=9), next_update=pki.NOW - timedelta(days=8)
    )
    crl = CrlStore.load(pki.der(old), trust)
    assert check_certificate(pki.der(cert), trust, crl, at=pki.NOW).status is CertStatus.REVOKED


def test_missing_crl_is_crl_stale_never_valid(pki, trust):
    r = check_certificate(pki.der(pki.ca.issue()), trust, None, at=pki.NOW)
    assert r.status is CertStatus.CRL_STALE
    assert "no CRL" in r.reason


def test_crl_past_next_update_is_crl_stale(pki, trust):
    crl = CrlStore.load(
        pki.der(
            pki.ca.crl(this_update=pki.NOW - timedelta(hours=30), next_update=pki.NOW - timedelta(hours=6))
        ),
        trust,
    )
    r = check_certificate(pki.der(pki.ca.issue()), trust, crl, at=pki.NOW)
    assert r.status is CertStatus.CRL_STALE
    assert "nextUpdate" in r.reason


def test_crl_older_than_max_age_is_crl_stale(pki, trust):
    crl = CrlStore.load(
        pki.der(
            pki.ca.crl(this_update=pki.NOW - timedelta(days=3), next_update=pki.NOW + timedelta(days=30))
        ),
        trust,
    )
    cert = pki.der(pki.ca.issue())
    assert check_certificate(cert, trust, crl, at=pki.NOW).status is CertStatus.CRL_STALE
    assert (
        check_certificate(cert, trust, crl, at=pki.NOW, crl_max_age=timedelta(days=4)).status
        is CertStatus.VALID
    )


def test_foreign_ca_with_same_dn_is_untrusted(pki, trust, fresh_crl):
    assert pki.foreign.name == pki.ca.name
    r = check_certificate(pki.der(pki.foreign.issue()), trust, fresh_crl, at=pki.NOW)
    assert r.status is CertStatus.UNTRUSTED
    assert r.issuer_fingerprint is None
    assert "signature does not verify" in r.reason


def test_unknown_issuer_is_untrusted(pki, trust, fresh_crl):
    other = pki.new_ca(name=x509.Name.from_rfc4514_string("CN=Some other CA,C=JP"))
    r = check_certificate(pki.der(other.issue()), trust, fresh_crl, at=pki.NOW)
    assert r.status is CertStatus.UNTRUSTED
    assert "not a configured trust anchor" in r.reason


def _flip(data: bytes, index: int) -> bytes:
    return data[:index] + bytes([data[index] ^ 0x01]) + data[index + 1 :]


def test_tampered_signature_is_untrusted(pki, trust, fresh_crl):
    data = pki.der(pki.ca.issue())
    r = check_certificate(_flip(data, len(data) - 10), trust, fresh_crl, at=pki.NOW)
    assert r.status is CertStatus.UNTRUSTED


def test_tampered_subject_is_untrusted(pki, trust, fresh_crl):
    data = pki.der(pki.ca.issue(cn="Suzuki card"))
    forged = data.replace(b"Suzuki", b"Sato00", 1)
    assert forged != data
    r = check_certificate(forged, trust, fresh_crl, at=pki.NOW)
    assert r.status is CertStatus.UNTRUSTED and r.subject == "CN=Sato00 card"


def test_key_usage_without_digital_signature_is_not_a_user_auth_key(pki, trust, fresh_crl):
    ku = {**pki.AUTH_KU, "digital_signature": False, "key_encipherment": True}
    r = check_certificate(pki.der(pki.ca.issue(key_usage=ku)), trust, fresh_crl, at=pki.NOW)
    assert r.status is CertStatus.WRONG_KEY_USAGE and not r.ok
    assert "digitalSignature" in r.reason


def test_missing_key_usage_does_not_restrict(pki, trust, fresh_crl):
    r = check_certificate(pki.der(pki.ca.issue(key_usage=None)), trust, fresh_crl, at=pki.NOW)
    assert r.status is CertStatus.VALID


def test_ca_certificate_is_not_a_user_certificate(pki, trust, fresh_crl):
    r = check_certificate(pki.der(pki.ca.cert), trust, fresh_crl, at=pki.NOW)
    assert r.status is CertStatus.UNTRUSTED
    assert "CA certificate" in r.reason


def test_certificate_issued_after_its_ca_expired_is_untrusted(pki):
    old = pki.new_ca(not_before=pki.NOW - timedelta(days=3650), not_after=pki.NOW - timedelta(days=30))
    crl = CrlStore.load(pki.der(old.crl()), old.trust)
    before = old.issue(not_before=pki.NOW - timedelta(days=400), not_after=pki.NOW + timedelta(days=100))
    after = old.issue(not_before=pki.NOW - timedelta(days=1))
    # An expired anchor still verifies what it issued while valid (J-LIS 2015 generation).
    assert check_certificate(pki.der(before), old.trust, crl, at=pki.NOW).status is CertStatus.VALID
    r = check_certificate(pki.der(after), old.trust, crl, at=pki.NOW)
    assert r.status is CertStatus.UNTRUSTED and "after its CA expired" in r.reason


def test_certificate_backdated_before_its_ca_is_accepted(pki):
    ca = pki.new_ca(not_before=pki.NOW - timedelta(days=1))
    cert = ca.issue(not_before=pki.NOW - timedelta(days=1, minutes=5))
    crl = CrlStore.load(pki.der(ca.crl()), ca.trust)
    assert check_certificate(pki.der(cert), ca.trust, crl, at=pki.NOW).status is CertStatus.VALID


def test_ca_generations_with_one_dn_are_told_apart_by_signature(pki):
    gen1, gen2 = pki.new_ca(), pki.new_ca()
    assert gen1.name == gen2.name
    trust = TrustStore.from_pem(gen2.pem + gen1.pem)
    c1, c2 = gen1.issue(serial=4242), gen2.issue(serial=4242)
    crls = [
        CrlStore.load(pki.der(gen1.crl([4242])), trust),
        CrlStore.load(pki.der(gen2.crl([1])), trust),
    ]
    r1 = check_certificate(pki.der(c1), trust, crls, at=pki.NOW)
    r2 = check_certificate(pki.der(c2), trust, crls, at=pki.NOW)
    assert r1.status is CertStatus.REVOKED and r1.issuer_fingerprint == trust.anchors[1].fingerprint
    assert r2.status is CertStatus.VALID and r2.issuer_fingerprint == trust.anchors[0].fingerprint
    # The other generation's CRL says nothing about this certificate.
    assert check_certificate(pki.der(c2), trust, crls[0], at=pki.NOW).status is CertStatus.CRL_STALE


@pytest.mark.parametrize(
    "garbage",
    [
        b"",
        b"\x00" * 10,
        b"hello, not a certificate",
        b"\x30\x82\xff\xff" + b"\x00" * 40,
        b"-----BEGIN CERTIFICATE-----\nAAAA\n",
    ],
)
def test_garbage_certificate_is_a_clear_error(trust, garbage):
    with pytest.raises(CertificateFormatError, match="certificate"):
        check_certificate(garbage, trust, None)


def test_mutated_certificate_bytes_never_crash(pki, trust, fresh_crl):
    """A damaged certificate is a CertificateFormatError or a result, never ``valid``."""
    data = pki.der(pki.ca.issue())
    assert check_certificate(data, trust, fresh_crl, at=pki.NOW).status is CertStatus.VALID
    rng = random.Random(5)
    outcomes = set()
    for _ in range(400):
        b = bytearray(data)
        p = rng.randrange(len(b))
        b[p : p + rng.randint(0, 3)] = rng.randbytes(rng.randint(0, 3)) or b"\x00"
        if bytes(b) == data:
            continue
        try:
            r = check_certificate(bytes(b), trust, fresh_crl, at=pki.NOW)
        except CertificateFormatError:
            outcomes.add("error")
            continue
        outcomes.add(r.status)
        assert r.status is not CertStatus.VALID
    assert {"error", CertStatus.UNTRUSTED} <= outcomes


def test_truncated_certificate_is_a_clear_error(pki, trust):
    data = pki.der(pki.ca.issue())
    with pytest.raises(CertificateFormatError):
        check_certificate(data[: len(data) // 2], trust, None)


def test_naive_datetime_is_refused(pki, trust, fresh_crl):
    with pytest.raises(ValueError, match="naive"):
        check_certificate(pki.der(pki.ca.issue()), trust, fresh_crl, at=datetime(2026, 1, 1))


def test_production_trust_store_holds_the_jlis_anchors():
    store = TrustStore.production()
    assert {a.fingerprint for a in store.anchors} == {JLIS_2015, JLIS_2023}
    assert {a.subject.rfc4514_string() for a in store.anchors} == {
        "OU=Japan Agency for Local Authority Information Systems,OU=JPKI for user authentication,O=JPKI,C=JP"
    }
    assert store.by_fingerprint(JLIS_2023.upper()) is not None


def test_forgery_with_the_jlis_name_is_untrusted_in_production(pki):
    forger = pki.new_ca(name=pki.JLIS_NAME)
    r = check_certificate(pki.der(forger.issue()), TrustStore.production(), None, at=pki.NOW)
    assert r.status is CertStatus.UNTRUSTED
    assert "2 trust anchor(s)" in r.reason


def test_trust_store_from_files(pki, tmp_path):
    a, b = tmp_path / "a.pem", tmp_path / "b.pem"
    other = pki.new_ca()
    a.write_bytes(pki.ca.pem)
    b.write_bytes(other.pem + pki.ca.pem)  # duplicates collapse
    store = TrustStore.from_pem_files([a, str(b)])
    assert len(store) == 2


@pytest.mark.parametrize(
    "data", [b"", b"garbage", b"-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n"]
)
def test_trust_store_refuses_garbage(data):
    with pytest.raises(TrustStoreError):
        TrustStore.from_pem(data)


def test_trust_store_refuses_missing_file(tmp_path):
    with pytest.raises(TrustStoreError, match="cannot read"):
        TrustStore.from_pem_files([tmp_path / "nope.pem"])
