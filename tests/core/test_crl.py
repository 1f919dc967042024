"""CrlStore: loading, lookups for every serial size, signature and freshness, deltas, bad input."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from mkp_core.crl import (
    CrlDeltaError,
    CrlError,
    CrlFormatError,
    CrlSignatureError,
    CrlStore,
    CrlUnsupportedError,
)

EDGE_SERIALS = [
    1,
    127,
    128,  # needs a leading zero byte in DER
    255,
    0x7FFF_FFFF_FFFF_FFFF,
    0x8000_0000_0000_0000,
    2**64 - 1,  # largest serial in the 64-bit array
    2**64,  # smallest that needs the high arrays
    2**64 + 5,  # same low 64 bits as 5, which is NOT revoked
    2**128 + 2**64 + 7,
    2**158 + 12345,
    2**159 - 1,  # 20 octets: the RFC 5280 maximum
]


def test_load_der_and_pem_give_the_same_store(pki, trust):
    crl = pki.ca.crl([3, 1, 2], number=77)
    for data in (pki.der(crl), crl.public_bytes(serialization.Encoding.PEM)):
        store = CrlStore.load(data, trust)
        assert store.count == 3
        assert store.crl_number == 77
        assert store.this_update == crl.last_update_utc and store.this_update.tzinfo is not None
        assert store.next_update == crl.next_update_utc
        assert store.issuer_fingerprint == trust.anchors[0].fingerprint
        assert [s for s in range(6) if store.is_revoked(s)] == [1, 2, 3]


def test_serials_of_every_size(pki, trust):
    store = CrlStore.load(pki.der(pki.ca.crl(EDGE_SERIALS)), trust)
    assert store.count == len(EDGE_SERIALS)
    for s in EDGE_SERIALS:
        assert store.is_revoked(s), hex(s)
    for s in [
        0,
        2,
        5,
        126,
        129,
        2**64 - 2,
        2**64 + 1,
        2**65 + 5,
        2**128 + 7,
        2**158 + 12346,
        2**159 - 2,
        2**159,
        2**200,
        -1,
    ]:
        assert not store.is_revoked(s), hex(s)


def test_serials_no_conforming_ca_makes(pki, trust):
    # Negative and 21-octet serials exist in the wild; they must still be found, exactly.
    big = 2**165 + 77
    data = pki.ca.resign_crl(
        pki.ca.crl([1, 2, 3]),
        raw_serials={1: (-5).to_bytes(1, "big", signed=True), 2: big.to_bytes(21, "big")},
    )
    store = CrlStore.load(data, trust)
    assert store.count == 3
    assert store.is_revoked(-5) and store.is_revoked(big) and store.is_revoked(3)
    assert not store.is_revoked(1) and not store.is_revoked(2) and not store.is_revoked(-4)
    assert not store.is_revoked(big & (2**64 - 1))


def test_small_serials_only(pki, trust):
    store = CrlStore.load(pki.der(pki.ca.crl([5, 2**64 - 1])), trust)
    assert store.is_revoked(5) and store.is_revoked(2**64 - 1)
    assert not store.is_revoked(2**64 + 5)  # low 64 bits match, serial does not


@pytest.mark.parametrize("bits", [[16, 32, 63, 64, 96, 159], [8, 24, 40, 64]], ids=["wide", "64-bit"])
@pytest.mark.parametrize("bucketed", [False, True], ids=["one-sort", "bucketed"])
def test_agrees_with_cryptography_on_a_large_random_crl(pki, trust, monkeypatch, bits, bucketed):
    if bucketed:  # the bucketed sort a million-entry CRL takes, on a CRL small enough to build here
        monkeypatch.setattr("mkp_core.crl._BUCKET_MIN", 100)
    rng = random.Random(20261125)
    serials = set()
    while len(serials) < 3000:
        serials.add(rng.getrandbits(rng.choice(bits)) or 1)
    reasons = [
        x509.ReasonFlags.key_compromise,
        x509.ReasonFlags.certificate_hold,
        x509.ReasonFlags.superseded,
    ]
    entries = [(s, rng.choice(reasons)) for s in serials]
    crl = pki.ca.crl(entries, invalidity=True)  # entry extensions must be skipped
    store = CrlStore.load(pki.der(crl), trust)
    assert store.count == len(crl) == 3000
    assert all(store.is_revoked(r.serial_number) for r in crl)
    probes = [rng.getrandbits(rng.choice([16, 64, 159])) for _ in range(3000)]
    assert [store.is_revoked(p) for p in probes] == [p in serials for p in probes]


def test_empty_crl(pki, trust):
    store = CrlStore.load(pki.der(pki.ca.crl([])), trust)
    assert store.count == 0 and not store.is_revoked(1)


def test_crl_without_next_update_or_number(pki, trust):
    data = pki.ca.resign_crl(pki.ca.crl([9], number=None), drop_next_update=True)
    store = CrlStore.load(data, trust)
    assert store.next_update is None and store.crl_number is None and store.is_revoked(9)
    assert store.is_fresh(pki.NOW, timedelta(days=1))
    assert not store.is_fresh(pki.NOW + timedelta(days=2), timedelta(days=1))


def test_bad_signature_from_foreign_ca_with_same_dn(pki, trust):
    with pytest.raises(CrlSignatureError, match="signature does not verify"):
        CrlStore.load(pki.der(pki.foreign.crl([1])), trust)


@pytest.mark.parametrize("algorithm", ["ecdsa-p256", "ed25519", "rsa-pss"])
def test_other_signature_algorithms(pki, algorithm):
    # J-LIS signs with RSA PKCS#1 v1.5; other algorithms take other paths and must hold too.
    make = {
        "ecdsa-p256": lambda: ec.generate_private_key(ec.SECP256R1()),
        "ed25519": ed25519.Ed25519PrivateKey.generate,
    }
    new_key = make.get(algorithm, lambda: None)
    ca = pki.new_ca(key=new_key())
    twin = pki.new_ca(key=new_key())  # same DN, other key
    pss = algorithm == "rsa-pss"
    assert CrlStore.load(pki.der(ca.crl([77], pss=pss)), ca.trust).is_revoked(77)
    with pytest.raises(CrlSignatureError):
        CrlStore.load(pki.der(twin.crl([77], pss=pss)), ca.trust)


def test_crl_from_unknown_issuer(pki, trust):
    other = pki.new_ca(name=x509.Name.from_rfc4514_string("CN=Elsewhere,C=JP"))
    with pytest.raises(CrlSignatureError, match="not a configured trust anchor"):
        CrlStore.load(pki.der(other.crl([1])), trust)


def test_tampered_crl_is_refused(pki, trust):
    data = pki.der(pki.ca.crl([0x1234567]))
    i = data.index(bytes.fromhex("01234567"))
    forged = data[:i] + bytes.fromhex("01234568") + data[i + 4 :]  # un-revoke by editing the serial
    with pytest.raises(CrlSignatureError):
        CrlStore.load(forged, trust)


@pytest.mark.parametrize(
    "garbage",
    [
        b"",
        b"\x00\x01\x02",
        b"not a CRL at all",
        b"\x30\x03\x02\x01\x01",
        b"-----BEGIN X509 CRL-----\n!!\n-----END X509 CRL-----\n",
    ],
)
def test_garbage_crl_is_a_clear_error(trust, garbage):
    with pytest.raises(CrlFormatError, match="CRL"):
        CrlStore.load(garbage, trust)


def _mutations(data: bytes, n: int, seed: int):
    rng = random.Random(seed)
    for _ in range(n):
        b = bytearray(data)
        p = rng.randrange(len(b))
        op = rng.randrange(3)
        if op == 0:
            b[p] = rng.randrange(256)
        elif op == 1:
            del b[p : p + rng.randint(1, 8)]
        else:
            b[p:p] = rng.randbytes(rng.randint(1, 4))
        yield bytes(b)


def test_mutated_crl_bytes_never_crash(pki, trust):
    """Every damaged CRL either still verifies (a byte outside the signed part) or is a CrlError."""
    data = pki.der(pki.ca.crl([1, 2**70, 5], invalidity=True, number=3))
    outcomes = set()
    for mutated in _mutations(data, 400, seed=3):
        try:
            CrlStore.load(mutated, trust)
            outcomes.add("loaded")
        except CrlError as exc:
            outcomes.add(type(exc).__name__)
    assert {"CrlFormatError", "CrlSignatureError"} <= outcomes


def test_certificate_handed_as_crl(pki, trust):
    with pytest.raises(CrlFormatError):
        CrlStore.load(pki.der(pki.ca.cert), trust)


def test_truncated_crl(pki, trust):
    data = pki.der(pki.ca.crl(range(1, 200)))
    with pytest.raises(CrlFormatError):
        CrlStore.load(data[:-40], trust)


def test_from_file_names_the_path(pki, trust, tmp_path):
    good, bad = tmp_path / "jlis.crl", tmp_path / "broken.crl"
    good.write_bytes(pki.der(pki.ca.crl([4])))
    bad.write_bytes(b"\x30garbage")
    assert CrlStore.from_file(good, trust).is_revoked(4)
    with pytest.raises(CrlFormatError, match="broken.crl"):
        CrlStore.from_file(bad, trust)
    with pytest.raises(CrlError, match="cannot read"):
        CrlStore.from_file(tmp_path / "missing.crl", trust)


def test_indirect_crl_is_unsupported(pki, trust):
    idp = x509.IssuingDistributionPoint(None, None, False, False, None, True, False)
    with pytest.raises(CrlUnsupportedError, match="indirect"):
        CrlStore.load(pki.der(pki.ca.crl([1], extensions=[idp])), trust)


def test_freshness_window(pki, trust):
    t = pki.NOW
    store = CrlStore.load(pki.der(pki.ca.crl(this_update=t, next_update=t + timedelta(days=1))), trust)
    day = timedelta(days=2)
    assert store.is_fresh(t, day)
    assert store.is_fresh(t + timedelta(days=1), day)  # nextUpdate itself still counts
    assert not store.is_fresh(t + timedelta(days=1, seconds=1), day)
    assert "nextUpdate" in store.stale_reason(t + timedelta(days=1, seconds=1), day)
    assert not store.is_fresh(t + timedelta(hours=13), timedelta(hours=12))
    assert store.is_fresh(t - timedelta(minutes=4), day)  # kiosk clock a little behind
    assert "future" in store.stale_reason(t - timedelta(hours=1), day)


def test_is_fresh_refuses_naive_datetimes(pki, trust):
    store = CrlStore.load(pki.der(pki.ca.crl()), trust)
    with pytest.raises(ValueError, match="naive"):
        store.is_fresh(datetime(2026, 11, 25), timedelta(days=1))


# --- delta CRLs --------------------------------------------------------------------------------

HOLD = x509.ReasonFlags.certificate_hold
RELEASE = x509.ReasonFlags.remove_from_crl


@pytest.fixture
def full(pki, trust):
    t = pki.NOW - timedelta(days=1)
    crl = pki.ca.crl([10, (11, HOLD), 12], number=100, this_update=t, next_update=t + timedelta(days=1))
    return CrlStore.load(pki.der(crl), trust)


def _delta(pki, entries, *, number, base=100, hours=0):
    t = pki.NOW - timedelta(hours=1) + timedelta(hours=hours)
    return pki.der(
        pki.ca.crl(entries, number=number, delta_base=base, this_update=t, next_update=t + timedelta(hours=6))
    )


def test_delta_adds_and_releases(pki, trust, full):
    store = full.apply_delta(_delta(pki, [20, (11, RELEASE), 2**100], number=101), trust)
    assert [s for s in range(25) if store.is_revoked(s)] == [10, 12, 20]
    assert store.is_revoked(2**100)
    assert store.count == 4
    assert store.crl_number == 101 and store.full_crl_number == 100
    assert store.this_update > full.this_update
    assert full.is_revoked(11) and not full.is_revoked(20)  # the full store is unchanged
    # The full CRL alone has passed its nextUpdate one hour after NOW; the delta carries it on.
    later = pki.NOW + timedelta(hours=2)
    assert not full.is_fresh(later, timedelta(days=2)) and store.is_fresh(later, timedelta(days=2))


def test_deltas_stack(pki, trust, full):
    s1 = full.apply_delta(_delta(pki, [(10, RELEASE), (30, HOLD)], number=101), trust)
    s2 = s1.apply_delta(_delta(pki, [(10, RELEASE), (30, RELEASE), 31], number=102, hours=1), trust)
    assert [s for s in range(40) if s2.is_revoked(s)] == [11, 12, 31]


def test_delta_needing_a_newer_full_crl_is_refused(pki, trust, full):
    with pytest.raises(CrlDeltaError, match="needs full CRL number 105"):
        full.apply_delta(_delta(pki, [1], number=106, base=105), trust)


def test_old_delta_is_not_replayed(pki, trust, full):
    s1 = full.apply_delta(_delta(pki, [1], number=102), trust)
    with pytest.raises(CrlDeltaError, match="not newer"):
        s1.apply_delta(_delta(pki, [(1, RELEASE)], number=101), trust)
    with pytest.raises(CrlDeltaError, match="not newer"):
        full.apply_delta(_delta(pki, [1], number=100), trust)


def test_delta_and_full_are_not_confused(pki, trust, full):
    with pytest.raises(CrlDeltaError, match="a delta CRL"):
        CrlStore.load(_delta(pki, [1], number=101), trust)
    with pytest.raises(CrlDeltaError, match="not a delta CRL"):
        full.apply_delta(pki.der(pki.ca.crl([1], number=101)), trust)


def test_delta_from_another_ca(pki, trust, full):
    foreign = pki.der(pki.foreign.crl([1], number=101, delta_base=100))
    with pytest.raises(CrlSignatureError):
        full.apply_delta(foreign, trust)
    other = pki.new_ca()
    both = type(trust).from_pem(pki.ca.pem + other.pem)
    with pytest.raises(CrlDeltaError, match="another CA"):
        CrlStore.load(pki.der(pki.ca.crl([1], number=100)), both).apply_delta(
            pki.der(other.crl([2], number=101, delta_base=100)), both
        )


def test_garbage_delta(trust, full):
    with pytest.raises(CrlFormatError):
        full.apply_delta(b"\x00garbage", trust)
