"""Login accounts: a login ID and a password (argon2id), or passkeys, for one person of a kind.

Why apart from the people they log in: a resident is a MyKey ID and a staff member a row of the
console; both log in the same way, so the way is written once. An account names its person by
``kind`` and ``subject`` and knows nothing else of them.

Login IDs are unique per kind whatever their case (``Hanako`` and ``hanako`` are one ID): they
are compared folded (NFKC, then casefold), and shown as typed. Passwords are kept only as argon2id
hashes; a hash made with weaker parameters than today's is replaced at the next good login.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Connection, RowMapping, select, update
from sqlalchemy.exc import IntegrityError

from mkp_core.errors import Conflict, MkpError
from server.db.engine import inserted_id
from server.logins.tables import login_accounts

KINDS = ("resident", "staff")
MIN_PASSWORD = 10
MAX_PASSWORD = 256
LOGIN_ID_PATTERN = re.compile(r"[a-z0-9][a-z0-9._@-]{2,63}")
"""A login ID, folded: 3 to 64 of letters, digits and . _ @ - (starting with a letter or digit)."""

HASHER = PasswordHasher()
"""argon2id with argon2-cffi's defaults (RFC 9106's second recommended option)."""


@functools.lru_cache(maxsize=2)
def _dummy_hash(hasher: PasswordHasher) -> str:
    """A hash with ``hasher``'s parameters, checked when the login ID is unknown (same cost)."""
    return hasher.hash("a password nobody has")


class LoginError(MkpError):
    """A login ID or password that cannot be used (the message says which rule it broke)."""


@dataclass(frozen=True)
class Account:
    """One person's login: ``subject`` is their id among people of ``kind``."""

    id: int
    kind: str
    subject: str
    login_id: str
    has_password: bool
    login_id_changed_at: datetime | None = None


def fold(login_id: str) -> str:
    """The form login IDs are compared in: NFKC (full-width letters become ASCII), case folded."""
    return unicodedata.normalize("NFKC", login_id).strip().casefold()


def check_login_id(login_id: str) -> str:
    """``login_id`` as kept (NFKC, trimmed), or :class:`LoginError` ``invalid_login_id``."""
    typed = unicodedata.normalize("NFKC", login_id).strip()
    if not LOGIN_ID_PATTERN.fullmatch(typed.casefold()):
        raise LoginError(
            "invalid_login_id",
            "A login ID is 3 to 64 letters, digits and . _ @ - and starts with a letter or digit.",
        )
    return typed


def check_password(password: str, login_id: str) -> None:
    """Refuse a password too short, too long, or the same as the login ID (``weak_password``)."""
    if len(password) < MIN_PASSWORD:
        raise LoginError("weak_password", "A password has at least 10 characters.")
    if len(password) > MAX_PASSWORD:
        raise LoginError("weak_password", "A password has at most 256 characters.")
    if fold(password) == fold(login_id):
        raise LoginError("weak_password", "The password must not be the login ID.")


def _account(row: RowMapping) -> Account:
    return Account(
        id=row["id"],
        kind=row["kind"],
        subject=row["subject"],
        login_id=row["login_id"],
        has_password=row["password_hash"] is not None,
        login_id_changed_at=row["login_id_changed_at"],
    )


def create_account(
    conn: Connection,
    kind: str,
    subject: str,
    login_id: str,
    password: str | None,
    now: datetime | None = None,
) -> Account:
    """A new login for ``subject`` of ``kind``; ``password`` None for a passkey-only login.

    Refused: a bad login ID or password (:class:`LoginError`), an ID taken in this kind
    (``login_id_taken``) or a subject that has a login already (``login_exists``)."""
    if kind not in KINDS:
        raise ValueError(f"unknown login kind {kind!r}")
    typed = check_login_id(login_id)
    if password is not None:
        check_password(password, typed)
    _refuse_taken(conn, kind, typed)
    if account_of(conn, kind, subject) is not None:
        raise Conflict("login_exists", "This person has a login already: log in, or reset it.")
    values = {
        "kind": kind,
        "subject": subject,
        "login_id": typed,
        "login_key": fold(typed),
        "password_hash": HASHER.hash(password) if password is not None else None,
        "created_at": now or datetime.now(UTC),
    }
    try:
        with conn.begin_nested():
            new_id = inserted_id(conn.execute(login_accounts.insert().values(**values)))
    except IntegrityError:  # a twin request took the ID or the subject between check and insert
        raise Conflict("login_id_taken", "This login ID is taken. Choose another.") from None
    return Account(new_id, kind, subject, typed, password is not None)


