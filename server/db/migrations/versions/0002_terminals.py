"""Terminals: places, terminals, enrollment codes, request nonces, CRLs.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "places",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("municipality_code", sa.String(6), sa.ForeignKey("municipalities.code"), nullable=False),
        sa.Column("street", sa.String(128), nullable=True),
        sa.Column("created_at", TS, nullable=False),
    )
    op.create_table(
        "terminals",
        sa.Column("id", sa.String(16), primary_key=True),
        sa.Column("place_id", sa.String(40), sa.ForeignKey("places.id"), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("public_key_pem", sa.Text, nullable=True),
        sa.Column("key_fingerprint", sa.String(64), nullable=True),
        sa.Column("certificate_pem", sa.Text, nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("enrolled_at", TS, nullable=True),
        sa.Column("revoked_at", TS, nullable=True),
        sa.Column("revoke_reason", sa.String(200), nullable=True),
    )
    op.create_table(
        "enrollment_codes",
        sa.Column("code_hash", sa.String(64), primary_key=True),
        sa.Column("terminal_id", sa.String(16), sa.ForeignKey("terminals.id"), nullable=False),
        sa.Column("expires_at", TS, nullable=False),
        sa.Column("used_at", TS, nullable=True),
    )
    op.create_table(
        "terminal_nonces",
        sa.Column("key_id", sa.String(16), primary_key=True),
        sa.Column("nonce", sa.String(64), primary_key=True),
        sa.Column("created", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_terminal_nonces_created", "terminal_nonces", ["created"])
    op.create_table(
        "crls",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("number", sa.BigInteger, nullable=False),
        sa.Column("base_number", sa.BigInteger, nullable=True),
        sa.Column("issuer_fingerprint", sa.String(64), nullable=False),
        sa.Column("this_update", TS, nullable=False),
        sa.Column("next_update", TS, nullable=False),
        sa.Column("entries", sa.BigInteger, nullable=False),
        sa.Column("der", sa.LargeBinary, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.UniqueConstraint("issuer_fingerprint", "kind", "number", name="uq_crls_issuer_kind_number"),
    )


def downgrade() -> None:
    for table in ("crls", "terminal_nonces", "enrollment_codes", "terminals", "places"):
        op.drop_table(table)
