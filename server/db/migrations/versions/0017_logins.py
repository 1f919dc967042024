"""Web logins: accounts (argon2id hashes), passkeys, sessions (token hashes), one-time tokens.

My Page (residents) and the municipal console (staff) log people in through ``server.logins``;
nothing here is kept in clear: passwords as argon2id hashes, session tokens and one-time codes as
SHA-256 digests.

Revision ID: 0017
Revises: 0016
"""

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)
ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "login_accounts",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("subject", sa.String(80), nullable=False),
        sa.Column("login_id", sa.String(64), nullable=False),
        sa.Column("login_key", sa.String(64), nullable=False),
        sa.Column("password_hash", sa.String(200), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("login_id_changed_at", TS, nullable=True),
        sa.UniqueConstraint("kind", "login_key", name="uq_login_accounts_kind_login_key"),
        sa.UniqueConstraint("kind", "subject", name="uq_login_accounts_kind_subject"),
    )
    op.create_table(
        "login_passkeys",
        sa.Column("credential_id", sa.String(700), primary_key=True),
        sa.Column("account", ID, sa.ForeignKey("login_accounts.id"), nullable=False),
        sa.Column("public_key", sa.LargeBinary, nullable=False),
        sa.Column("sign_count", sa.BigInteger, nullable=False),
        sa.Column("name", sa.String(80), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("last_used_at", TS, nullable=True),
    )
    op.create_index("ix_login_passkeys_account", "login_passkeys", ["account"])
    op.create_table(
        "login_sessions",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("account", ID, sa.ForeignKey("login_accounts.id"), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("last_seen_at", TS, nullable=False),
        sa.Column("expires_at", TS, nullable=False),
        sa.Column("ended_at", TS, nullable=True),
        sa.Column("user_agent", sa.String(200), nullable=False),
        sa.UniqueConstraint("token_hash", name="uq_login_sessions_token_hash"),
    )
    op.create_index("ix_login_sessions_account", "login_sessions", ["account"])
    op.create_table(
        "login_tokens",
        sa.Column("token_hash", sa.String(64), primary_key=True),
        sa.Column("purpose", sa.String(24), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("subject", sa.String(80), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("expires_at", TS, nullable=False),
        sa.Column("used_at", TS, nullable=True),
    )