def _refuse_taken(conn: Connection, kind: str, login_id: str) -> None:
    if find_account(conn, kind, login_id) is not None:
        raise Conflict("login_id_taken", "This login ID is taken. Choose another.")


def find_account(conn: Connection, kind: str, login_id: str) -> Account | None:
    """The ``kind`` login whose ID is ``login_id`` (any case), or None."""
    row = (
        conn.execute(
            select(login_accounts).where(
                login_accounts.c.kind == kind, login_accounts.c.login_key == fold(login_id)
            )
        )
        .mappings()
        .first()
    )
    return _account(row) if row else None


def account_of(conn: Connection, kind: str, subject: str) -> Account | None:
    """The login of ``subject`` of ``kind``, or None."""
    row = (
        conn.execute(
            select(login_accounts).where(login_accounts.c.kind == kind, login_accounts.c.subject == subject)
        )
        .mappings()
        .first()
    )
    return _account(row) if row else None


def account_by_id(conn: Connection, account_id: int) -> Account | None:
    row = conn.execute(select(login_accounts).where(login_accounts.c.id == account_id)).mappings().first()
    return _account(row) if row else None


def password_matches(conn: Connection, kind: str, login_id: str, password: str) -> Account | None:
    """The account if ``password`` is its password, else None (no throttling: see ``throttling``).

    An unknown login ID costs the same time as a wrong password, so timing tells nothing of which
    IDs exist. A hash made with weaker parameters is replaced by one with today's."""
    row = (
        conn.execute(
            select(login_accounts).where(
                login_accounts.c.kind == kind, login_accounts.c.login_key == fold(login_id)
            )
        )
        .mappings()
        .first()
    )
    stored = row["password_hash"] if row else None
    try:
        HASHER.verify(stored or _dummy_hash(HASHER), password)
    except (VerificationError, InvalidHashError):
        return None
    if row is None or stored is None:
        return None
    if HASHER.check_needs_rehash(stored):
        conn.execute(
            update(login_accounts)
            .where(login_accounts.c.id == row["id"])
            .values(password_hash=HASHER.hash(password))
        )
    return _account(row)


def set_password(conn: Connection, account: Account, password: str) -> None:
    """Replace ``account``'s password (rules as at creation)."""
    check_password(password, account.login_id)
    conn.execute(
        update(login_accounts)
        .where(login_accounts.c.id == account.id)
        .values(password_hash=HASHER.hash(password))
    )


def change_login_id(
    conn: Connection, account: Account, login_id: str, now: datetime | None = None
) -> Account:
    """``account`` with the login ID ``login_id`` (as typed, NFKC, trimmed); the same account when
    it is the same ID. Refused: a bad ID (:class:`LoginError`) or one another login of the kind
    has, whatever its case (``login_id_taken``)."""
    typed = check_login_id(login_id)
    if typed == account.login_id:
        return account
    if fold(typed) != fold(account.login_id):
        _refuse_taken(conn, account.kind, typed)
    when = now or datetime.now(UTC)
    try:
        with conn.begin_nested():
            conn.execute(
                update(login_accounts)
                .where(login_accounts.c.id == account.id)
                .values(login_id=typed, login_key=fold(typed), login_id_changed_at=when)
            )
    except IntegrityError:  # a twin request took the ID between check and update
        raise Conflict("login_id_taken", "This login ID is taken. Choose another.") from None
    return Account(account.id, account.kind, account.subject, typed, account.has_password, when)


def move_subject(conn: Connection, account: Account, subject: str) -> None:
    """The account now logs in ``subject`` (a resident whose MyKey record moved to a new card)."""
    conn.execute(update(login_accounts).where(login_accounts.c.id == account.id).values(subject=subject))
