"""Card proofs: a My Number card's signature over a server challenge, bound to what it consents to.

The MyKey Platform's credential is the card itself: its user-authentication certificate and a
signature by the card's key, made after the holder's PIN, over a fresh one-time challenge that
the server issued. What the card signs is not the bare challenge but a small canonical document
naming the *purpose* (register, lookup, link ...) and the *action* it consents to (link A1 to
789; move my MyKey ID to the certificate with this SHA-256), so a signature made for one thing
can never be replayed for another, even within the challenge's lifetime.

The card signs SHA-256 with RSA PKCS#1 v1.5 (JPKI); :func:`verify_card_signature` checks it the
same way on the kiosk and the server.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from mkp_core.errors import FixedCodeError

#: Domain of the signed document: a card signature made for anything else never verifies here.
DOMAIN = "mkp-card-proof/1"

# Purposes: what a challenge is issued for and a proof is accepted for.
REGISTER = "register"
CHANGE_ID = "change-id"
SHOW = "show"
LINK = "link"
UNLINK = "unlink"
RENEW = "renew"
SUSPEND = "suspend"
LOOKUP = "lookup"
CONFIRM_LINK = "confirm-link"
SPEND = "spend"
BALANCE = "balance"
REFUND = "refund"
#: A resident turns points into a paper voucher at a street-office terminal.
VOUCHER = "voucher"
#: A spend taken while the server could not be reached: the card signs the transaction itself
#: (the challenge is the transaction's client id, which the ledger takes once).
OFFLINE_SPEND = "offline-spend"
# Partner points: link a partner member number, see conversions on hold, redeem a
# coupon code (at home or at a kiosk), set the home municipality converted points go to.
PARTNER_LINK = "partner-link"
CONVERSIONS = "conversions"
COUPON = "coupon"
HOME = "home"
# A resident's own points at a terminal, without the office: to an event's pool, for a special
# reward, to their linked transit card. The card signs what and how much.
SUPPORT = "support"
REWARD = "reward"
TRANSIT = "transit"
# My Page: a kiosk prints an activation code for the card's holder; at home, the holder's own
# reader asks for a one-time login link. The card signs the request's client id.
MYPAGE_CODE = "mypage-code"
MYPAGE_LOGIN = "mypage-login"
#: Purposes a holder asks for at home (no terminal); the rest only a terminal may ask for.
HOLDER_PURPOSES = (
    REGISTER,
    CHANGE_ID,
    SHOW,
    LINK,
    UNLINK,
    RENEW,
    SUSPEND,
    PARTNER_LINK,
    CONVERSIONS,
    COUPON,
    HOME,
    MYPAGE_LOGIN,
)
TERMINAL_PURPOSES = (
    LOOKUP,
    CONFIRM_LINK,
    SPEND,
    BALANCE,
    REFUND,
    VOUCHER,
    COUPON,
    SUPPORT,
    REWARD,
    TRANSIT,
    MYPAGE_CODE,
)
PURPOSES = HOLDER_PURPOSES + TERMINAL_PURPOSES + (OFFLINE_SPEND,)

#: Largest certificate accepted (a JPKI user certificate is about 1.5 kB).
MAX_CERTIFICATE_BYTES = 8192
MAX_SIGNATURE_BYTES = 1024


# What the card consents to, per purpose: both sides build the signed action with these.


def register_action(chosen_id: str | None, home_municipality: str | None) -> dict[str, str]:
    return {"mykey_id": chosen_id or "", "home_municipality": home_municipality or ""}


def change_id_action(new_id: str) -> dict[str, str]:
    return {"new_id": new_id}


def link_action(service: str, local_id: str) -> dict[str, str]:
    return {"service": service, "local_id": local_id}


def service_action(service: str) -> dict[str, str]:
    """Unlink from a service; a lookup or a link confirmation at one of its terminals."""
    return {"service": service}


def renew_by_old_card_action(other_certificate_sha256: str) -> dict[str, str]:
    """Each card of a renewal names the other card's certificate (both sign one challenge)."""
    return {"by": "old-card", "other_certificate": other_certificate_sha256}


def renew_by_code_action() -> dict[str, str]:
    return {"by": "renewal-code"}


def spend_action(
    client_id: str,
    place: str,
    amount: int | None,
    item: str | None = None,
    quantity: int = 1,
    point_code: str | None = None,
) -> dict[str, str]:
    """A spend at ``place``, online or offline: the card consents to this one transaction."""
    return {
        "client_id": client_id,
        "place": place,
        "amount": "" if amount is None else str(amount),
        "item": item or "",
        "quantity": str(quantity),
        "point_code": point_code or "",
    }


def refund_action(transfer_id: int, client_id: str) -> dict[str, str]:
    return {"transfer": str(transfer_id), "client_id": client_id}


