"""Trust anchors: the CA certificates that user certificates and CRLs must be signed by.

Both :mod:`mkp_core.certcheck` (is this card's certificate good?) and :mod:`mkp_core.crl` (is
this CRL genuine?) start from the same question, "which configured anchor signed this?", so it
is answered here, once, and neither of them imports the other.

Anchors are RFC 5280 trust anchors (name + key). Several J-LIS CA generations share one subject
DN, so the signer is found by *signature* among the anchors of that name, never by name alone.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import SignatureAlgorithmOID

from mkp_core.errors import FixedCodeError

__all__ = ["Anchor", "TrustStore", "TrustStoreError", "key_usage", "sha256_hex", "utc_instant"]


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


def sha256_hex(der: bytes) -> str:
    """The SHA-256 of DER bytes in lowercase hex: how anchors and certificates are named in JSON."""
    return hashlib.sha256(der).hexdigest()


def key_usage(cert: x509.Certificate) -> x509.KeyUsage | None:
    """The certificate's keyUsage extension, or None when it has none (then any use is allowed)."""
    try:
        return cert.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        return None


@dataclass(frozen=True)
class Anchor:
    """One configured trust anchor: a CA certificate and its SHA-256 fingerprint (hex)."""

    certificate: x509.Certificate
    fingerprint: str

    @classmethod
    def from_certificate(cls, cert: x509.Certificate) -> Anchor:
        return cls(cert, sha256_hex(cert.public_bytes(Encoding.DER)))

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
            return x509.SubjectKeyIdentifier.from_public_key(self.certificate.public_key()).digest

    @property
    def can_sign_certificates(self) -> bool:
        ku = key_usage(self.certificate)
        return ku is None or ku.key_cert_sign

    @property
    def can_sign_crls(self) -> bool:
        ku = key_usage(self.certificate)
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
        #: Names the set of anchors: two stores of the same anchors trust the same certificates.
        self.identity: tuple[str, ...] = tuple(sorted(anchors))

    @classmethod
    def from_pem(cls, data: bytes | str, source: str = "PEM data") -> TrustStore:
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
