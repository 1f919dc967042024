"""JPKI client: the user-authentication certificate, PIN and signature of a My Number card.

It speaks only to the JPKI application (AID ``D3 92 F0 00 26 01 00 00 00 01``) and only to its
user-authentication files. It never selects any other application, so the Individual Number and
the card-face data are never read. Every status word maps to an error from
:mod:`drivers.card.reader`.
"""

from __future__ import annotations

import hashlib
import re

from drivers.card.reader import (
    CardChannel,
    CardCommandError,
    InvalidPinFormatError,
    NotMyNumberCardError,
    PinBlockedError,
    PinRequiredError,
    WrongPinError,
)

JPKI_AID = bytes.fromhex("D392F000260100000001")
EF_TOKEN = 0x0006
EF_AUTH_CERT = 0x000A
EF_AUTH_CA_CERT = 0x000B
EF_AUTH_KEY = 0x0017
EF_AUTH_PIN = 0x0018
AUTH_PIN_MAX_TRIES = 3
TOKEN_PREFIX = b"JPKIAPICCTOKEN"
# DigestInfo prefix for SHA-256 (RFC 8017, section 9.2, note 1)
SHA256_DIGESTINFO_PREFIX = bytes.fromhex("3031300d060960864801650304020105000420")
MAX_CERT_LEN = 0x4000
_CHUNK = 256  # Le = 00

SW_OK = 0x9000
SW_EOF = 0x6282
_BLOCKED = {0x63C0, 0x6983, 0x6984}


def check_pin_format(pin: str) -> bytes:
    """Return the PIN as the card wants it (4 ASCII digits); refuse anything else before the card sees it."""
    if not isinstance(pin, str) or not re.fullmatch(r"[0-9]{4}", pin):
        raise InvalidPinFormatError("the PIN must be exactly 4 digits (0-9); nothing was sent to the card")
    return pin.encode("ascii")


def _der_length(head: bytes) -> int:
    """Total length of the DER SEQUENCE starting ``head`` (tag + length + content)."""
    if len(head) < 2 or head[0] != 0x30:
        raise CardCommandError("reading the certificate (not a DER certificate)", SW_OK)
    first = head[1]
    if first < 0x80:
        return 2 + first
    n = first & 0x7F
    if n == 0 or n > 3 or len(head) < 2 + n:
        raise CardCommandError("reading the certificate (bad DER length)", SW_OK)
    return 2 + n + int.from_bytes(head[2 : 2 + n], "big")