def voucher_action(client_id: str, amount: int, point_code: str | None) -> dict[str, str]:
    """A paper voucher of ``amount`` points (of ``point_code``, or the place's own) for this card's holder."""
    return {"client_id": client_id, "amount": str(amount), "point_code": point_code or ""}


def partner_link_action(partner: str, member: str) -> dict[str, str]:
    """Ask to link partner ``partner``'s member number ``member`` to this card's MyKey ID (the
    partner confirms it with the one-time link code the request gives: ``mkp_core.link_code``)."""
    return {"partner": partner, "member": member}


def coupon_action(code: str, destination: str | None) -> dict[str, str]:
    """Redeem coupon ``code`` (as typed) into ``destination`` (else the home municipality)."""
    return {"code": code, "destination": destination or ""}


def home_action(municipality: str | None) -> dict[str, str]:
    return {"home_municipality": municipality or ""}


def support_action(client_id: str, point_code: str, amount: int, nickname: str | None) -> dict[str, str]:
    """``amount`` of the holder's ``point_code`` points to that event's pool (shown as ``nickname``)."""
    return {
        "client_id": client_id,
        "point_code": point_code,
        "amount": str(amount),
        "nickname": nickname or "",
    }


def reward_action(client_id: str, reward: str, points: int) -> dict[str, str]:
    """One of special reward ``reward``, for ``points`` of the holder's points (its price)."""
    return {"client_id": client_id, "reward": reward, "points": str(points)}


def transit_action(client_id: str, place: str, amount: int, point_code: str | None) -> dict[str, str]:
    """``amount`` points to the transit card the holder linked at ``place``'s transit company."""
    return {"client_id": client_id, "place": place, "amount": str(amount), "point_code": point_code or ""}


def mypage_action(client_id: str) -> dict[str, str]:
    """A My Page activation code (at a kiosk) or login link (at home) for this card's holder."""
    return {"client_id": client_id}


class CardProofError(FixedCodeError):
    """A card proof that cannot even be read (bad base64, oversized)."""

    code = "invalid_card_proof"


def card_message(purpose: str, challenge: str, action: Mapping[str, str] | None = None) -> bytes:
    """The exact bytes a card signs for ``purpose`` over ``challenge``, consenting to ``action``."""
    document = {"domain": DOMAIN, "purpose": purpose, "challenge": challenge, "action": dict(action or {})}
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def verify_card_signature(cert_der: bytes, message: bytes, signature: bytes) -> bool:
    """True if ``signature`` is the certificate key's SHA256-RSA-PKCS1 signature of ``message``."""
    try:
        key = x509.load_der_x509_certificate(cert_der).public_key()
    except ValueError:
        return False
    if not isinstance(key, rsa.RSAPublicKey):
        return False
    try:
        key.verify(signature, message, padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        return False
    return True


def certificate_sha256(cert_der: bytes) -> str:
    """How a card's certificate is named everywhere: the SHA-256 of its DER, lowercase hex."""
    return hashlib.sha256(cert_der).hexdigest()


@dataclass(frozen=True)
class CardProof:
    """A certificate, the challenge it answered and the card's signature, as sent on the wire."""

    certificate: bytes
    challenge: str
    signature: bytes

    def to_wire(self) -> dict[str, str]:
        return {
            "certificate": base64.b64encode(self.certificate).decode(),
            "challenge": self.challenge,
            "signature": base64.b64encode(self.signature).decode(),
        }

    @classmethod
    def from_wire(cls, data: Mapping[str, Any]) -> CardProof:
        """Decode a proof's base64 fields; :class:`CardProofError` for anything unreadable."""
        certificate = _b64(data.get("certificate"), "certificate", MAX_CERTIFICATE_BYTES)
        signature = _b64(data.get("signature"), "signature", MAX_SIGNATURE_BYTES)
        challenge = data.get("challenge")
        if not isinstance(challenge, str) or not challenge:
            raise CardProofError("the card proof has no challenge")
        return cls(certificate, challenge, signature)

    @property
    def certificate_sha256(self) -> str:
        return certificate_sha256(self.certificate)

    def verifies(self, purpose: str, action: Mapping[str, str] | None = None) -> bool:
        """True if the card signed this challenge for ``purpose`` and ``action``."""
        return verify_card_signature(
            self.certificate, card_message(purpose, self.challenge, action), self.signature
        )


def _b64(value: object, what: str, limit: int) -> bytes:
    if not isinstance(value, str) or not value:
        raise CardProofError(f"the card proof's {what} is missing")
    if len(value) > limit * 4 // 3 + 4:
        raise CardProofError(f"the card proof's {what} is larger than {limit} bytes")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise CardProofError(f"the card proof's {what} is not base64") from None
