"""Check a My Number card's JPKI user-authentication certificate, the same way on kiosk and server.

JPKI user certificates are issued directly by the J-LIS root ("user authentication CA"); there
is no intermediate. Several CA generations share one subject DN, so the issuing anchor is found
by *signature* among the configured anchors, never by name alone, and never from the CA
certificate the card itself carries (EF ``000B``): that one is data from the card, not trust.

Order of checks (the first that fails decides the status):

1. parse — bytes that are not an X.509 certificate raise :class:`CertificateFormatError`;
   there is nothing to report on, so no :class:`CheckResult` is made up.
2. ``untrusted`` — not signed by any configured anchor (unknown DN, same DN but another key,
   tampered bytes); a CA certificate presented as a user certificate; a certificate whose
   notBefore is after its anchor expired (a retired CA key cannot mint new certificates; a
   notBefore a little before the CA's own is tolerated: issuers backdate for clock skew);
   key usage present and without digitalSignature. Trust goes first because
   the dates and serial of an untrusted certificate mean nothing.
3. ``not_yet_valid`` / ``expired`` — ``at`` outside [notBefore, notAfter] (both inclusive).
4. ``revoked`` — the serial is on the CRL of the anchor that signed the certificate. A stale
   CRL that lists the serial still proves revocation, so this comes before freshness.
5. ``crl_stale`` — no CRL from that anchor, or its CRL is past nextUpdate / older than
   ``crl_max_age``. A kiosk must not answer ``valid`` without current revocation data.
6. ``valid``.

Anchors are used as RFC 5280 trust anchors (name + key): an anchor that has itself expired still
verifies the certificates it issued while it was valid (J-LIS 2015 generation, see the README
in ``mkp_core/data/jpki``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import SignatureAlgorithmOID

from mkp_core.errors import FixedCodeError

if TYPE_CHECKING:
    import os

    from mkp_core.crl import CrlStore

__all__ = [
    "Anchor",
    "CertStatus",
    "CertificateFormatError",
    "CheckResult",
    "TrustStore",
    "TrustStoreError",
    "check_certificate",
    "utc_instant",
]


class CertStatus(StrEnum):
    """Outcome of :func:`check_certificate`; the value is what CLIs and JSON show."""

    VALID = "valid"
    EXPIRED = "expired"
    NOT_YET_VALID = "not_yet_valid"
    REVOKED = "revoked"
    UNTRUSTED = "untrusted"
    CRL_STALE = "crl_stale"


class CertificateFormatError(FixedCodeError, ValueError):
    """The bytes handed in are not an X.509 certificate."""

    code = "invalid_certificate"


class TrustStoreError(FixedCodeError, ValueError):
    """Trust anchors could not be loaded (no certificate, garbage, unreadable file)."""

    code = "invalid_trust_anchors"


def utc_instant(at: datetime | None) -> datetime:
    """Return ``at`` as an aware UTC datetime (now if None); naive datetimes are refused.

    A naive datetime is ambiguous on a kiosk whose local zone is JST, so it is an error,
    not a guess.
    """
    if at is None:
        return datetime.now(UTC)
    if not isinstance(at, datetime):
        raise TypeError(f"expected a datetime, got {type(at).__name__}")
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError("naive datetime: pass an aware UTC datetime (datetime.now(UTC))")
    return at.astimezone(UTC)


def _sha256_hex(der: bytes) -> str:
    return hashlib.sha256(der).hexdigest()


def _key_usage(cert: x509.Certificate) -> x509.KeyUsage | None:
    try:
        return cert.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        return None


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        return bool(cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except x509.ExtensionNotFound:
        return False


@dataclass(frozen=True)
class Anchor:
    """One configured trust anchor: a CA certificate and its SHA-256 fingerprint (hex)."""

    certificate: x509.Certificate
    fingerprint: str

    @classmethod
    def from_certificate(cls, cert: x509.Certificate) -> Anchor:
        return cls(cert, _sha256_hex(cert.public_bytes(Encoding.DER)))

    @property
    def subject(self) -> x509.Name:
        return self.certificate.subject

    @property
    def not_before(self) -> datetime:
        return self.certificate.not_valid_before_utc

    @property
    def not_after(self) -> datetime:
        return self.certificate.not_valid_after_utc

    @property
    def key_identifier(self) -> bytes:
        """The anchor's subjectKeyIdentifier (RFC 5280 method 1 when the extension is absent)."""
        try:
            return self.certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
        except x509.ExtensionNotFound:
            return x509.SubjectKeyIdentifier.from_public_key(self.certificate.public_key()).digest  # type: ignore[arg-type]

    @property
    def can_sign_certificates(self) -> bool:
        ku = _key_usage(self.certificate)
        return ku is None or ku.key_cert_sign

    @property
    def can_sign_crls(self) -> bool:
        ku = _key_usage(self.certificate)
        return ku is None or ku.crl_sign

    def __repr__(self) -> str:
        return f"Anchor({self.subject.rfc4514_string()!r}, sha256={self.fingerprint[:16]}…)"