class JpkiCard:
    """The JPKI application of the card on ``channel``.

    The constructor sends nothing; :meth:`identify` (called by every operation on first use)
    selects the application and checks its token EF, which is how a My Number card is told
    apart from other cards: not by its ATR.
    """

    def __init__(self, channel: CardChannel) -> None:
        self.channel = channel
        self._identified = False

    # -- plumbing ------------------------------------------------------------------------
    def _select_ef(self, ef: int, what: str) -> None:
        _, sw = self.channel.transmit(bytes([0x00, 0xA4, 0x02, 0x0C, 0x02]) + ef.to_bytes(2, "big"))
        if sw != SW_OK:
            raise CardCommandError(f"selecting the {what} file", sw)

    def _read(self, offset: int, length: int, what: str) -> bytes:
        le = 0 if length >= 256 else length
        apdu = bytes([0x00, 0xB0, (offset >> 8) & 0x7F, offset & 0xFF, le])
        data, sw = self.channel.transmit(apdu)
        if sw == 0x6982:
            raise PinRequiredError(f"reading the {what} needs a verified PIN")
        if sw not in (SW_OK, SW_EOF):
            raise CardCommandError(f"reading the {what}", sw)
        return data

    # -- public --------------------------------------------------------------------------
    def identify(self) -> str:
        """Select the JPKI application and read its token info; return the token label.

        Raises :class:`NotMyNumberCardError` if the card has no JPKI application.
        """
        data, sw = self.channel.transmit(bytes([0x00, 0xA4, 0x04, 0x0C, len(JPKI_AID)]) + JPKI_AID)
        if sw != SW_OK:
            raise NotMyNumberCardError(
                f"this card is not a My Number card (no JPKI application; card answered {sw:04X})"
            )
        try:
            self._select_ef(EF_TOKEN, "token information")
            token = self._read(0, 0x20, "token information")
        except CardCommandError as e:
            raise NotMyNumberCardError(f"this card is not a My Number card ({e})") from e
        if not token.startswith(TOKEN_PREFIX):
            raise NotMyNumberCardError("this card is not a My Number card (unexpected JPKI token)")
        self._identified = True
        return token.rstrip(b" \x00\xff").decode("ascii", "replace")

    def _ensure(self) -> None:
        if not self._identified:
            self.identify()

    def _read_certificate(self, ef: int, what: str) -> bytes:
        self._ensure()
        self._select_ef(ef, what)
        first = self._read(0, _CHUNK, what)
        total = _der_length(first)
        if total > MAX_CERT_LEN:
            raise CardCommandError(f"reading the {what} (length {total} too large)", SW_OK)
        out = bytearray(first[:total])
        while len(out) < total:
            chunk = self._read(len(out), min(_CHUNK, total - len(out)), what)
            if not chunk:
                raise CardCommandError(f"reading the {what} (file ends early)", SW_EOF)
            out += chunk
        return bytes(out[:total])

    def read_auth_certificate(self) -> bytes:
        """The user-authentication certificate (DER). Needs no PIN."""
        return self._read_certificate(EF_AUTH_CERT, "user-authentication certificate")

    def read_auth_ca_certificate(self) -> bytes:
        """The certificate of the CA that issued the user-authentication certificate (DER)."""
        return self._read_certificate(EF_AUTH_CA_CERT, "user-authentication CA certificate")

    def pin_tries_left(self) -> int:
        """Tries left for the user-authentication PIN (0 = blocked). Spends no try."""
        self._ensure()
        self._select_ef(EF_AUTH_PIN, "PIN")
        _, sw = self.channel.transmit(bytes([0x00, 0x20, 0x00, 0x80]))
        if sw == SW_OK:  # already verified in this card session
            return AUTH_PIN_MAX_TRIES
        if sw in _BLOCKED:
            return 0
        if sw >> 4 == 0x63C:
            return sw & 0x0F
        raise CardCommandError("asking for the PIN tries left", sw)

    def verify_pin(self, pin: str) -> None:
        """Verify the 4-digit user-authentication PIN.

        Raises :class:`InvalidPinFormatError` (nothing sent), :class:`WrongPinError` (with tries
        left) or :class:`PinBlockedError`.
        """
        data = check_pin_format(pin)
        self._ensure()
        self._select_ef(EF_AUTH_PIN, "PIN")
        _, sw = self.channel.transmit(bytes([0x00, 0x20, 0x00, 0x80, len(data)]) + data)
        if sw == SW_OK:
            return
        if sw in _BLOCKED:
            raise PinBlockedError()
        if sw >> 4 == 0x63C:
            raise WrongPinError(sw & 0x0F)
        raise CardCommandError("verifying the PIN", sw)

    def sign_digest(self, digest: bytes) -> bytes:
        """RSA PKCS#1 v1.5 signature of a SHA-256 digest with the user-authentication key."""
        if len(digest) != 32:
            raise ValueError("a SHA-256 digest is 32 bytes")
        self._ensure()
        self._select_ef(EF_AUTH_KEY, "user-authentication key")
        info = SHA256_DIGESTINFO_PREFIX + digest
        sig, sw = self.channel.transmit(bytes([0x80, 0x2A, 0x00, 0x80, len(info)]) + info + b"\x00")
        if sw == 0x6982:
            raise PinRequiredError("the card signs only after the PIN was verified")
        if sw in (0x6983, 0x6984):
            raise PinBlockedError()
        if sw != SW_OK:
            raise CardCommandError("signing", sw)
        return sig

    def sign(self, message: bytes) -> bytes:
        """Sign ``message`` (SHA-256 with RSA PKCS#1 v1.5), e.g. a server challenge."""
        return self.sign_digest(hashlib.sha256(message).digest())
