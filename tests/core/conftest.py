"""Test PKI for the certificate check and the CRL store: CAs shaped like J-LIS's, user certs, CRLs.

The shapes come from ``drivers/card/virtual/pki.py``, the one place that builds JPKI-shaped
certificates and CRLs; this file only holds what these tests add: a fixed clock, a CA whose DN
says "mkp test CA", serials counted up from 0x1000, one user key shared by all user certificates
(key generation is the slow part), and :meth:`TestCA.resign_crl` for the CRLs no builder makes.
Everything lives in memory (files only in pytest's tmp dirs). Tests get the factory through the
``pki`` fixture and pass ``at=NOW`` explicitly, so no result depends on the wall clock.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

from drivers.card.virtual.pki import (
    JPKI_AUTH_CA_NAME,
    CAKey,
    Revocation,
    build_auth_certificate,
    build_ca_certificate,
    build_crl,
    jpki_ca_name,
    key_usage_with,
    new_rsa_key,
)
from mkp_core.trust import TrustStore

NOW = datetime(2026, 11, 25, 3, 0, tzinfo=UTC)

TEST_CA_NAME = jpki_ca_name("mkp test CA")
# The real J-LIS DN, for forgeries that copy the name but not the key.
JLIS_NAME = JPKI_AUTH_CA_NAME

# Bits set in a card's key usage; tests flip bits with ``{**AUTH_KU, "digital_signature": False}``.
_AUTH_KU = {"digital_signature": True}


def der(obj: x509.Certificate | x509.CertificateRevocationList) -> bytes:
    return obj.public_bytes(serialization.Encoding.DER)


@dataclass
class TestCA:
    """A CA that issues user certificates and CRLs. Not collected by pytest (has __init__)."""

    __test__ = False

    name: x509.Name
    key: CAKey
    cert: x509.Certificate
    _next_serial: int = field(default=0x1000)

    @classmethod
    def make(
        cls,
        name: x509.Name = TEST_CA_NAME,
        key: CAKey | None = None,
        not_before: datetime = NOW - timedelta(days=3 * 365),
        not_after: datetime = NOW + timedelta(days=7 * 365),
    ) -> TestCA:
        key = key or new_rsa_key()
        return cls(
            name, key, build_ca_certificate(key, name=name, not_before=not_before, not_after=not_after)
        )

    @property
    def pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    @property
    def trust(self) -> TrustStore:
        return TrustStore.from_pem(self.pem)

    def issue(
        self,
        *,
        serial: int | None = None,
        not_before: datetime = NOW - timedelta(days=30),
        not_after: datetime = NOW + timedelta(days=5 * 365 - 30),
        key_usage: dict[str, bool] | None = _AUTH_KU,
        ca: bool = False,
        public_key: rsa.RSAPublicKey | None = None,
        cn: str = "JPKI user auth",
    ) -> x509.Certificate:
        """A user-authentication certificate ``CN=<cn>``; ``key_usage=None`` leaves the extension out."""
        if serial is None:
            serial = self._next_serial
            self._next_serial += 1
        return build_auth_certificate(
            self.cert,
            self.key,
            public_key or _user_key(),
            serial=serial,
            subject=x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]),
            not_before=not_before,
            not_after=not_after,
            key_usage=None if key_usage is None else key_usage_with(**key_usage),
            is_ca=ca,
        )

    def crl(
        self,
        revoked: Iterable[int | tuple[int, x509.ReasonFlags]] = (),
        *,
        this_update: datetime = NOW - timedelta(hours=3),
        next_update: datetime = NOW + timedelta(hours=21),
        number: int | None = 1,
        delta_base: int | None = None,
        extensions: Iterable[x509.ExtensionType] = (),
        invalidity: bool = False,
        pss: bool = False,
    ) -> x509.CertificateRevocationList:
        """A CRL; entries may carry a reason; ``delta_base`` makes it a delta CRL.

        Entries are revoked at ``this_update``; ``invalidity`` dates each one a day earlier.
        ``extensions`` go in as critical ones.
        """
        invalid_since = this_update - timedelta(days=1) if invalidity else None
        entries = []
        for item in revoked:
            serial, reason = item if isinstance(item, tuple) else (item, None)
            entries.append(Revocation(serial, reason=reason, invalid_since=invalid_since))
        return build_crl(
            self.cert,
            self.key,
            entries,
            this_update=this_update,
            next_update=next_update,
            number=number,
            delta_base=delta_base,
            critical_extensions=extensions,
            pss=pss,
        )

    def resign_crl(
        self,
        crl: x509.CertificateRevocationList,
        *,
        drop_next_update: bool = False,
        raw_serials: dict[int, bytes] | None = None,
    ) -> bytes:
        """Edit a CRL's DER where the builder refuses to (no nextUpdate, odd serials) and re-sign it.

        ``raw_serials`` maps a serial in ``crl`` to the content octets its INTEGER gets instead.
        """
        raw_serials = raw_serials or {}
        fields = _children(_content(crl.tbs_certlist_bytes))
        out = []
        for f in fields:
            if drop_next_update and f[0] in (0x17, 0x18) and any(g[0] in (0x17, 0x18) for g in out):
                continue
            if f[0] == 0x30 and len(out) >= 4:  # revokedCertificates
                entries = []
                for entry in _children(_content(f)):
                    parts = _children(_content(entry))
                    serial = int.from_bytes(_content(parts[0]), "big", signed=True)
                    if serial in raw_serials:
                        parts[0] = _tlv(0x02, raw_serials[serial])
                    entries.append(_tlv(0x30, b"".join(parts)))
                f = _tlv(0x30, b"".join(entries))
            out.append(f)
        tbs = _tlv(0x30, b"".join(out))
        alg = _children(_content(der(crl)))[1]
        sig = self.key.sign(tbs, padding.PKCS1v15(), hashes.SHA256())
        return _tlv(0x30, tbs + alg + _tlv(0x03, b"\x00" + sig))


def _tlv(tag: int, content: bytes) -> bytes:
    n = len(content)
    if n < 0x80:
        return bytes([tag, n]) + content
    octets = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(octets)]) + octets + content


def _split(buf: bytes, pos: int) -> tuple[int, int]:
    """Content start and element end of the DER element at ``pos``."""
    n = buf[pos + 1]
    if n < 0x80:
        return pos + 2, pos + 2 + n
    k = n & 0x7F
    start = pos + 2 + k
    return start, start + int.from_bytes(buf[pos + 2 : start], "big")


def _content(element: bytes) -> bytes:
    start, end = _split(element, 0)
    return element[start:end]


def _children(content: bytes) -> list[bytes]:
    out, pos = [], 0
    while pos < len(content):
        _, end = _split(content, pos)
        out.append(content[pos:end])
        pos = end
    return out


_USER_KEYS: list[rsa.RSAPrivateKey] = []


def _user_key() -> rsa.RSAPublicKey:
    """One RSA key shared by all user certs: key generation is the slow part of these tests."""
    if not _USER_KEYS:
        _USER_KEYS.append(new_rsa_key())
    return _USER_KEYS[0].public_key()


class Pki:
    """What tests get from the ``pki`` fixture: the CAs and the helpers."""

    NOW = NOW
    TEST_CA_NAME = TEST_CA_NAME
    JLIS_NAME = JLIS_NAME
    AUTH_KU = _AUTH_KU

    def __init__(self, ca: TestCA, foreign: TestCA) -> None:
        self.ca = ca  # the test CA that the trust store holds
        self.foreign = foreign  # same DN as ``ca``, another key: must never be trusted
        self.der = der

    @staticmethod
    def new_ca(**kwargs: object) -> TestCA:
        return TestCA.make(**kwargs)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def pki() -> Pki:
    ca = TestCA.make()
    return Pki(ca, TestCA.make(name=ca.name))


@pytest.fixture
def trust(pki: Pki) -> TrustStore:
    return pki.ca.trust
