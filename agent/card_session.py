"""The agent's card session: read the card's certificate, check it, and optionally prove the PIN.

Knows no hardware beyond :class:`drivers.card.reader.ReaderBackend`; the CLI and the counter UI
both call :func:`run_card_session`.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from drivers.card.jpki import JpkiCard, check_pin_format
from drivers.card.reader import ReaderBackend
from mkp_core.cardproof import CardProof, card_message, verify_card_signature
from mkp_core.certcheck import REFUSAL_CODES, CertStatus, CheckResult, check_certificate
from mkp_core.crl import CrlStore
from mkp_core.errors import Forbidden
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


@dataclass
class ProvingCard:
    """A card in the reader whose PIN was verified: it answers server challenges (card proofs)."""

    card: JpkiCard
    reader: str
    certificate: bytes

    def prove(self, purpose: str, challenge: str, action: Mapping[str, str] | None = None) -> CardProof:
        """The card's signature over ``challenge`` for ``purpose``, consenting to ``action``."""
        signature = self.card.sign(card_message(purpose, challenge, action))
        return CardProof(self.certificate, challenge, signature)


def check_card_locally(
    card: ProvingCard, trust: TrustStore, crls: Sequence[CrlStore], at: datetime | None = None
) -> None:
    """The terminal's own check of the card (the trust list and CRLs it downloaded) before it asks
    the server: a card the kiosk knows is bad is refused at once (:class:`Forbidden`, the
    certificate's refusal code). A stale local CRL is left to the server, which has a fresh one.

    The counter and ``mkp-agent mykey`` both call it before a card proof goes out.
    """
    result = check_certificate(card.certificate, trust, crls, at=at)
    if result.status not in (CertStatus.VALID, CertStatus.CRL_STALE):
        raise Forbidden(
            REFUSAL_CODES[result.status], f"the card's certificate cannot be used: {result.reason}"
        )


@contextmanager
def proving_card(backend: ReaderBackend, pin: str, reader: str | None = None) -> Iterator[ProvingCard]:
    """Open the card in ``reader``, read its certificate and verify ``pin``; the card stays open
    (and the PIN verified) until the block ends, so it can answer challenges fetched meanwhile.

    A malformed PIN is refused before the reader is opened: no try is spent on it.
    """
    check_pin_format(pin)
    with backend.connect(reader) as channel:
        card = JpkiCard(channel)
        card.identify()
        certificate = card.read_auth_certificate()
        card.verify_pin(pin)
        yield ProvingCard(card, channel.reader, certificate)
