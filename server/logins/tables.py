"""Web logins' tables: accounts (argon2id hashes), passkeys, sessions (token hashes), one-time tokens.

On the one metadata (``server.db.tables``): migration 0017 builds them. Nothing in them is a secret
in clear: passwords are argon2id hashes, session tokens and one-time codes SHA-256 digests.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, ForeignKey, LargeBinary, String, Table, UniqueConstraint

from server.db.tables import Id, UTCDateTime, metadata

# One login per person of a kind: ``subject`` is the resident's MyKey row id or the staff member's
# id; ``login_key`` is the login ID folded for case (unique per kind), ``login_id`` as typed.
# Only the password's argon2id hash is kept (none for a passkey-only login).
login_accounts = Table(
    "login_accounts",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("kind", String(16), nullable=False),  # resident | staff
    Column("subject", String(80), nullable=False),
    Column("login_id", String(64), nullable=False),
    Column("login_key", String(64), nullable=False),
    Column("password_hash", String(200), nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("login_id_changed_at", UTCDateTime(), nullable=True),
    UniqueConstraint("kind", "login_key", name="uq_login_accounts_kind_login_key"),
    UniqueConstraint("kind", "subject", name="uq_login_accounts_kind_subject"),
)

# A passkey (WebAuthn credential) of a login: its id, public key (COSE) and signature counter.
login_passkeys = Table(
    "login_passkeys",
    metadata,
    Column("credential_id", String(700), primary_key=True),  # base64url
    Column("account", Id, ForeignKey("login_accounts.id"), nullable=False, index=True),
    Column("public_key", LargeBinary, nullable=False),
    Column("sign_count", BigInteger, nullable=False),
    Column("name", String(80), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("last_used_at", UTCDateTime(), nullable=True),
)

# A logged-in browser: only the SHA-256 of its cookie's token is kept. Ends when ended (logout,
# log out everywhere), after ``idle`` without a request, or at ``expires_at`` whatever happens.
login_sessions = Table(
    "login_sessions",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("account", Id, ForeignKey("login_accounts.id"), nullable=False, index=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("last_seen_at", UTCDateTime(), nullable=False),
    Column("expires_at", UTCDateTime(), nullable=False),
    Column("ended_at", UTCDateTime(), nullable=True),
    Column("user_agent", String(200), nullable=False),
)

# One-time tokens (activation codes, login links, invitations): the SHA-256 only, single use.
login_tokens = Table(
    "login_tokens",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("purpose", String(24), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("subject", String(80), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("expires_at", UTCDateTime(), nullable=False),
    Column("used_at", UTCDateTime(), nullable=True),
)
