"""Coupon codes a partner hands its members: 16 random characters and one check character.

A code reads ``7KQ2-M9XD-H4TR-PZ3E-W``: sixteen characters of Crockford's Base32 alphabet
(``0-9 A-Z`` without ``I L O U``; 5 bits each, so 80 random bits: a guess is right once in 2**80)
in groups of four for reading aloud, then the check character. Typed input is forgiving the way
Crockford's is: case, spaces and hyphens do not matter, ``O`` reads as ``0`` and ``I``/``L`` as ``1``.

The check: read the 17 symbols as elements of the field GF(32) (polynomial x^5 + x^2 + 1) and
require ``sum(a**(16-k) * d_k) == 0`` with ``a = x`` (the value 2). Why it catches what it must:

* one symbol changed from ``d`` to ``e`` moves the sum by ``a**j * (d - e)``: a product of two
  non-zero field elements, never zero, so every single-character typo is caught;
* two neighbours ``d, e`` (d != e) swapped move it by ``(d - e) * (a**(j+1) - a**j)
  = (d - e) * a**j * (a - 1)``: non-zero too, as ``a != 1``; so every adjacent swap is caught,
  including the last random character with the check character.

This is the weighted-sum check of ISBN-10 (mod 11) carried to a field of 32 elements, i.e. a
Damm-style scheme over the quasigroup ``x * y = a*x + y``, which is totally anti-symmetric because
``a != 1`` (Damm 2004). ``tests/test_coupon_codec.py`` checks both claims over 10,000 codes.
"""

from __future__ import annotations

import hashlib
import secrets

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
RANDOM_CHARS = 16
LENGTH = RANDOM_CHARS + 1
GROUP = 4
_VALUE = {ch: i for i, ch in enumerate(ALPHABET)}
_VALUE.update({"O": 0, "I": 1, "L": 1})
_POLY = 0b100101  # x^5 + x^2 + 1, primitive
_A = 2


def _times_a(v: int) -> int:
    """``v * a`` in GF(32), a = x."""
    v <<= 1
    return v ^ _POLY if v & 0b100000 else v


_TIMES_A = [_times_a(v) for v in range(32)]


def _syndrome(values: list[int]) -> int:
    """Horner's rule: ``sum(a**(n-1-k) * values[k])`` in GF(32) (addition is XOR)."""
    r = 0
    times_a = _TIMES_A
    for v in values:
        r = times_a[r] ^ v
    return r


def check_char(random_part: str) -> str:
    """The check character of 16 alphabet characters (the one that makes the sum zero)."""
    return ALPHABET[_syndrome([_VALUE[c] for c in random_part] + [0])]


def new_code() -> str:
    """A fresh code, normalised (17 characters, no hyphens)."""
    body = "".join(secrets.choice(ALPHABET) for _ in range(RANDOM_CHARS))
    return body + check_char(body)


def new_codes(count: int) -> list[str]:
    """``count`` fresh codes; one call to the OS's random source for the lot (fast for a batch)."""
    raw = secrets.token_bytes(count * 10)  # 80 bits a code
    codes = []
    for i in range(count):
        n = int.from_bytes(raw[i * 10 : i * 10 + 10], "big")
        body = "".join(ALPHABET[(n >> (5 * k)) & 31] for k in range(RANDOM_CHARS - 1, -1, -1))
        codes.append(body + check_char(body))
    return codes


def pretty(code: str) -> str:
    """``XXXX-XXXX-XXXX-XXXX-C``: groups of four, then the check character."""
    return "-".join(code[i : i + GROUP] for i in range(0, RANDOM_CHARS, GROUP)) + "-" + code[RANDOM_CHARS:]


class CouponFormatError(ValueError):
    """Not even the shape of a code (wrong length, a character outside the alphabet)."""


def normalise(typed: str) -> str:
    """The code as typed, without hyphens and spaces, upper-case, look-alikes mapped; or
    :class:`CouponFormatError` for anything that cannot be one."""
    text = "".join(typed.split()).replace("-", "").upper() if isinstance(typed, str) else ""
    if len(text) != LENGTH or any(c not in _VALUE for c in text):
        raise CouponFormatError(
            f"a coupon code is {LENGTH} characters of {ALPHABET} (hyphens and spaces ignored)"
        )
    return "".join(ALPHABET[_VALUE[c]] for c in text)


def check_ok(code: str) -> bool:
    """True if a normalised code's check character fits: False means a typo, surely."""
    r = 0
    times_a, value = _TIMES_A, _VALUE
    for c in code:
        r = times_a[r] ^ value[c]
    return r == 0


def digest(code: str) -> str:
    """How a code is stored: SHA-256 of the normalised code (80 random bits: not worth inverting)."""
    return hashlib.sha256(code.encode("ascii")).hexdigest()
