"""My Page activation codes: 8 characters and a check character, printed on a kiosk's receipt.

Why this shape: the resident types the code at home, from paper, once. Eight characters of
Crockford's Base32 (40 random bits) are short enough to type and, with a per-address limit on
wrong tries and a life of 24 hours, far too many to guess. The check character is the coupon
codec's (:mod:`mkp_core.coupon`: a weighted sum over GF(32)), so a typo or two swapped
neighbours is told apart from a wrong code before anything is counted; input is as forgiving
(case, spaces, hyphens; O for 0, I and L for 1). Shown as ``XXXX-XXXX-C``.

The server keeps only a digest (``server.logins.tokens``); :func:`from_secret` makes the code
from a server secret and the request's client id, so a repeated request gets the same code
without the code ever being stored.
"""

from __future__ import annotations

from mkp_core import coupon
from mkp_core.errors import MkpError

RANDOM_CHARS = 8
LENGTH = RANDOM_CHARS + 1
GROUP = 4
#: How long a code can be used: the resident goes home, and signs up the same day or the next.
VALIDITY_HOURS = 24


class ActivationCodeError(MkpError):
    """What was typed cannot be any activation code (misshapen, or its check character off)."""


def from_secret(seed: bytes) -> str:
    """The normalised code (no hyphens) whose random part is the first 40 bits of ``seed``."""
    n = int.from_bytes(seed[:5], "big")
    body = "".join(coupon.ALPHABET[(n >> (5 * k)) & 31] for k in range(RANDOM_CHARS - 1, -1, -1))
    return body + coupon.check_char(body)


def pretty(code: str) -> str:
    """``XXXX-XXXX-C``."""
    return f"{code[:GROUP]}-{code[GROUP:RANDOM_CHARS]}-{code[RANDOM_CHARS:]}"


def normalise(typed: str) -> str:
    """The code as typed, normalised; or :class:`ActivationCodeError` (``invalid_activation_code``,
    ``activation_code_typo``) for what cannot be one."""
    text = "".join(typed.split()).replace("-", "").upper()
    alphabet = set(coupon.ALPHABET) | {"O", "I", "L"}
    if len(text) != LENGTH or any(c not in alphabet for c in text):
        raise ActivationCodeError(
            "invalid_activation_code", "An activation code is 9 characters, like ABCD-EFGH-J."
        )
    plain = text.replace("O", "0").replace("I", "1").replace("L", "1")
    if not coupon.check_ok(plain):
        raise ActivationCodeError(
            "activation_code_typo",
            "This activation code has a typo: a character mistyped or two swapped. Check it.",
        )
    return plain
