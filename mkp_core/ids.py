"""Identifier rules both sides agree on: municipality codes, point codes, departments, client ids,
place kinds, one-time codes, services and service IDs (MyKey IDs: ``mkp_core.mykey_id``).

Everything here is pure: a string in, a normalised string out or ``InvalidId`` with a code
that the server and the CLIs show unchanged.
"""

from __future__ import annotations

import hashlib
import re
import secrets

from mkp_core.errors import MkpError

MUNICIPALITY_CODE_RE = re.compile(r"^[0-9]{6}$")
# A point code is a municipality's general code ("142018") or one of its event codes
# ("142018-FEST2026"): the municipality always stands in front, so its rules can follow.
POINT_CODE_RE = re.compile(r"^([0-9]{6})(?:-([A-Z0-9]{1,16}))?$")
# Never a '/': the server keeps a caller's id as "<principal>/<id>" and its own as "srv/<id>", so
# no caller can send an id that lands in another caller's namespace or the server's.
CLIENT_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{7,63}$")
# MyKey IDs have their own module (mkp_core/mykey_id.py): format, random IDs, look-alikes.

# Largest amount one transfer may carry: far above any real grant, far below 2**63.
MAX_AMOUNT = 1_000_000_000


# What a place where terminals stand may be (a point code's rules name the kinds its points buy at).
PLACE_KINDS = ("shop", "museum", "library", "office", "facility", "transport")

# A municipality's department (原課: 子育て支援課, 介護保険課): "<municipality>-<code>", like an event's
# point code, so the municipality always stands in front ("142018-kosodate").
DEPARTMENT_CODE_RE = re.compile(r"[a-z][a-z0-9-]{1,31}")
DEPARTMENT_ID_RE = re.compile(r"^([0-9]{6})-([a-z][a-z0-9-]{1,31})$")
# Short lowercase names people type: grant kinds (volunteer, health), price-list items (adult),
# special rewards (fireworks-2026).
SLUG_RE = re.compile(r"[a-z0-9][a-z0-9-]{0,31}")

# One-time codes (terminal enrollment, MyKey renewal): 16 characters of a Crockford-style
# alphabet (no 0/O, 1/I/L, U), so a code read aloud or typed is unambiguous; shown in groups of
# four: ABCD-EFGH-JKMN-PQRS.
ONE_TIME_CODE_ALPHABET = "ABCDEFGHJKMNPQRSTVWXYZ23456789"
ONE_TIME_CODE_LENGTH = 16

# Services of the MyKey Platform (shopping street A1, library A2): their code and kind. A
# ``point-cloud`` service is the municipal point cloud itself: its terminals are told MyKey IDs.
SERVICE_CODE_RE = re.compile(r"[A-Z][A-Z0-9-]{0,15}")
SERVICE_KINDS = ("shopping-street", "library", "museum", "facility", "transport", "point-cloud")
POINT_CLOUD_KIND = "point-cloud"
# A holder's number at a service, as the service's own system knows it.
LOCAL_SERVICE_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,31}")


class InvalidId(MkpError, ValueError):
    """An identifier that breaks its rule; ``code`` is machine-readable."""


def municipality_check_digit(first_five: str) -> int:
    """The check digit of a local government code (MIC rule: weights 6..2, modulus 11)."""
    total = sum(int(d) * w for d, w in zip(first_five, (6, 5, 4, 3, 2), strict=True))
    return (11 - total % 11) % 10


def validate_municipality_code(code: str) -> str:
    """Return ``code`` if it is six digits with the right check digit, else raise ``InvalidId``."""
    if not isinstance(code, str) or not MUNICIPALITY_CODE_RE.fullmatch(code):
        raise InvalidId("invalid_municipality_code", f"municipality code must be 6 digits, got {code!r}")
    expected = municipality_check_digit(code[:5])
    if int(code[5]) != expected:
        raise InvalidId(
            "bad_check_digit",
            f"municipality code {code} has check digit {code[5]}, expected {expected}",
        )
    return code


def validate_point_code(code: str) -> str:
    """Return a point code if well formed (its municipality part check-digit valid)."""
    m = POINT_CODE_RE.fullmatch(code) if isinstance(code, str) else None
    if not m:
        raise InvalidId(
            "invalid_point_code",
            f"point code must be a municipality code, optionally '-' and up to 16 of A-Z0-9, got {code!r}",
        )
    validate_municipality_code(m.group(1))
    return code


def point_code_municipality(code: str) -> str:
    """The municipality a point code belongs to."""
    return validate_point_code(code)[:6]


def general_point_code(municipality_code: str) -> str:
    """Each municipality's own general points share its code."""
    return validate_municipality_code(municipality_code)


