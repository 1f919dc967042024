"""Partner points: partners, member links, premium campaigns, coupon batches and codes, conversions.

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)
Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "partners",
        sa.Column("id", sa.String(8), primary_key=True),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("rate_from", sa.BigInteger, nullable=False),
        sa.Column("rate_to", sa.BigInteger, nullable=False),
        sa.Column("hold_days", sa.Integer, nullable=False),
        sa.Column("public_key_pem", sa.Text, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("revoked_at", TS, nullable=True),
    )
    op.create_table(
        "partner_links",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("partner_id", sa.String(8), sa.ForeignKey("partners.id"), nullable=False),
        sa.Column("member", sa.String(64), nullable=False),
        sa.Column("mykey", Id, sa.ForeignKey("mykeys.id"), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("confirmed_at", TS, nullable=True),
        sa.UniqueConstraint("partner_id", "member", name="uq_partner_links_member"),
        sa.UniqueConstraint("partner_id", "mykey", name="uq_partner_links_mykey"),
    )
    op.create_table(
        "premium_campaigns",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("partner_id", sa.String(8), sa.ForeignKey("partners.id"), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("percent", sa.Integer, nullable=True),
        sa.Column("fixed", sa.BigInteger, nullable=True),
        sa.Column("starts_at", TS, nullable=False),
        sa.Column("ends_at", TS, nullable=False),
        sa.Column("cap_per_holder", sa.BigInteger, nullable=True),
        sa.Column("budget", sa.BigInteger, nullable=False),
        sa.Column("used", sa.BigInteger, nullable=False),
        sa.Column("funded_by", sa.String(16), nullable=False),
        sa.Column("municipality_code", sa.String(6), sa.ForeignKey("municipalities.code"), nullable=True),
        sa.Column("created_by", sa.String(80), nullable=False),
        sa.Column("created_at", TS, nullable=False),
    )
    op.create_table(
        "coupon_batches",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("partner_id", sa.String(8), sa.ForeignKey("partners.id"), nullable=False),
        sa.Column("points", sa.BigInteger, nullable=False),
        sa.Column("count", sa.Integer, nullable=False),
        sa.Column("expires_at", TS, nullable=False),
        sa.Column("cancelled_at", TS, nullable=True),
        sa.Column("created_by", sa.String(80), nullable=False),
        sa.Column("created_at", TS, nullable=False),
    )
    op.create_table(
        "coupons",
        sa.Column("code_hash", sa.String(64), primary_key=True),
        sa.Column("batch_id", Id, sa.ForeignKey("coupon_batches.id"), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("redeemed_at", TS, nullable=True),
    )
    op.create_table(
        "coupon_failures",
        sa.Column("source", sa.String(80), primary_key=True),
        sa.Column("window_start", TS, nullable=False),
        sa.Column("failures", sa.Integer, nullable=False),
    )
    op.create_table(
        "conversions",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("partner_id", sa.String(8), sa.ForeignKey("partners.id"), nullable=False),
        sa.Column("order_id", sa.String(64), nullable=True),
        sa.Column(
            "coupon_hash", sa.String(64), sa.ForeignKey("coupons.code_hash"), nullable=True, unique=True
        ),
        sa.Column("mykey", Id, sa.ForeignKey("mykeys.id"), nullable=False),
        sa.Column("point_code", sa.String(24), sa.ForeignKey("point_codes.code"), nullable=False),
        sa.Column("partner_amount", sa.BigInteger, nullable=True),
        sa.Column("points", sa.BigInteger, nullable=False),
        sa.Column("premium", sa.BigInteger, nullable=False),
        sa.Column("campaign_id", Id, sa.ForeignKey("premium_campaigns.id"), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("due_at", TS, nullable=False),
        sa.Column("released_at", TS, nullable=True),
        sa.UniqueConstraint("partner_id", "order_id", name="uq_conversions_order"),
    )
    op.create_index("ix_conversions_due_at", "conversions", ["due_at"])
    op.create_index("ix_conversions_mykey", "conversions", ["mykey"])


def downgrade() -> None:
    op.drop_index("ix_conversions_mykey", "conversions")
    op.drop_index("ix_conversions_due_at", "conversions")
    for table in (
        "conversions",
        "coupon_failures",
        "coupons",
        "coupon_batches",
        "premium_campaigns",
        "partner_links",
        "partners",
    ):
        op.drop_table(table)
