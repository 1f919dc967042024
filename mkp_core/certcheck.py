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
   notBefore a little before the CA's own is tolerated: issuers backdate for clock skew).
   Trust goes first because the dates and serial of an untrusted certificate mean nothing.
2b. ``wrong_key_usage`` — signed by the anchor, but its key usage is present and lacks
   digitalSignature: not a user-authentication key (the key cannot sign challenges).
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

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Protocol

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.serialization import Encoding

from mkp_core.errors import FixedCodeError
from mkp_core.trust import Anchor, TrustStore, key_usage, sha256_hex, utc_instant

__all__ = [
    "REFUSAL_CODES",
    "CertStatus",
    "CertificateFormatError",
    "CheckResult",
    "RevocationList",
    "check_certificate",
]


class RevocationList(Protocol):
    """What :func:`check_certificate` asks of a CRL; :class:`mkp_core.crl.CrlStore` is one.

    A protocol rather than an import keeps certcheck and crl independent of each other: both
    stand on :mod:`mkp_core.trust`.
    """

    @property
    def issuer_fingerprint(self) -> str: ...

    @property
    def crl_number(self) -> int | None: ...

    @property
    def this_update(self) -> datetime: ...

    def is_revoked(self, serial: int) -> bool: ...

    def stale_reason(self, at: datetime | None = None, max_age: timedelta = ...) -> str | None: ...


class CertStatus(StrEnum):
    """Outcome of :func:`check_certificate`; the value is what CLIs and JSON show."""

    VALID = "valid"
    EXPIRED = "expired"
    NOT_YET_VALID = "not_yet_valid"
    REVOKED = "revoked"
    UNTRUSTED = "untrusted"
    WRONG_KEY_USAGE = "wrong_key_usage"
    CRL_STALE = "crl_stale"


#: The error code a certificate is refused with, by status, wherever a card is turned away for it
#: (the server's card proofs, the kiosk's own check before it asks the server).
REFUSAL_CODES: dict[CertStatus, str] = {
    CertStatus.UNTRUSTED: "certificate_untrusted",
    CertStatus.WRONG_KEY_USAGE: "not_user_auth_certificate",
    CertStatus.EXPIRED: "certificate_expired",
    CertStatus.NOT_YET_VALID: "certificate_not_yet_valid",
    CertStatus.REVOKED: "certificate_revoked",
    CertStatus.CRL_STALE: "crl_stale",
}


