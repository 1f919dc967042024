"""The agent's card session: read the card's certificate, check it, and optionally prove the PIN.

Knows no hardware beyond :class:`drivers.card.reader.ReaderBackend`; the CLI and the counter UI
both call :func:`run_card_session`.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from drivers.card.jpki import JpkiCard, check_pin_format
from drivers.card.reader import ReaderBackend
from mkp_core.certcheck import CertStatus, CheckResult, check_certificate
from mkp_core.crl import CrlStore
from mkp_core.trust import TrustStore

SIGNATURE_INVALID = "signature_invalid"


@dataclass
class CardSessionResult:
    """What one card session found; ``result`` is ``valid`` only if everything checked out."""

    reader: str
    atr: str
    certificate: bytes
    check: CheckResult
    pin_tries_left: int | None = None
    signature_ok: bool | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def result(self) -> str:
        if self.signature_ok is False:
            return SIGNATURE_INVALID
        return self.check.status.value

    @property
    def valid(self) -> bool:
        return self.check.status is CertStatus.VALID and self.signature_ok is not False

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "reader": self.reader,
            "atr": self.atr,
            "result": self.result,
            "certificate": self.check.to_dict(),
        }
        if self.pin_tries_left is not None:
            d["pin_tries_left"] = self.pin_tries_left
        if self.signature_ok is not None:
            d["signature_test"] = "ok" if self.signature_ok else "failed"
        return d


def verify_card_signature(cert_der: bytes, message: bytes, signature: bytes) -> bool:
    """True if ``signature`` is the certificate key's SHA256-RSA-PKCS1 signature of ``message``."""
    key = x509.load_der_x509_certificate(cert_der).public_key()
    if not isinstance(key, rsa.RSAPublicKey):
        return False
    try:
        key.verify(signature, message, padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        return False
    return True


def load_trust(anchor_files: Sequence[str | os.PathLike[str]] | None) -> TrustStore:
    """Trust anchors from PEM files, or J-LIS's production anchors when none are given."""
    if anchor_files:
        return TrustStore.from_pem_files(anchor_files)
    return TrustStore.production()


def load_crls(crl_files: Sequence[str | os.PathLike[str]], trust: TrustStore) -> list[CrlStore]:
    """Load and verify CRLs (PEM or DER) against ``trust``."""
    return [CrlStore.from_file(p, trust) for p in crl_files]


def run_card_session(
    backend: ReaderBackend,
    trust: TrustStore,
    crls: Sequence[CrlStore] | CrlStore | None,
    *,
    reader: str | None = None,
    pin: str | None = None,
    challenge: bytes | None = None,
    at: datetime | None = None,
) -> CardSessionResult:
    """Read and check the certificate; with ``pin``, verify it and have the card sign a challenge.

    A malformed PIN is refused before the reader is even opened, so no try is ever spent on it.
    Card and reader failures propagate as :class:`drivers.card.reader.CardError`.
    """
    if pin is not None:
        check_pin_format(pin)
    crl_arg = list(crls) if isinstance(crls, list | tuple) else crls
    with backend.connect(reader) as channel:
        card = JpkiCard(channel)
        card.identify()
        cert = card.read_auth_certificate()
        check = check_certificate(cert, trust, crl_arg, at=at)
        out = CardSessionResult(
            reader=channel.reader, atr=channel.atr.hex().upper(), certificate=cert, check=check
        )
        if pin is not None:
            out.pin_tries_left = card.pin_tries_left()
            card.verify_pin(pin)
            message = challenge if challenge is not None else secrets.token_bytes(32)
            signature = card.sign(message)
            out.signature_ok = verify_card_signature(cert, message, signature)
        return out
