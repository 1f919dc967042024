"""Paper point vouchers: a signed payload small enough for a QR code, checked offline.

A voucher is a receipt whose QR code carries everything a shop needs to accept it without the
network: which points (point code), how many (amount, an integer), when it was issued and until
when it is good, an unguessable serial, and the id of the server's voucher key that signed it.
A terminal verifies it with the voucher keys of its trust list (a :class:`~mkp_core.keyring.KeyRing`);
the server alone decides whether the serial was already used.

The text in the QR code is ``MKP1:`` followed by the payload in Base45 (RFC 9285, as the EU
Digital COVID Certificate does): every Base45 character is in the QR code's alphanumeric mode,
which packs 11 bits per 2 characters, so the code stays small (version 9 at error correction Q
for the longest point code; the tests hold it to version 10). The payload, big-endian::

    offset size
       0     1  version (1)
       1     4  key id: first 4 bytes of SHA-256 of the signing key's raw public key
       5    10  serial: 80 random bits
      15     4  issued, Unix seconds (unsigned)
      19     4  expires, Unix seconds (unsigned): the voucher is good while now < expires
      23     4  amount, points (unsigned, 1 .. 1,000,000,000)
      27     1  n: length of the point code (6 .. 23)
      28     n  point code, ASCII ("142018" or "142018-FEST2026")
    28+n    64  Ed25519 signature over b"mkp voucher v1\\0" + bytes 0 .. 28+n

Ed25519: one fixed algorithm with no parameters to get wrong, 64-byte signatures, and the same
key type as the release keys, so one key ring type serves both. The context prefix keeps a
voucher signature from meaning anything anywhere else.

Decoding never trusts the text: every refusal is a :class:`VoucherError` whose ``code`` says
what was wrong, checked cheapest first (length, characters, prefix, layout, key, signature,
fields, time), so 10 kB of junk costs one comparison and nothing malformed reaches the crypto.
"""

from __future__ import annotations

import base64
import re
import secrets
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import base45
from cryptography.hazmat.primitives.asymmetric import ed25519

from mkp_core import ids
from mkp_core.errors import FixedCodeError
from mkp_core.keyring import KeyRing, KeyRingError, RingKey, key_id_bytes, key_id_of
from mkp_core.trust import utc_instant

__all__ = [
    "JST",
    "MAX_TEXT_LENGTH",
    "PREFIX",
    "SERIAL_BYTES",
    "KeyRing",
    "RingKey",
    "Voucher",
    "VoucherError",
    "decode_voucher",
    "encode_voucher",
    "format_serial",
    "generate_voucher_key",
    "issue_voucher",
    "new_serial",
    "parse_serial",
    "ring_of_trust_list",
]

PREFIX = "MKP1:"
VERSION = 1
SERIAL_BYTES = 10
SIGNATURE_BYTES = 64
MIN_POINT_CODE, MAX_POINT_CODE = 6, 23
#: Clocks of kiosks drift: a voucher issued up to this long "in the future" is still accepted.
DEFAULT_LEEWAY = timedelta(minutes=5)
#: Japan's time, in which a voucher's last valid day is printed.
JST = timezone(timedelta(hours=9), "JST")

_CONTEXT = b"mkp voucher v1\x00"
_HEADER = struct.Struct(">B4s10sIIIB")  # version, key id, serial, issued, expires, amount, n