class CertificateFormatError(FixedCodeError, ValueError):
    """The bytes handed in are not an X.509 certificate."""

    code = "invalid_certificate"


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        return bool(cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except x509.ExtensionNotFound:
        return False


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


def _crl_for(anchor: Anchor, crl: RevocationList | Sequence[RevocationList] | None) -> RevocationList | None:
    if crl is None:
        return None
    stores = crl if isinstance(crl, list | tuple) else (crl,)
    matching = [s for s in stores if s.issuer_fingerprint == anchor.fingerprint]
    # Several CRLs from one anchor: the one with the highest CRL number is the current one.
    return max(matching, key=lambda s: (s.crl_number or 0, s.this_update), default=None)


@dataclass(frozen=True)
class _Examined:
    """What a certificate is against one trust store, whatever the time and the CRL: its fields,
    its anchor, and the refusal that no clock or CRL can change (``static``), if any."""

    subject: str
    serial: int
    not_before: datetime
    not_after: datetime
    sha256: str
    anchor: Anchor | None
    static: tuple[CertStatus, str] | None


#: Certificates examined lately, per trust store: a card shown again (a lookup at every visit) is
#: not parsed and its CA signature not verified again. Keyed by the exact bytes received.
_EXAMINED: dict[tuple[tuple[str, ...], bytes], _Examined] = {}
_EXAMINED_MAX = 4096


def _examine(cert_der: bytes, trust: TrustStore) -> _Examined:
    key = (trust.identity, bytes(cert_der))
    found = _EXAMINED.get(key)
    if found is not None:
        return found
    cert, der = _parse_certificate(cert_der)
    examined = _examine_parsed(cert, der, trust)
    if len(_EXAMINED) >= _EXAMINED_MAX:
        _EXAMINED.pop(next(iter(_EXAMINED)))
    _EXAMINED[key] = examined
    return examined


def _examine_parsed(cert: x509.Certificate, der: bytes, trust: TrustStore) -> _Examined:
    issuer = cert.issuer
    anchor = trust.issuer_of(cert)
    nb = cert.not_valid_before_utc
    static: tuple[CertStatus, str] | None = None
    if anchor is None:
        issuer_dn = issuer.rfc4514_string()
        same_dn = trust.named(issuer)
        if same_dn:
            why = (
                f"signature does not verify with any of the {len(same_dn)} trust anchor(s) named "
                f"{issuer_dn!r} (foreign CA with the same name, or tampered certificate)"
            )
        else:
            why = f"issuer {issuer_dn!r} is not a configured trust anchor"
        static = (CertStatus.UNTRUSTED, why)
    elif _is_ca(cert):
        static = (CertStatus.UNTRUSTED, "a CA certificate, not a user certificate")
    elif nb > anchor.not_after:
        static = (
            CertStatus.UNTRUSTED,
            f"issued {nb:%Y-%m-%d}, after its CA expired ({anchor.not_after:%Y-%m-%d})",
        )
    elif (ku := key_usage(cert)) is not None and not ku.digital_signature:
        static = (
            CertStatus.WRONG_KEY_USAGE,
            "key usage does not allow digitalSignature (not a user-authentication key)",
        )
    return _Examined(
        subject=cert.subject.rfc4514_string(),
        serial=cert.serial_number,
        not_before=nb,
        not_after=cert.not_valid_after_utc,
        sha256=sha256_hex(der),
        anchor=anchor,
        static=static,
    )


def check_certificate(
    cert_der: bytes,
    trust: TrustStore,
    crl: RevocationList | Sequence[RevocationList] | None,
    at: datetime | None = None,
    crl_max_age: timedelta = timedelta(days=2),
) -> CheckResult:
    """Check a user-authentication certificate at time ``at`` (default: now).

    ``crl`` is the CRL of the certificate's CA; with several CA generations pass a list, and
    the one signed by the certificate's anchor is used. See the module docstring for the
    order of checks. Raises :class:`CertificateFormatError` for bytes that are no certificate.
    """
    when = utc_instant(at)
    e = _examine(cert_der, trust)
    anchor = e.anchor

    def result(status: CertStatus, reason: str) -> CheckResult:
        return CheckResult(
            status=status,
            reason=reason,
            subject=e.subject,
            serial=e.serial,
            not_before=e.not_before,
            not_after=e.not_after,
            sha256=e.sha256,
            issuer_fingerprint=anchor.fingerprint if anchor else None,
        )

    if e.static is not None or anchor is None:
        status, reason = e.static or (CertStatus.UNTRUSTED, "no anchor")
        return result(status, reason)
    if when < e.not_before:
        return result(CertStatus.NOT_YET_VALID, f"not valid before {e.not_before.isoformat()}")
    if when > e.not_after:
        return result(CertStatus.EXPIRED, f"expired {e.not_after.isoformat()}")

    store = _crl_for(anchor, crl)
    if store is not None and store.is_revoked(e.serial):
        number = f" number {store.crl_number}" if store.crl_number is not None else ""
        return result(
            CertStatus.REVOKED,
            f"serial {e.serial:X} is on the CRL{number} of {store.this_update:%Y-%m-%d %H:%M} UTC",
        )
    if store is None:
        return result(
            CertStatus.CRL_STALE, f"no CRL from the issuing CA (sha256 {anchor.fingerprint[:16]}…) is loaded"
        )
    stale = store.stale_reason(when, crl_max_age)
    if stale is not None:
        return result(CertStatus.CRL_STALE, stale)
    return result(CertStatus.VALID, f"valid until {e.not_after.isoformat()}, not on the CRL")
