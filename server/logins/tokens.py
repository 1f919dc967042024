"""One-time tokens: activation codes, login links, invitations; kept as SHA-256, used once.

Why one store: each of these is a secret that lets someone in once, for a while, as a named
person. So each is kept only as its digest, expires, and is spent in one statement that cannot
be won twice (two tabs sending the same link: one logs in). ``purpose`` keeps them apart: an
activation code is no login link.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Connection, select, update

from server.logins.tables import login_tokens

PURPOSES = ("activation", "login_link", "invitation")


@dataclass(frozen=True)
class OneTimeToken:
    """Who a token lets in (``kind``, ``subject``), for what, until when."""

    purpose: str
    kind: str
    subject: str
    expires_at: datetime


def digest(purpose: str, token: str) -> str:
    return hashlib.sha256(f"{purpose}:{token}".encode()).hexdigest()


def issue_token(
    conn: Connection,
    purpose: str,
    kind: str,
    subject: str,
    valid_for: timedelta,
    now: datetime | None = None,
    token: str | None = None,
) -> str:
    """A new token for ``subject`` of ``kind``, in clear this once; ``token`` if the caller made
    it in its own shape (an activation code), else 43 random URL-safe characters."""
    if purpose not in PURPOSES:
        raise ValueError(f"unknown token purpose {purpose!r}")
    now = now or datetime.now(UTC)
    token = token or secrets.token_urlsafe(32)
    conn.execute(
        login_tokens.insert().values(
            token_hash=digest(purpose, token),
            purpose=purpose,
            kind=kind,
            subject=subject,
            created_at=now,
            expires_at=now + valid_for,
        )
    )
    return token


def peek_token(
    conn: Connection, purpose: str, token: str, now: datetime | None = None
) -> OneTimeToken | None:
    """What ``token`` would let in, if it is unused and unexpired; it stays unused."""
    now = now or datetime.now(UTC)
    row = (
        conn.execute(
            select(login_tokens).where(
                login_tokens.c.token_hash == digest(purpose, token),
                login_tokens.c.used_at.is_(None),
                login_tokens.c.expires_at > now,
            )
        )
        .mappings()
        .first()
    )
    return OneTimeToken(purpose, row["kind"], row["subject"], row["expires_at"]) if row else None


def use_token(conn: Connection, purpose: str, token: str, now: datetime | None = None) -> OneTimeToken | None:
    """Spend ``token``: what it lets in, or None if it is unknown, used or expired."""
    now = now or datetime.now(UTC)
    found = peek_token(conn, purpose, token, now)
    if found is None:
        return None
    spent = conn.execute(
        update(login_tokens)
        .where(login_tokens.c.token_hash == digest(purpose, token), login_tokens.c.used_at.is_(None))
        .values(used_at=now)
    )
    return found if spent.rowcount == 1 else None


def void_tokens(conn: Connection, purpose: str, kind: str, subject: str, now: datetime | None = None) -> None:
    """Spend every open token of ``purpose`` for ``subject`` (a new activation code voids the old)."""
    conn.execute(
        update(login_tokens)
        .where(
            login_tokens.c.purpose == purpose,
            login_tokens.c.kind == kind,
            login_tokens.c.subject == subject,
            login_tokens.c.used_at.is_(None),
        )
        .values(used_at=now or datetime.now(UTC))
    )
