"""A virtual card on disk: one JSON file holding keys, certificates, PIN and PIN tries.

The file is the card's chip: ``mkp-vcard insert`` writes PIN tries back to it after every
change, so a blocked card stays blocked when it is taken out and put back. It is test material
(the PIN is stored in clear), written with mode 0600.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from drivers.card.virtual.ca import TestCA
from drivers.card.virtual.card import AUTH_PIN_MAX_TRIES, SIGN_PIN_MAX_TRIES, CardData
from drivers.card.virtual.pki import CERT_YEARS, add_years, new_rsa_key, utcnow
from mkp_core.errors import FixedCodeError

FORMAT = "mkp-vcard/1"


class CardFileError(FixedCodeError):
    """The card file is missing or not a virtual card."""

    code = "invalid_card_file"


class CardSpecError(FixedCodeError, ValueError):
    """A card that cannot be made as asked (a PIN that is not 4 digits, contradictory dates).

    A ``ValueError`` too, so that a CLI can report it as a bad argument.
    """

    code = "invalid_card_spec"


def _pem_cert(der: bytes) -> str:
    return x509.load_der_x509_certificate(der).public_bytes(serialization.Encoding.PEM).decode()


def _der_cert(pem: str) -> bytes:
    return x509.load_pem_x509_certificate(pem.encode()).public_bytes(serialization.Encoding.DER)


def new_card(
    ca: TestCA, *, pin: str = "1234", expired: bool = False, not_yet_valid: bool = False
) -> CardData:
    """Make a fresh card: RSA-2048 key, a certificate from ``ca``, the PIN with 3 tries."""
    if not re.fullmatch(r"[0-9]{4}", pin):
        raise CardSpecError("the PIN must be exactly 4 digits")
    if expired and not_yet_valid:
        raise CardSpecError("a certificate cannot be both expired and not yet valid")
    key = new_rsa_key()
    now = utcnow()
    nb = na = None
    if expired:
        na = now - dt.timedelta(days=10)
        nb = add_years(na, -CERT_YEARS)
    elif not_yet_valid:
        nb = now + dt.timedelta(days=30)
        na = add_years(nb, CERT_YEARS)
    cert = ca.issue_auth_certificate(key.public_key(), not_before=nb, not_after=na)
    return CardData(
        auth_key=key,
        auth_certificate=cert.public_bytes(serialization.Encoding.DER),
        ca_certificate=ca.certificate.public_bytes(serialization.Encoding.DER),
        pin=pin,
    )


def save_card(card: CardData, path: str | os.PathLike[str]) -> None:
    """Write the card atomically (a crash never leaves half a card), mode 0600."""
    p = Path(path)
    doc = {
        "format": FORMAT,
        "note": "Virtual My Number card for tests. Test keys only; the PIN is stored in clear.",
        "pin": card.pin,
        "pin_tries_left": card.pin_tries_left,
        "sign_pin_tries_left": card.sign_pin_tries_left,
        "auth_certificate": _pem_cert(card.auth_certificate),
        "ca_certificate": _pem_cert(card.ca_certificate),
        "auth_key": card.auth_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode(),
    }
    tmp = p.with_name(p.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(doc, f, indent=2)
        f.write("\n")
    os.replace(tmp, p)


def load_card(path: str | os.PathLike[str]) -> CardData:
    """Read a card file written by :func:`save_card`."""
    p = Path(path)
    try:
        doc = json.loads(p.read_text())
    except FileNotFoundError as e:
        raise CardFileError(f"no card file at {p}") from e
    except (ValueError, UnicodeDecodeError) as e:
        raise CardFileError(f"{p} is not a virtual card file") from e
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise CardFileError(f"{p} is not a virtual card file ({FORMAT})")
    try:
        key = serialization.load_pem_private_key(doc["auth_key"].encode(), password=None)
        if not isinstance(key, rsa.RSAPrivateKey):
            raise CardFileError(f"{p}: the card key is not RSA")
        return CardData(
            auth_key=key,
            auth_certificate=_der_cert(doc["auth_certificate"]),
            ca_certificate=_der_cert(doc["ca_certificate"]),
            pin=str(doc["pin"]),
            pin_tries_left=max(0, min(AUTH_PIN_MAX_TRIES, int(doc["pin_tries_left"]))),
            sign_pin_tries_left=max(0, min(SIGN_PIN_MAX_TRIES, int(doc["sign_pin_tries_left"]))),
        )
    except (KeyError, TypeError, ValueError) as e:
        raise CardFileError(f"{p}: damaged card file ({e})") from e
