"""The virtual My Number card: the JPKI applet as a pure APDU state machine (no I/O).

It answers the commands a real card's JPKI application answers, with the same status words, so
the PC/SC stack, our JPKI client and OpenSC's own ``jpki`` driver can be exercised without a
real card. What lives on the card (keys, certificates, PIN and its tries) is a
:class:`CardData`; whoever serves the card (``vpcd.py``) persists it when ``on_change`` fires,
so PIN tries survive removal and reinsertion like on a real chip.

Only the JPKI application holds data. The other applications of a real card (card face,
card-face input helper, resident registry) are present as empty DFs, and every SELECT is
recorded in :attr:`VirtualMyNumberCard.selected_aids`, so tests can prove that the agent never
selects them.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from dataclasses import dataclass, field

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

JPKI_ATR = bytes.fromhex("3BE000FF8131FE4514")
JPKI_AID = bytes.fromhex("D392F000260100000001")
# Other applications of a real card. We never put data behind them; they exist so that a stray
# SELECT would succeed and show up in the log.
OTHER_AIDS = {
    bytes.fromhex("D3921000310001010408"): "card-face input helper AP",
    bytes.fromhex("D3921000310001010402"): "card-face AP",
    bytes.fromhex("D3921000310001010100"): "resident registry AP",
}
TOKEN_INFO = b"JPKIAPICCTOKEN2".ljust(32, b" ")

EF_TOKEN = 0x0006
EF_AUTH_CERT = 0x000A
EF_AUTH_CA_CERT = 0x000B
EF_AUTH_KEY = 0x0017
EF_AUTH_PIN = 0x0018
EF_SIGN_CERT = 0x0001
EF_SIGN_CA_CERT = 0x0002
EF_SIGN_KEY = 0x001A
EF_SIGN_PIN = 0x001B

AUTH_PIN_MAX_TRIES = 3
SIGN_PIN_MAX_TRIES = 5
CERT_EF_SIZE = 0x0800  # the EF is larger than the certificate; the rest is filler
FILLER = b"\xff"

SW_OK = 0x9000
SW_EOF = 0x6282
SW_WRONG_LENGTH = 0x6700
SW_INCOMPATIBLE_FILE = 0x6981
SW_SECURITY = 0x6982
SW_BLOCKED = 0x6983
SW_NOT_ALLOWED = 0x6986
SW_FILE_NOT_FOUND = 0x6A82
SW_WRONG_P1P2 = 0x6A86
SW_WRONG_OFFSET = 0x6B00
SW_INS = 0x6D00
SW_CLA = 0x6E00


@dataclass
class CardData:
    """Everything stored on one card: keys, certificates, PINs and their remaining tries."""

    auth_key: rsa.RSAPrivateKey
    auth_certificate: bytes  # DER
    ca_certificate: bytes  # DER
    pin: str
    pin_tries_left: int = AUTH_PIN_MAX_TRIES
    # The virtual card carries no signature certificate; its signing password never verifies,
    # but it keeps and reports its own try counter like a real card.
    sign_pin_tries_left: int = SIGN_PIN_MAX_TRIES


def _sw(sw: int, data: bytes = b"") -> bytes:
    return data + sw.to_bytes(2, "big")


@dataclass
class _Apdu:
    cla: int
    ins: int
    p1: int
    p2: int
    data: bytes
    le: int | None  # None: no Le field; 256 for Le=00


def parse_short_apdu(raw: bytes) -> _Apdu | None:
    """Parse an ISO 7816-4 short APDU (cases 1-4); None if malformed or extended."""
    if len(raw) < 4:
        return None
    cla, ins, p1, p2 = raw[:4]
    body = raw[4:]
    if not body:
        return _Apdu(cla, ins, p1, p2, b"", None)
    if len(body) == 1:
        return _Apdu(cla, ins, p1, p2, b"", body[0] or 256)
    lc = body[0]
    if lc == 0:
        return None  # extended length: not supported by this card
    if len(body) == 1 + lc:
        return _Apdu(cla, ins, p1, p2, body[1:], None)
    if len(body) == 2 + lc:
        return _Apdu(cla, ins, p1, p2, body[1:-1], body[-1] or 256)
    return None


# DigestInfo prefix for SHA-256 (RFC 8017, section 9.2, note 1)
_SHA256_DIGESTINFO = bytes.fromhex("3031300d060960864801650304020105000420")


def _emsa_pkcs1_v15(data: bytes, k: int) -> bytes | None:
    if len(data) > k - 11:
        return None
    return b"\x00\x01" + b"\xff" * (k - 3 - len(data)) + b"\x00" + data


@dataclass
class _Pin:
    ef: int
    max_tries: int


_PINS = {
    EF_AUTH_PIN: _Pin(EF_AUTH_PIN, AUTH_PIN_MAX_TRIES),
    EF_SIGN_PIN: _Pin(EF_SIGN_PIN, SIGN_PIN_MAX_TRIES),
}
_KEYS = {EF_AUTH_KEY: EF_AUTH_PIN, EF_SIGN_KEY: EF_SIGN_PIN}
_SIGN_GUARDED = {EF_SIGN_CERT, EF_SIGN_CA_CERT}


@dataclass
class VirtualMyNumberCard:
    """A My Number card's JPKI application answering APDUs. Pure: no sockets, no files."""

    data: CardData
    on_change: Callable[[CardData], None] | None = None
    atr: bytes = JPKI_ATR
    selected_aids: list[bytes] = field(default_factory=list)
    commands: list[tuple[int, int, int, int]] = field(default_factory=list)
    _app: bytes | None = None
    _ef: int | None = None
    _verified: set[int] = field(default_factory=set)

    # -- power -----------------------------------------------------------------------------
    def power_on(self) -> None:
        """Cold start: MF selected, no PIN verified."""
        self.reset()

    def power_off(self) -> None:
        """Power lost: all volatile state goes."""
        self.reset()

    def reset(self) -> None:
        """Warm reset: MF selected, no PIN verified (the PIN counters are non-volatile)."""
        self._app = None
        self._ef = None
        self._verified.clear()

    # -- files -----------------------------------------------------------------------------
    def _ef_content(self, ef: int) -> bytes | None:
        if ef == EF_TOKEN:
            return TOKEN_INFO
        if ef == EF_AUTH_CERT:
            return self.data.auth_certificate.ljust(CERT_EF_SIZE, FILLER)
        if ef == EF_AUTH_CA_CERT:
            return self.data.ca_certificate.ljust(CERT_EF_SIZE, FILLER)
        if ef in _SIGN_GUARDED:
            return FILLER * CERT_EF_SIZE
        return None

    def _ef_exists(self, ef: int) -> bool:
        return self._app == JPKI_AID and (ef in _PINS or ef in _KEYS or self._ef_content(ef) is not None)

    # -- dispatcher ------------------------------------------------------------------------
    def process(self, raw: bytes) -> bytes:
        """Answer one command APDU with a response APDU (data + SW1 SW2)."""
        apdu = parse_short_apdu(raw)
        if apdu is None:
            return _sw(SW_WRONG_LENGTH)
        self.commands.append((apdu.cla, apdu.ins, apdu.p1, apdu.p2))
        del self.commands[:-1000]
        handlers = {
            0xA4: (0x00, self._select),
            0xB0: (0x00, self._read_binary),
            0x20: (0x00, self._verify),
            0x2A: (0x80, self._sign),
        }
        if apdu.ins not in handlers:
            return _sw(SW_INS)
        cla, handler = handlers[apdu.ins]
        if apdu.cla != cla:
            return _sw(SW_CLA)
        return handler(apdu)

    def _select(self, apdu: _Apdu) -> bytes:
        if apdu.p1 == 0x04:
            if apdu.p2 != 0x0C:
                return _sw(SW_WRONG_P1P2)
            if not apdu.data:
                return _sw(SW_WRONG_LENGTH)
            self.selected_aids.append(apdu.data)
            if apdu.data != JPKI_AID and apdu.data not in OTHER_AIDS:
                return _sw(SW_FILE_NOT_FOUND)
            if apdu.data != self._app:
                self._verified.clear()  # security status belongs to the application left
            self._app = apdu.data
            self._ef = None
            return _sw(SW_OK)
        if apdu.p1 == 0x02:
            if apdu.p2 != 0x0C:
                return _sw(SW_WRONG_P1P2)
            if len(apdu.data) != 2:
                return _sw(SW_WRONG_LENGTH)
            ef = int.from_bytes(apdu.data, "big")
            if not self._ef_exists(ef):
                return _sw(SW_FILE_NOT_FOUND)
            self._ef = ef
            return _sw(SW_OK)
        return _sw(SW_WRONG_P1P2)

    def _read_binary(self, apdu: _Apdu) -> bytes:
        if apdu.p1 & 0x80:
            return _sw(SW_WRONG_P1P2)  # short-EF addressing is not offered
        if apdu.data:
            return _sw(SW_WRONG_LENGTH)
        if self._ef is None:
            return _sw(SW_NOT_ALLOWED)
        if self._ef in _SIGN_GUARDED and EF_SIGN_PIN not in self._verified:
            return _sw(SW_SECURITY)
        content = self._ef_content(self._ef)
        if content is None:
            return _sw(SW_INCOMPATIBLE_FILE)  # keys and PINs are not readable
        offset = (apdu.p1 << 8) | apdu.p2
        if offset >= len(content):
            return _sw(SW_WRONG_OFFSET)
        want = apdu.le if apdu.le is not None else 256
        chunk = content[offset : offset + want]
        return _sw(SW_OK if len(chunk) == want else SW_EOF, chunk)

    def _tries(self, ef: int) -> int:
        return self.data.pin_tries_left if ef == EF_AUTH_PIN else self.data.sign_pin_tries_left

    def _set_tries(self, ef: int, tries: int) -> None:
        if tries == self._tries(ef):
            return
        if ef == EF_AUTH_PIN:
            self.data.pin_tries_left = tries
        else:
            self.data.sign_pin_tries_left = tries
        if self.on_change is not None:
            self.on_change(self.data)

    def _verify(self, apdu: _Apdu) -> bytes:
        if apdu.p1 != 0x00 or apdu.p2 != 0x80:
            return _sw(SW_WRONG_P1P2)
        if self._ef not in _PINS:
            return _sw(SW_NOT_ALLOWED)
        ef = self._ef
        tries = self._tries(ef)
        if not apdu.data:  # status query: tries left, or 9000 if already verified
            if ef in self._verified:
                return _sw(SW_OK)
            return _sw(0x63C0 | tries)
        if tries == 0:
            return _sw(SW_BLOCKED)
        expected = self.data.pin.encode("ascii") if ef == EF_AUTH_PIN else None
        if expected is not None and hmac.compare_digest(apdu.data, expected):
            self._set_tries(ef, _PINS[ef].max_tries)
            self._verified.add(ef)
            return _sw(SW_OK)
        self._verified.discard(ef)
        self._set_tries(ef, tries - 1)
        return _sw(0x63C0 | (tries - 1))

    def _sign(self, apdu: _Apdu) -> bytes:
        if apdu.p1 != 0x00 or apdu.p2 != 0x80:
            return _sw(SW_WRONG_P1P2)
        if self._ef not in _KEYS:
            return _sw(SW_NOT_ALLOWED)
        if _KEYS[self._ef] not in self._verified:
            return _sw(SW_SECURITY)
        if self._ef != EF_AUTH_KEY:
            return _sw(SW_SECURITY)  # no signing key on the virtual card
        key = self.data.auth_key
        k = key.key_size // 8
        em = _emsa_pkcs1_v15(apdu.data, k) if apdu.data else None
        if em is None:
            return _sw(SW_WRONG_LENGTH)
        if len(apdu.data) == len(_SHA256_DIGESTINFO) + 32 and apdu.data.startswith(_SHA256_DIGESTINFO):
            # The usual case, a SHA-256 DigestInfo: the very same PKCS#1 v1.5 signature (it is
            # deterministic), made by OpenSSL in a fraction of the time of Python's pow().
            digest = apdu.data[len(_SHA256_DIGESTINFO) :]
            return _sw(SW_OK, key.sign(digest, padding.PKCS1v15(), Prehashed(hashes.SHA256())))
        priv = key.private_numbers()
        pub = priv.public_numbers
        m = int.from_bytes(em, "big")
        # RSA with the CRT: s = m^d mod n
        s1 = pow(m, priv.dmp1, priv.p)
        s2 = pow(m, priv.dmq1, priv.q)
        h = (priv.iqmp * (s1 - s2)) % priv.p
        s = s2 + h * priv.q
        assert pow(s, pub.e, pub.n) == m
        return _sw(SW_OK, s.to_bytes(k, "big"))


@dataclass
class NonJpkiCard:
    """A smart card without the JPKI application (a bank or transit card, say).

    It answers ``6A82`` to every SELECT, like any card asked for an application it lacks.
    """

    atr: bytes = bytes.fromhex("3B8F8001804F0CA000000306030001000000006A")
    commands: list[bytes] = field(default_factory=list)

    def power_on(self) -> None:
        """Nothing volatile to clear."""

    def power_off(self) -> None:
        """Nothing volatile to clear."""

    def reset(self) -> None:
        """Nothing volatile to clear."""

    def process(self, raw: bytes) -> bytes:
        """Refuse every application and file; unknown instructions get 6D00."""
        self.commands.append(raw)
        apdu = parse_short_apdu(raw)
        if apdu is None:
            return _sw(SW_WRONG_LENGTH)
        if apdu.ins == 0xA4:
            return _sw(SW_FILE_NOT_FOUND)
        if apdu.ins == 0xB0:
            return _sw(SW_NOT_ALLOWED)
        return _sw(SW_INS)