class TrustStore:
    """The configured CA certificates that user certificates and CRLs must be signed by."""

    def __init__(self, certificates: Iterable[x509.Certificate]) -> None:
        anchors: dict[str, Anchor] = {}
        for cert in certificates:
            anchor = Anchor.from_certificate(cert)
            anchors.setdefault(anchor.fingerprint, anchor)
        if not anchors:
            raise TrustStoreError("no trust anchor given")
        self._anchors: tuple[Anchor, ...] = tuple(anchors.values())

    @classmethod
    def from_pem(cls, data: bytes, source: str = "PEM data") -> TrustStore:
        """Load one or several concatenated PEM certificates."""
        if isinstance(data, str):
            data = data.encode("ascii", "replace")
        try:
            certs = x509.load_pem_x509_certificates(data)
        except ValueError as exc:
            raise TrustStoreError(f"{source}: no valid PEM certificate ({exc})") from None
        return cls(certs)

    @classmethod
    def from_pem_files(cls, paths: Iterable[str | os.PathLike[str]]) -> TrustStore:
        """Load anchors from PEM files (each may hold several certificates)."""
        certs: list[x509.Certificate] = []
        for path in paths:
            try:
                data = Path(path).read_bytes()
            except OSError as exc:
                raise TrustStoreError(f"{path}: cannot read trust anchor ({exc.strerror or exc})") from None
            certs.extend(cls.from_pem(data, source=str(path)).anchors_as_certificates())
        if not certs:
            raise TrustStoreError("no trust anchor file given")
        return cls(certs)

    @classmethod
    def production(cls) -> TrustStore:
        """J-LIS's real user-authentication CA certificates shipped in ``mkp_core/data/jpki``."""
        folder = resources.files("mkp_core").joinpath("data", "jpki")
        certs: list[x509.Certificate] = []
        for entry in sorted(folder.iterdir(), key=lambda e: e.name):
            if entry.name.endswith(".pem"):
                certs.extend(cls.from_pem(entry.read_bytes(), source=entry.name).anchors_as_certificates())
        if not certs:
            raise TrustStoreError("no J-LIS anchor found in mkp_core/data/jpki")
        return cls(certs)

    @property
    def anchors(self) -> tuple[Anchor, ...]:
        return self._anchors

    def anchors_as_certificates(self) -> list[x509.Certificate]:
        return [a.certificate for a in self._anchors]

    def by_fingerprint(self, fingerprint: str) -> Anchor | None:
        fingerprint = fingerprint.lower().replace(":", "")
        return next((a for a in self._anchors if a.fingerprint == fingerprint), None)

    def named(self, name: x509.Name) -> list[Anchor]:
        """Anchors whose subject DN is ``name`` (possibly several generations)."""
        return [a for a in self._anchors if a.subject == name]

    def issuer_of(self, cert: x509.Certificate) -> Anchor | None:
        """The anchor whose key verifies ``cert``'s signature, or None."""
        for anchor in self.named(cert.issuer):
            if not anchor.can_sign_certificates:
                continue
            try:
                cert.verify_directly_issued_by(anchor.certificate)
            except (InvalidSignature, ValueError, TypeError, UnsupportedAlgorithm):
                continue
            return anchor
        return None

    def issuer_of_crl(
        self, crl: x509.CertificateRevocationList, tbs: bytes | memoryview | None = None
    ) -> Anchor | None:
        """The anchor whose key verifies the CRL's signature, or None.

        ``tbs``: the tbsCertList bytes exactly as received (see :func:`_verify_crl_signature`).
        Anchors whose key identifier matches the CRL's authorityKeyIdentifier are tried first,
        so a store of several generations verifies a big CRL once; the signature alone decides.
        """
        try:
            aki = crl.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value.key_identifier
        except x509.ExtensionNotFound:
            aki = None
        candidates = sorted(self.named(crl.issuer), key=lambda a: a.key_identifier != aki)
        for anchor in candidates:
            if anchor.can_sign_crls and _verify_crl_signature(crl, anchor.certificate.public_key(), tbs):
                return anchor
        return None

    def __len__(self) -> int:
        return len(self._anchors)

    def __iter__(self) -> Iterator[Anchor]:
        return iter(self._anchors)

    def __repr__(self) -> str:
        return f"TrustStore({len(self._anchors)} anchors)"


