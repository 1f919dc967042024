"""MyKey IDs: the one rule for what an ID may be, how a random one is made, and when two are the same.

A MyKey ID is 8 ASCII letters and digits, never the 12-digit Individual Number. The platform makes
a random one from an alphabet without look-alikes (no 0/O, 1/I/l), or the holder chooses one.

Two IDs are *the same ID* when they differ only in case or in look-alike characters: ``Hanako01``,
``HANAKO01`` and ``hanakoOl`` read alike on a receipt or over the telephone, so they fold to one
key (:func:`fold`) and only one of them can exist. An operator typing an ID a resident reads out
finds it whichever way it was typed.

Pure functions, shared by the server (which decides) and the agent (which refuses a bad chosen ID
before a card is even touched).
"""

from __future__ import annotations

import re
import secrets

from mkp_core.errors import MkpError

LENGTH = 8
#: Random IDs: upper-case letters without I and O, digits without 0 and 1 (32 symbols, 40 bits).
ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
MYKEY_ID_RE = re.compile(r"[A-Za-z0-9]{8}")

# Look-alikes fold together for uniqueness (after upper-casing).
_FOLD = str.maketrans({"O": "0", "I": "1", "L": "1"})
# For spotting words, digits read as the letters they stand in for ("B4K4" is "BAKA").
_AS_LETTERS = str.maketrans({"0": "O", "1": "I", "3": "E", "4": "A", "5": "S", "7": "T", "8": "B"})

#: IDs that would pass for the platform, an official or a test: refused when the ID starts with one.
RESERVED_PREFIXES = (
    "ADMIN",
    "CITY",
    "JLIS",
    "JPKI",
    "MKP",
    "MYKEY",
    "MYNUMBER",
    "NULL",
    "OFFICIAL",
    "OPERATOR",
    "ROOT",
    "SOUMU",
    "STAFF",
    "SUPPORT",
    "SYSTEM",
    "TEST",
)
#: Offensive words (English and romanised Japanese): refused anywhere in the ID.
OFFENSIVE_WORDS = (
    "ASSHOLE",
    "BAKA",
    "BITCH",
    "CHINKO",
    "CUNT",
    "DICK",
    "FUCK",
    "KICHIGAI",
    "KUSO",
    "MANKO",
    "NIGGER",
    "PENIS",
    "SHINE",
    "SHIT",
    "SLUT",
    "WHORE",
)


class InvalidMyKeyId(MkpError, ValueError):
    """A MyKey ID that breaks the rule; ``code`` says which part."""


def new_mykey_id() -> str:
    """A random ID from :data:`ALPHABET` that passes :func:`validate_chosen` (uniqueness is the server's)."""
    while True:
        candidate = "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))
        if _refused_word(candidate) is None:
            return candidate


def validate_format(mykey_id: object) -> str:
    """``mykey_id`` if it is 8 half-width letters and digits, else :class:`InvalidMyKeyId`.

    The length is judged in characters, so a full-width ``ＡＢＣＤ１２３４`` is told it has the
    wrong characters, not the wrong length.
    """
    if not isinstance(mykey_id, str):
        raise InvalidMyKeyId("invalid_mykey_id", "a MyKey ID is a string of 8 letters and digits")
    if len(mykey_id) < LENGTH:
        raise InvalidMyKeyId(
            "mykey_id_too_short", f"a MyKey ID has {LENGTH} characters; {mykey_id!r} has {len(mykey_id)}"
        )
    if len(mykey_id) > LENGTH:
        raise InvalidMyKeyId(
            "mykey_id_too_long", f"a MyKey ID has {LENGTH} characters; {mykey_id!r} has {len(mykey_id)}"
        )
    if not MYKEY_ID_RE.fullmatch(mykey_id):
        raise InvalidMyKeyId(
            "invalid_mykey_id",
            f"a MyKey ID has only half-width letters A-Z, a-z and digits 0-9, got {mykey_id!r}",
        )
    return mykey_id


def validate_chosen(mykey_id: object) -> str:
    """A holder's own choice: the format, and no reserved or offensive word in it."""
    checked = validate_format(mykey_id)
    word = _refused_word(checked)
    if word is not None:
        raise InvalidMyKeyId("mykey_id_reserved", f"{checked!r} cannot be chosen (it contains {word!r})")
    return checked


def fold(mykey_id: str) -> str:
    """The uniqueness key: upper case, O as 0, I and L as 1 (``hanakoOl`` → ``HANAK001``)."""
    return validate_format(mykey_id).upper().translate(_FOLD)


def _refused_word(mykey_id: str) -> str | None:
    plain = mykey_id.upper()
    as_letters = plain.translate(_AS_LETTERS)
    for text in (plain, as_letters):
        prefix = next((p for p in RESERVED_PREFIXES if text.startswith(p)), None)
        if prefix is not None:
            return prefix
        word = next((w for w in OFFENSIVE_WORDS if w in text), None)
        if word is not None:
            return word
    return None