def _base45_length(n_bytes: int) -> int:
    """Characters Base45 makes of ``n_bytes``: 3 per 2 bytes, 2 for an odd last byte."""
    return 3 * (n_bytes // 2) + 2 * (n_bytes % 2)


_HEADER_CHARS = _base45_length(_HEADER.size)  # 28 bytes: exactly 42 characters
#: The longest voucher text there is (point code of 23 characters); anything longer is refused unread.
MAX_TEXT_LENGTH = len(PREFIX) + _base45_length(_HEADER.size + MAX_POINT_CODE + SIGNATURE_BYTES)

_BASE45_TEXT = re.compile(r"[0-9A-Z $%*+\-./:]*")
_NOT_BASE45 = re.compile(r"[^0-9A-Z $%*+\-./:]")
_LOWER = re.compile(r"[a-z]")
_OTHER_WHITESPACE = re.compile(r"[^\S ]")  # whitespace other than the space Base45 uses
_OTHER_VERSION = re.compile(r"MKP[0-9]{1,3}:")

# Serials: 80 bits in Crockford's Base32 (digits and capitals without I, L, O, U), 16 characters
# shown as 4 groups of 4. The standard library's RFC 4648 Base32 does the arithmetic; only the
# alphabet differs, so the text is translated character for character.
_RFC4648 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_TO_CROCKFORD = str.maketrans(_RFC4648, _CROCKFORD)
_FROM_CROCKFORD = str.maketrans(_CROCKFORD, _RFC4648)
_TYPED_ALIASES = str.maketrans({"O": "0", "I": "1", "L": "1"})  # what people misread, as Crockford says
_SERIAL_CHARS = 16


# --- errors -------------------------------------------------------------------------------------


class VoucherError(FixedCodeError):
    """A voucher text that is refused; subclasses name the reason by ``code``.

    ``voucher`` is set when the signature did verify and only its key's service time or the
    clock refused it (retired key, expired, not yet valid), so a caller can show which voucher.
    """

    code = "invalid_voucher"

    def __init__(self, message: str, *, voucher: Voucher | None = None) -> None:
        super().__init__(message)
        self.voucher = voucher


class NotAVoucher(VoucherError):
    code = "not_a_voucher"


class VoucherTooLong(VoucherError):
    code = "voucher_too_long"


class VoucherWhitespace(VoucherError):
    code = "voucher_whitespace"


class VoucherLowercase(VoucherError):
    code = "voucher_lowercase"


class VoucherEncodingError(VoucherError):
    code = "voucher_encoding"


class VoucherTruncated(VoucherError):
    code = "voucher_truncated"


class VoucherVersionError(VoucherError):
    code = "voucher_version"


class VoucherMalformed(VoucherError):
    code = "voucher_malformed"


class VoucherUnknownKey(VoucherError):
    code = "voucher_unknown_key"


class VoucherKeyWithdrawn(VoucherError):
    code = "voucher_key_withdrawn"


class VoucherKeyRetired(VoucherError):
    code = "voucher_key_retired"


class VoucherBeforeKey(VoucherError):
    code = "voucher_before_key"


class VoucherBadSignature(VoucherError):
    code = "voucher_bad_signature"


class VoucherExpired(VoucherError):
    code = "voucher_expired"


class VoucherNotYetValid(VoucherError):
    code = "voucher_not_yet_valid"


class VoucherSerialError(VoucherError):
    code = "invalid_voucher_serial"


# --- serials ------------------------------------------------------------------------------------


def new_serial() -> bytes:
    """80 random bits: a serial nobody can guess, so a typed-in serial proves the paper was seen."""
    return secrets.token_bytes(SERIAL_BYTES)


def format_serial(serial: bytes) -> str:
    """The serial as printed and read aloud: ``7K3M-Q9XD-2RWB-F0TE`` (Crockford Base32)."""
    if len(serial) != SERIAL_BYTES:
        raise VoucherSerialError(f"a voucher serial is {SERIAL_BYTES} bytes, not {len(serial)}")
    text = base64.b32encode(serial).decode("ascii").translate(_TO_CROCKFORD)
    return "-".join(text[i : i + 4] for i in range(0, _SERIAL_CHARS, 4))


def parse_serial(text: str) -> bytes:
    """A serial as people type it (any case, spaces or dashes, O for 0, I or L for 1) as bytes."""
    raw = "".join(ch for ch in text.upper() if not ch.isspace() and ch != "-").translate(_TYPED_ALIASES)
    if len(raw) != _SERIAL_CHARS or any(ch not in _CROCKFORD for ch in raw):
        raise VoucherSerialError(
            f"{text!r} is not a voucher serial: 16 letters and digits, e.g. 7K3M-Q9XD-2RWB-F0TE"
        )
    return base64.b32decode(raw.translate(_FROM_CROCKFORD))


# --- the voucher --------------------------------------------------------------------------------


def _aware_whole_seconds(name: str, at: datetime) -> datetime:
    if at.tzinfo is None or at.utcoffset() is None:
        raise VoucherMalformed(f"voucher {name} must be an aware datetime (UTC), not a naive one")
    if at.microsecond:
        raise VoucherMalformed(f"voucher {name} must be a whole second (the payload carries seconds)")
    stamp = int(at.timestamp())
    if not 0 < stamp < 2**32:
        raise VoucherMalformed(f"voucher {name} {at.isoformat()} is outside 1970-2106")
    return at.astimezone(UTC)


@dataclass(frozen=True)
class Voucher:
    """What a voucher says, once its signature has been checked (or before it is signed)."""

    serial: bytes
    point_code: str
    amount: int
    issued: datetime
    expires: datetime
    key_id: str
    version: int = VERSION

    def __post_init__(self) -> None:
        if self.version != VERSION:
            raise VoucherVersionError(
                f"voucher version {self.version} is not known (this mkp knows {VERSION})"
            )
        if not isinstance(self.serial, bytes) or len(self.serial) != SERIAL_BYTES:
            raise VoucherMalformed(f"a voucher serial is {SERIAL_BYTES} bytes")
        try:
            ids.validate_point_code(self.point_code)
        except ids.InvalidId as exc:
            raise VoucherMalformed(f"voucher point code: {exc.message}") from None
        if type(self.amount) is not int or not 1 <= self.amount <= ids.MAX_AMOUNT:
            raise VoucherMalformed(
                f"voucher amount must be a whole number of points, 1 to {ids.MAX_AMOUNT:,}, not {self.amount!r}"
            )
        object.__setattr__(self, "issued", _aware_whole_seconds("issued", self.issued))
        object.__setattr__(self, "expires", _aware_whole_seconds("expires", self.expires))
        if self.expires <= self.issued:
            raise VoucherMalformed(
                f"voucher expires {self.expires.isoformat()} is not after issued {self.issued.isoformat()}"
            )
        try:
            key_id_bytes(self.key_id)
        except KeyRingError as exc:
            raise VoucherMalformed(f"voucher {exc.message}") from None

    @property
    def serial_text(self) -> str:
        """The serial in its printed, grouped form."""
        return format_serial(self.serial)

    @property
    def last_valid_day(self) -> date:
        """The last day, in Japan, on which the voucher can be used: what the receipt prints."""
        return (self.expires - timedelta(seconds=1)).astimezone(JST).date()

    def signed_bytes(self) -> bytes:
        """The payload without its signature: what the key signs (after the context prefix)."""
        code = self.point_code.encode("ascii")
        header = _HEADER.pack(
            self.version,
            key_id_bytes(self.key_id),
            self.serial,
            int(self.issued.timestamp()),
            int(self.expires.timestamp()),
            self.amount,
            len(code),
        )
        return header + code


# --- signing (the server) -----------------------------------------------------------------------


def generate_voucher_key() -> ed25519.Ed25519PrivateKey:
    """A new voucher signing key; its public half goes into the terminals' trust list."""
    return ed25519.Ed25519PrivateKey.generate()


def encode_voucher(voucher: Voucher, key: ed25519.Ed25519PrivateKey) -> str:
    """Sign ``voucher`` with ``key`` and return the QR text ``MKP1:...``.

    The voucher must name this key's id, so a voucher can never claim a key that did not sign it.
    """
    if voucher.key_id != key_id_of(key.public_key()):
        raise VoucherMalformed(
            f"voucher names key {voucher.key_id}, but is being signed with key {key_id_of(key.public_key())}"
        )
    signed = voucher.signed_bytes()
    encoded: bytes = base45.b45encode(signed + key.sign(_CONTEXT + signed))
    return PREFIX + encoded.decode("ascii")


def issue_voucher(
    key: ed25519.Ed25519PrivateKey,
    *,
    point_code: str,
    amount: int,
    expires: datetime,
    issued: datetime | None = None,
    serial: bytes | None = None,
) -> tuple[Voucher, str]:
    """A new voucher (fresh serial, issued now unless given) and its signed QR text.

    Times are cut to whole seconds (issued down, expires down), as the payload carries them.
    """
    voucher = Voucher(
        serial=new_serial() if serial is None else serial,
        point_code=point_code,
        amount=amount,
        issued=(datetime.now(UTC) if issued is None else issued).replace(microsecond=0),
        expires=expires.replace(microsecond=0),
        key_id=key_id_of(key.public_key()),
    )
    return voucher, encode_voucher(voucher, key)


# --- verifying (terminals, the server, phones) --------------------------------------------------


def decode_voucher(
    text: str | bytes,
    ring: KeyRing,
    *,
    now: datetime | None = None,
    leeway: timedelta = DEFAULT_LEEWAY,
) -> Voucher:
    """The voucher ``text`` carries, if a key of ``ring`` signed it and it is good ``now``.

    Offline: nothing but ``ring`` and the clock is consulted. Whether the serial was used
    already is for the server (or the offline queue) to say. Raises a :class:`VoucherError`.
    """
    body = _base45_text(text)
    payload = _payload(body)
    signed, signature = payload[:-SIGNATURE_BYTES], payload[-SIGNATURE_BYTES:]
    key = _ring_key(ring, signed[1:5].hex())
    if not key.verifies(signature, _CONTEXT + signed):
        raise VoucherBadSignature(
            f"voucher signature does not verify with key {key.key_id}: the text was altered or misread"
        )
    voucher = _fields(signed)
    if key.retired is not None and voucher.issued >= key.retired:
        raise VoucherKeyRetired(
            f"voucher {voucher.serial_text} claims to be issued {voucher.issued:%Y-%m-%d %H:%M} UTC, "
            f"after its key {key.key_id} was retired ({key.retired:%Y-%m-%d %H:%M} UTC)",
            voucher=voucher,
        )
    if key.valid_from is not None and voucher.issued < key.valid_from.replace(microsecond=0):
        raise VoucherBeforeKey(
            f"voucher {voucher.serial_text} claims to be issued {voucher.issued:%Y-%m-%d %H:%M} UTC, "
            f"before its key {key.key_id} signed anything ({key.valid_from:%Y-%m-%d %H:%M} UTC)",
            voucher=voucher,
        )
    _check_time(voucher, utc_instant(now), leeway)
    return voucher


def ring_of_trust_list(trust_list: Mapping[str, Any]) -> KeyRing:
    """The voucher keys of a terminal's downloaded trust list (``voucher_keys``) as a key ring.

    What ``mkp-agent voucher verify`` checks offline with; an empty ring (a trust list from a
    server before vouchers) verifies nothing, and says so as ``voucher_unknown_key``.
    """
    doc = trust_list.get("voucher_keys") or {"keys": [], "withdrawn": []}
    return KeyRing.from_dict(doc)


def _base45_text(text: str | bytes) -> str:
    """The Base45 part of a voucher text, after the checks that need no decoding."""
    if isinstance(text, bytes):
        if len(text) > MAX_TEXT_LENGTH:
            raise VoucherTooLong(f"{len(text)} bytes: a voucher is at most {MAX_TEXT_LENGTH} characters")
        try:
            text = text.decode("ascii")
        except UnicodeDecodeError:
            raise VoucherEncodingError("voucher text must be ASCII (QR alphanumeric mode)") from None
    if len(text) > MAX_TEXT_LENGTH:
        raise VoucherTooLong(f"{len(text)} characters: a voucher is at most {MAX_TEXT_LENGTH}")
    if not text:
        raise NotAVoucher("empty text: not a voucher")
    # A voucher never starts with whitespace and has no whitespace but Base45's space; trailing
    # spaces are told apart from a truncation by the layout (see _payload).
    if text[0].isspace() or _OTHER_WHITESPACE.search(text):
        raise VoucherWhitespace(
            "voucher text has whitespace around it or a tab or line break in it: pass the scanned text as it is"
        )
    if not text.startswith(PREFIX):
        _wrong_prefix(text)
    body = text[len(PREFIX) :]
    if _LOWER.search(body):
        raise VoucherLowercase("voucher text has lower-case letters: a voucher is all capitals, as scanned")
    if not _BASE45_TEXT.fullmatch(body):
        bad = _NOT_BASE45.search(body)
        assert bad is not None
        raise VoucherEncodingError(
            f"character {bad.group()!r} at position {len(PREFIX) + bad.start()} is not Base45"
        )
    return body


def _wrong_prefix(text: str) -> None:
    """Raise the reason ``text`` does not start with ``MKP1:``."""
    prefix = _OTHER_VERSION.match(text[:8].upper())
    if prefix is None:
        raise NotAVoucher(f"not a voucher: a voucher starts with {PREFIX}")
    if text[: prefix.end()] != prefix.group():
        raise VoucherLowercase(
            f"voucher prefix {text[: prefix.end()]!r} is in lower case: a voucher starts with {PREFIX}"
        )
    raise VoucherVersionError(
        f"{prefix.group()[:-1]} vouchers are not known to this version of mkp (it reads {PREFIX[:-1]})"
    )


def _payload(body: str) -> bytes:
    """Decode the Base45 text, checking its length against the layout the header announces."""
    if len(body) < _HEADER_CHARS:
        raise VoucherTruncated(f"voucher text is cut short ({len(PREFIX) + len(body)} characters)")
    header = _unbase45(body[:_HEADER_CHARS])
    version, n = header[0], header[-1]
    if version != VERSION:
        raise VoucherVersionError(
            f"voucher version {version} is not known (this mkp reads version {VERSION})"
        )
    if not MIN_POINT_CODE <= n <= MAX_POINT_CODE:
        raise VoucherMalformed(f"voucher point code length {n} is not {MIN_POINT_CODE}-{MAX_POINT_CODE}")
    expected = _base45_length(_HEADER.size + n + SIGNATURE_BYTES)
    if len(body) < expected:
        raise VoucherTruncated(
            f"voucher text is cut short: {len(PREFIX) + len(body)} of {len(PREFIX) + expected} characters"
        )
    if len(body) > expected and not body[expected:].strip(" "):
        raise VoucherWhitespace("voucher text has spaces after its end: pass the scanned text as it is")
    if len(body) > expected:
        raise VoucherTooLong(
            f"voucher text has {len(body) - expected} characters more than its layout ({len(PREFIX) + expected})"
        )
    return _unbase45(body)


def _unbase45(body: str) -> bytes:
    try:
        data: bytes = base45.b45decode(body)
    except ValueError:
        raise VoucherEncodingError("voucher text is not valid Base45 (a character was misread?)") from None
    return data


def _ring_key(ring: KeyRing, key_id: str) -> RingKey:
    if ring.is_withdrawn(key_id):
        raise VoucherKeyWithdrawn(f"voucher key {key_id} was withdrawn: its vouchers are not accepted")
    key = ring.get(key_id)
    if key is None:
        raise VoucherUnknownKey(
            f"voucher key {key_id} is not in this terminal's trust list (refresh it: mkp-agent sync)"
        )
    return key


def _fields(signed: bytes) -> Voucher:
    _version, key_id, serial, issued, expires, amount, n = _HEADER.unpack_from(signed)
    code = signed[_HEADER.size : _HEADER.size + n]
    if not code.isascii():
        raise VoucherMalformed("voucher point code is not ASCII")
    return Voucher(
        serial=serial,
        point_code=code.decode("ascii"),
        amount=amount,
        issued=datetime.fromtimestamp(issued, UTC),
        expires=datetime.fromtimestamp(expires, UTC),
        key_id=key_id.hex(),
    )


def _check_time(voucher: Voucher, now: datetime, leeway: timedelta) -> None:
    if now + leeway < voucher.issued:
        raise VoucherNotYetValid(
            f"voucher {voucher.serial_text} is issued {voucher.issued:%Y-%m-%d %H:%M} UTC, "
            f"later than this terminal's clock ({now:%Y-%m-%d %H:%M} UTC): check the clock",
            voucher=voucher,
        )
    if now >= voucher.expires:
        raise VoucherExpired(
            f"voucher {voucher.serial_text} expired on {voucher.last_valid_day:%Y-%m-%d} "
            f"(good until {voucher.expires.astimezone(JST):%Y-%m-%d %H:%M} JST)",
            voucher=voucher,
        )