@dataclass(frozen=True)
class CheckResult:
    """What the kiosk shows and the server logs about one certificate check."""

    status: CertStatus
    reason: str
    subject: str
    serial: int
    not_before: datetime
    not_after: datetime
    sha256: str
    issuer_fingerprint: str | None

    @property
    def ok(self) -> bool:
        return self.status is CertStatus.VALID

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form; the serial is also given in hex because JavaScript loses big ints."""
        return {
            "status": self.status.value,
            "reason": self.reason,
            "subject": self.subject,
            "serial": self.serial,
            "serial_hex": format(self.serial, "X") if self.serial >= 0 else f"-{-self.serial:X}",
            "not_before": self.not_before.isoformat(),
            "not_after": self.not_after.isoformat(),
            "sha256": self.sha256,
            "issuer_fingerprint": self.issuer_fingerprint,
        }


_RSA_PKCS1 = {
    SignatureAlgorithmOID.RSA_WITH_SHA256,
    SignatureAlgorithmOID.RSA_WITH_SHA384,
    SignatureAlgorithmOID.RSA_WITH_SHA512,
}
_ECDSA = {
    SignatureAlgorithmOID.ECDSA_WITH_SHA256,
    SignatureAlgorithmOID.ECDSA_WITH_SHA384,
    SignatureAlgorithmOID.ECDSA_WITH_SHA512,
}


def _verify_crl_signature(
    crl: x509.CertificateRevocationList, key: object, tbs: bytes | memoryview | None
) -> bool:
    """Verify a CRL's signature with ``cryptography``.

    ``crl.is_signature_valid`` re-encodes the whole tbsCertList first: for a million entries
    that is ~1 s and ~70 MB more. Given the received tbsCertList bytes, RSA PKCS#1 v1.5 (J-LIS)
    and ECDSA are verified over them directly; any other algorithm goes to the library's check.
    """
    oid, hash_alg = crl.signature_algorithm_oid, crl.signature_hash_algorithm
    try:
        if tbs is not None and oid in _RSA_PKCS1 and isinstance(key, rsa.RSAPublicKey):
            key.verify(crl.signature, tbs, padding.PKCS1v15(), hash_alg)  # type: ignore[arg-type]
        elif tbs is not None and oid in _ECDSA and isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(crl.signature, tbs, ec.ECDSA(hash_alg))  # type: ignore[arg-type]
        else:
            return crl.is_signature_valid(key)  # type: ignore[arg-type]
    except (InvalidSignature, ValueError, TypeError, UnsupportedAlgorithm):
        return False
    return True


def _parse_certificate(data: bytes) -> tuple[x509.Certificate, bytes]:
    if not isinstance(data, bytes | bytearray | memoryview):
        raise TypeError(f"certificate must be bytes, got {type(data).__name__}")
    data = bytes(data)
    if not data:
        raise CertificateFormatError("empty input, not a certificate")
    try:
        if data.lstrip().startswith(b"-----BEGIN"):
            cert = x509.load_pem_x509_certificate(data)
            return cert, cert.public_bytes(Encoding.DER)
        cert = x509.load_der_x509_certificate(data)
        # Touch the fields every check needs, so a malformed one fails here and not later.
        _ = cert.issuer.rfc4514_string(), cert.subject.rfc4514_string(), cert.serial_number
        _ = cert.not_valid_before_utc, cert.not_valid_after_utc, cert.extensions
    except (ValueError, TypeError, x509.InvalidVersion, UnsupportedAlgorithm) as exc:
        raise CertificateFormatError(f"not an X.509 certificate ({len(data)} bytes): {exc}") from None
    return cert, data


def _crl_for(anchor: Anchor, crl: CrlStore | Sequence[CrlStore] | None) -> CrlStore | None:
    if crl is None:
        return None
    stores = crl if isinstance(crl, list | tuple) else (crl,)
    matching = [s for s in stores if s.issuer_fingerprint == anchor.fingerprint]
    # Several CRLs from one anchor: the one with the highest CRL number is the current one.
    return max(matching, key=lambda s: (s.crl_number or 0, s.this_update), default=None)


def check_certificate(
    cert_der: bytes,
    trust: TrustStore,
    crl: CrlStore | Sequence[CrlStore] | None,
    at: datetime | None = None,
    crl_max_age: timedelta = timedelta(days=2),
) -> CheckResult:
    """Check a user-authentication certificate at time ``at`` (default: now).

    ``crl`` is the CRL of the certificate's CA; with several CA generations pass a list, and
    the one signed by the certificate's anchor is used. See the module docstring for the
    order of checks. Raises :class:`CertificateFormatError` for bytes that are no certificate.
    """
    when = utc_instant(at)
    cert, der = _parse_certificate(cert_der)
    subject = cert.subject.rfc4514_string()

    def result(status: CertStatus, reason: str, anchor: Anchor | None) -> CheckResult:
        return CheckResult(
            status=status,
            reason=reason,
            subject=subject,
            serial=cert.serial_number,
            not_before=cert.not_valid_before_utc,
            not_after=cert.not_valid_after_utc,
            sha256=_sha256_hex(der),
            issuer_fingerprint=anchor.fingerprint if anchor else None,
        )

    issuer_dn = cert.issuer.rfc4514_string()
    anchor = trust.issuer_of(cert)
    if anchor is None:
        same_dn = trust.named(cert.issuer)
        if same_dn:
            why = (
                f"signature does not verify with any of the {len(same_dn)} trust anchor(s) named "
                f"{issuer_dn!r} (foreign CA with the same name, or tampered certificate)"
            )
        else:
            why = f"issuer {issuer_dn!r} is not a configured trust anchor"
        return result(CertStatus.UNTRUSTED, why, None)
    if _is_ca(cert):
        return result(CertStatus.UNTRUSTED, "a CA certificate, not a user certificate", anchor)
    nb = cert.not_valid_before_utc
    if nb > anchor.not_after:
        return result(
            CertStatus.UNTRUSTED,
            f"issued {nb:%Y-%m-%d}, after its CA expired ({anchor.not_after:%Y-%m-%d})",
            anchor,
        )
    ku = _key_usage(cert)
    if ku is not None and not ku.digital_signature:
        return result(
            CertStatus.UNTRUSTED,
            "key usage does not allow digitalSignature (not a user-authentication key)",
            anchor,
        )

    if when < nb:
        return result(CertStatus.NOT_YET_VALID, f"not valid before {nb.isoformat()}", anchor)
    na = cert.not_valid_after_utc
    if when > na:
        return result(CertStatus.EXPIRED, f"expired {na.isoformat()}", anchor)

    store = _crl_for(anchor, crl)
    if store is not None and store.is_revoked(cert.serial_number):
        number = f" number {store.crl_number}" if store.crl_number is not None else ""
        return result(
            CertStatus.REVOKED,
            f"serial {cert.serial_number:X} is on the CRL{number} of {store.this_update:%Y-%m-%d %H:%M} UTC",
            anchor,
        )
    if store is None:
        return result(
            CertStatus.CRL_STALE,
            f"no CRL from the issuing CA (sha256 {anchor.fingerprint[:16]}…) is loaded",
            anchor,
        )
    stale = store.stale_reason(when, crl_max_age)
    if stale is not None:
        return result(CertStatus.CRL_STALE, stale, anchor)
    return result(CertStatus.VALID, f"valid until {na.isoformat()}, not on the CRL", anchor)
