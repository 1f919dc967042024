"""A card proof checked as the platform's credential: certificate, signature, one-time challenge.

``prove`` is the only door into the MyKey Platform for a card. In order, each failure refusing
the request with its own code and changing nothing:

1. the challenge is one this server issued for this purpose and caller (its MAC), not expired;
2. the certificate chains to a configured JPKI anchor, is valid now, allows digital signatures
   and is not on the current CRL (a stale CRL refuses every card: revocation data is required);
3. the card's signature covers the challenge, the purpose and the action;
4. the challenge was not answered before (its row is deleted here, in the caller's transaction).

What comes out identifies the certificate (issuer, serial, SHA-256) and nothing about the person.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Connection

from mkp_core.cardproof import CardProof
from mkp_core.certcheck import REFUSAL_CODES, CertificateFormatError, CertStatus, check_certificate
from mkp_core.errors import Forbidden, MkpError, Unauthorized
from mkp_core.trust import TrustStore
from server.platform.crls.service import CurrentCrls
from server.platform.mykey import challenges


class CardRefused(Forbidden):
    """The card's certificate cannot be used (untrusted, expired, revoked, wrong kind)."""


class CrlUnavailable(MkpError):
    """The server holds no current CRL: no card can be checked until the operator imports one."""

    kind = "unavailable"


@dataclass(frozen=True)
class Card:
    """A certificate the card proved it holds the key of."""

    sha256: str
    issuer_fingerprint: str
    serial: str  # upper-case hex
    not_after: datetime
    expired: bool = False


@dataclass(frozen=True)
class CardCheck:
    """What checking a card needs from the server: anchors, CRLs, the challenge key, limits."""

    trust: TrustStore
    crls: CurrentCrls
    challenge_key: bytes
    crl_max_age: timedelta = timedelta(hours=48)


def prove(
    conn: Connection,
    check: CardCheck,
    proof: CardProof,
    purpose: str,
    action: Mapping[str, str] | None = None,
    terminal_id: str | None = None,
    allow_expired: bool = False,
    now: datetime | None = None,
    spend: bool = True,
    challenge: bool = True,
) -> Card:
    """Check ``proof`` for ``purpose`` and ``action`` and spend its challenge; see the module docstring.

    ``allow_expired``: an expired certificate still proves its key (the old card's consent to a
    renewal, when it is renewed because it expired); revocation and trust still count.
    ``spend=False``: a second card answering the same challenge (a renewal); the first spends it.
    ``challenge=False``: the proof answers no server challenge, steps 1 and 4 are left out; only
    for a caller whose own replay guard is the ledger's client id (an offline spend signs its
    client id; a repeat of a spend already taken gets its first answer).
    """
    now = now or datetime.now(UTC)
    if challenge:
        challenges.verify(check.challenge_key, proof.challenge, purpose, terminal_id, now)
    card = _certificate(conn, check, proof.certificate, allow_expired, now)
    if not proof.verifies(purpose, action):
        raise Unauthorized(
            "bad_card_signature", "the card's signature does not cover this challenge and request"
        )
    if spend and challenge:
        challenges.spend(conn, proof.challenge)
    return card


def _certificate(conn: Connection, check: CardCheck, der: bytes, allow_expired: bool, now: datetime) -> Card:
    try:
        result = check_certificate(
            der, check.trust, check.crls.stores(conn), at=now, crl_max_age=check.crl_max_age
        )
    except CertificateFormatError as e:
        raise MkpError("invalid_certificate", e.message) from None
    expired = result.status is CertStatus.EXPIRED
    if result.status is CertStatus.CRL_STALE:
        raise CrlUnavailable(
            "crl_stale", f"the server has no current CRL to check cards against ({result.reason})"
        )
    if result.status is not CertStatus.VALID and not (expired and allow_expired):
        code = REFUSAL_CODES[result.status]
        raise CardRefused(code, f"the card's certificate cannot be used: {result.reason}")
    if expired:  # an expired certificate was checked for revocation only if the CRL is current
        _require_not_revoked(conn, check, result.serial, result.issuer_fingerprint, now)
    assert result.issuer_fingerprint is not None  # a trusted certificate has its anchor
    return Card(
        sha256=result.sha256,
        issuer_fingerprint=result.issuer_fingerprint,
        serial=format(result.serial, "X"),
        not_after=result.not_after,
        expired=expired,
    )


def _require_not_revoked(
    conn: Connection, check: CardCheck, serial: int, issuer: str | None, now: datetime
) -> None:
    store = next((s for s in check.crls.stores(conn) if s.issuer_fingerprint == issuer), None)
    if store is None or store.stale_reason(now, check.crl_max_age) is not None:
        raise CrlUnavailable("crl_stale", "the server has no current CRL to check cards against")
    if store.is_revoked(serial):
        raise CardRefused("certificate_revoked", f"serial {serial:X} is on the CRL")
