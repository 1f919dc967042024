"""Paper vouchers: the server's voucher keys, the vouchers and their states, shops' phone links.

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)
Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "voucher_keys",
        sa.Column("key_id", sa.String(8), primary_key=True),
        sa.Column("public_key_pem", sa.Text, nullable=False),
        sa.Column("valid_from", TS, nullable=False),
        sa.Column("retired_at", TS, nullable=True),
        sa.Column("withdrawn_at", TS, nullable=True),
        sa.Column("withdraw_reason", sa.String(200), nullable=True),
        sa.Column("created_by", sa.String(80), nullable=False),
    )
    op.create_table(
        "vouchers",
        sa.Column("serial", sa.String(20), primary_key=True),
        sa.Column("point_code", sa.String(24), sa.ForeignKey("point_codes.code"), nullable=False),
        sa.Column("amount", sa.BigInteger, nullable=False),
        sa.Column("issued_at", TS, nullable=False),
        sa.Column("expires_at", TS, nullable=False),
        sa.Column("key_id", sa.String(8), sa.ForeignKey("voucher_keys.key_id"), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("batch", sa.String(64), nullable=True),
        sa.Column("source", sa.String(80), nullable=False),
        sa.Column("issue_transfer_id", Id, sa.ForeignKey("transfers.id"), nullable=False, unique=True),
        sa.Column("printed_at", TS, nullable=True),
        sa.Column("voided_at", TS, nullable=True),
        sa.Column("void_reason", sa.String(32), nullable=True),
        sa.Column("replaced_by", sa.String(20), nullable=True),
        sa.Column("redeemed_at", TS, nullable=True),
        sa.Column("redeemed_place", sa.String(40), sa.ForeignKey("places.id"), nullable=True),
        sa.Column("redeemed_by", sa.String(80), nullable=True),
        sa.Column("closing_transfer_id", Id, sa.ForeignKey("transfers.id"), nullable=True, unique=True),
        sa.Column("created_by", sa.String(80), nullable=False),
        sa.CheckConstraint("amount > 0", name="amount_positive"),
    )
    op.create_index("ix_vouchers_open_by_expiry", "vouchers", ["status", "expires_at"])
    op.create_index("ix_vouchers_batch", "vouchers", ["batch"])
    op.create_table(
        "voucher_phone_links",
        sa.Column("token_hash", sa.String(64), primary_key=True),
        sa.Column("place_id", sa.String(40), sa.ForeignKey("places.id"), nullable=False),
        sa.Column("created_by", sa.String(80), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("revoked_at", TS, nullable=True),
    )


def downgrade() -> None:
    for table in ("voucher_phone_links", "vouchers", "voucher_keys"):
        op.drop_table(table)