def validate_client_id(client_id: str) -> str:
    """Client-made ids that make every mutation idempotent (a UUID fits)."""
    if not isinstance(client_id, str) or not CLIENT_ID_RE.fullmatch(client_id):
        raise InvalidId(
            "invalid_client_id", f"client id must be 8-64 of A-Z a-z 0-9 . _ : -, got {client_id!r}"
        )
    return client_id


def validate_place_kind(kind: str) -> str:
    if kind not in PLACE_KINDS:
        raise InvalidId(
            "invalid_place_kind", f"no place kind {kind!r}: the kinds are {', '.join(PLACE_KINDS)}"
        )
    return kind


def new_one_time_code() -> str:
    """A fresh one-time code (enrollment, MyKey renewal), grouped for reading aloud (about 78 bits)."""
    raw = "".join(secrets.choice(ONE_TIME_CODE_ALPHABET) for _ in range(ONE_TIME_CODE_LENGTH))
    return _group(raw)


def normalize_one_time_code(code: str, what: str = "enrollment code") -> str:
    """A code as people type it (any case, spaces, dashes) in its grouped form, or ``InvalidId``.

    Only the length and the characters are checked here; whether the code exists is the server's
    business. Letters outside the alphabet are accepted (a typed O for a 0 is then simply unknown).
    """
    raw = "".join(ch for ch in str(code).upper() if not ch.isspace() and ch != "-")
    if len(raw) != ONE_TIME_CODE_LENGTH or not raw.isascii() or not raw.isalnum():
        raise InvalidId(
            "bad_code_format",
            f"{code!r} is not {_article(what)} {what}: 16 letters and digits, e.g. ABCD-EFGH-JKMN-PQRS",
        )
    return _group(raw)


def one_time_code_digest(code: str, what: str = "enrollment code") -> str:
    """What the server keeps of a one-time code: the SHA-256 of its 16 characters, however grouped."""
    return hashlib.sha256(normalize_one_time_code(code, what).replace("-", "").encode()).hexdigest()


def _article(word: str) -> str:
    return "an" if word[:1] in "aeiou" else "a"


def _group(raw: str) -> str:
    return "-".join(raw[i : i + 4] for i in range(0, len(raw), 4))


def validate_service_code(code: str) -> str:
    """A service's code (``A1``, ``YKS-LIB``): 1-16 of A-Z 0-9 and '-', starting with a letter."""
    if not isinstance(code, str) or not SERVICE_CODE_RE.fullmatch(code):
        raise InvalidId(
            "invalid_service_code",
            f"service code must be 1-16 of A-Z, 0-9 and '-', starting with a letter, got {code!r}",
        )
    return code


def validate_service_kind(kind: str) -> str:
    if kind not in SERVICE_KINDS:
        raise InvalidId(
            "invalid_service_kind", f"service kind must be one of {', '.join(SERVICE_KINDS)}, got {kind!r}"
        )
    return kind


def validate_local_service_id(local_id: str) -> str:
    """A holder's own number at a service (member 789, patron 280212): 1-32 of A-Z a-z 0-9 . _ -."""
    if not isinstance(local_id, str) or not LOCAL_SERVICE_ID_RE.fullmatch(local_id):
        raise InvalidId(
            "invalid_service_id",
            f"a service ID is 1-32 half-width letters, digits, '.', '_' or '-', got {local_id!r}",
        )
    return local_id


def validate_department_code(code: str) -> str:
    """A department's own part of its ID (``kosodate``): 2-32 of a-z, 0-9 and '-', a letter first."""
    if not isinstance(code, str) or not DEPARTMENT_CODE_RE.fullmatch(code):
        raise InvalidId(
            "invalid_department",
            f"a department code is 2-32 of a-z, 0-9 and '-', starting with a letter, got {code!r}",
        )
    return code


def validate_department_id(department: str) -> str:
    """``<municipality code>-<department code>`` (``142018-kosodate``), the municipality check-digit valid."""
    m = DEPARTMENT_ID_RE.fullmatch(department) if isinstance(department, str) else None
    if not m:
        raise InvalidId(
            "invalid_department",
            f"a department is '<municipality code>-<code>', e.g. 142018-kosodate, got {department!r}",
        )
    validate_municipality_code(m.group(1))
    return department


def department_municipality(department: str) -> str:
    """The municipality a department belongs to."""
    return validate_department_id(department)[:6]


def validate_slug(value: str, what: str = "name", code: str = "invalid_name") -> str:
    """A grant kind, price-list item or reward code: 1-32 of a-z, 0-9 and '-'."""
    if not isinstance(value, str) or not SLUG_RE.fullmatch(value):
        raise InvalidId(code, f"a {what} is 1-32 of a-z, 0-9 and '-', got {value!r}")
    return value
