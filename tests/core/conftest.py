"""Test PKI for the certificate check and the CRL store: CAs shaped like J-LIS's, user certs, CRLs.

Everything is made with ``cryptography`` in memory (files only in pytest's tmp dirs). A test CA
is self-signed RSA-2048 with sha256WithRSAEncryption, key usage keyCertSign + cRLSign, like the
J-LIS user-authentication CA; user certificates are RSA-2048 with digitalSignature, like a card's.
Tests get the factory through the ``pki`` fixture and pass ``at=NOW`` explicitly, so no result
depends on the wall clock.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.x509.oid import NameOID

from mkp_core.trust import TrustStore

CAKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey

NOW = datetime(2026, 11, 25, 3, 0, tzinfo=UTC)

TEST_CA_NAME = x509.Name(
    [
        x509.NameAttribute(NameOID.COUNTRY_NAME, "JP"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "JPKI"),
        x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "JPKI for user authentication"),
        x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "mkp test CA"),
    ]
)
# The real J-LIS DN, for forgeries that copy the name but not the key.
JLIS_NAME = x509.Name(
    [
        x509.NameAttribute(NameOID.COUNTRY_NAME, "JP"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "JPKI"),
        x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "JPKI for user authentication"),
        x509.NameAttribute(
            NameOID.ORGANIZATIONAL_UNIT_NAME, "Japan Agency for Local Authority Information Systems"
        ),
    ]
)

_AUTH_KU = dict(
    digital_signature=True,
    content_commitment=False,
    key_encipherment=False,
    data_encipherment=False,
    key_agreement=False,
    key_cert_sign=False,
    crl_sign=False,
    encipher_only=False,
    decipher_only=False,
)


def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


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

    @property
    def hash(self) -> hashes.SHA256 | None:
        return None if isinstance(self.key, ed25519.Ed25519PrivateKey) else hashes.SHA256()

    @classmethod
    def make(
        cls,
        name: x509.Name = TEST_CA_NAME,
        key: CAKey | None = None,
        not_before: datetime = NOW - timedelta(days=3 * 365),
        not_after: datetime = NOW + timedelta(days=7 * 365),
    ) -> TestCA:
        key = key or rsa_key()
        ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(not_before)
            .not_valid_after(not_after)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    **{**_AUTH_KU, "digital_signature": False, "key_cert_sign": True, "crl_sign": True}
                ),
                critical=True,
            )
            .add_extension(ski, critical=False)
            .sign(key, None if isinstance(key, ed25519.Ed25519PrivateKey) else hashes.SHA256())
        )
        return cls(name, key, cert)

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
        """A user-authentication certificate; ``key_usage=None`` leaves the extension out."""
        if serial is None:
            serial = self._next_serial
            self._next_serial += 1
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
            .issuer_name(self.name)
            .public_key(public_key or _user_key())
            .serial_number(serial)
            .not_valid_before(not_before)
            .not_valid_after(not_after)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()), critical=False
            )
        )
        if key_usage is not None:
            builder = builder.add_extension(x509.KeyUsage(**key_usage), critical=True)
        if ca:
            builder = builder.add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        return builder.sign(self.key, hashes.SHA256())

    def crl(
        self,
        revoked: Iterable[int | tuple[int, x509.ReasonFlags]] = (),
        *,
        this_update: datetime = NOW - timedelta(hours=3),
        next_update: datetime | None = NOW + timedelta(hours=21),
        number: int | None = 1,
        delta_base: int | None = None,
        extensions: Iterable[x509.ExtensionType] = (),
        invalidity: bool = False,
        pss: bool = False,
    ) -> x509.CertificateRevocationList:
        """A CRL; entries may carry a reason; ``delta_base`` makes it a delta CRL."""
        builder = x509.CertificateRevocationListBuilder().issuer_name(self.name).last_update(this_update)
        if next_update is not None:
            builder = builder.next_update(next_update)
        if number is not None:
            builder = builder.add_extension(x509.CRLNumber(number), critical=False)
        if delta_base is not None:
            builder = builder.add_extension(x509.DeltaCRLIndicator(delta_base), critical=True)
        for ext in extensions:
            builder = builder.add_extension(ext, critical=True)
        for item in revoked:
            serial, reason = item if isinstance(item, tuple) else (item, None)
            entry = x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(this_update)
            if reason is not None:
                entry = entry.add_extension(x509.CRLReason(reason), critical=False)
            if invalidity:
                entry = entry.add_extension(
                    x509.InvalidityDate(this_update - timedelta(days=1)), critical=False
                )
            builder = builder.add_revoked_certificate(entry.build())
        if pss:
            return builder.sign(
                self.key, self.hash, rsa_padding=padding.PSS(padding.MGF1(hashes.SHA256()), 32)
            )
        return builder.sign(self.key, self.hash)

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
        _USER_KEYS.append(rsa_key())
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
