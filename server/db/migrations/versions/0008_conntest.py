"""The nationwide connection test: scheduled tests, one report per (test, terminal), failed checks.

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)
Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "conntests",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("starts_at", TS, nullable=False),
        sa.Column("window_seconds", sa.Integer, nullable=False),
        sa.Column("ends_at", TS, nullable=False),
        sa.Column("municipality_code", sa.String(6), sa.ForeignKey("municipalities.code"), nullable=True),
        sa.Column("created_by", sa.String(80), nullable=False),
        sa.Column("created_at", TS, nullable=False),
    )
    op.create_index("ix_conntests_ends_at", "conntests", ["ends_at"])
    op.create_table(
        "conntest_reports",
        sa.Column("test_id", Id, sa.ForeignKey("conntests.id"), primary_key=True),
        sa.Column("terminal_id", sa.String(16), sa.ForeignKey("terminals.id"), primary_key=True),
        sa.Column("received_at", TS, nullable=False),
        sa.Column("started_at", TS, nullable=False),
        sa.Column("late", sa.Boolean, nullable=False),
        sa.Column("ok", sa.Boolean, nullable=False),
        sa.Column("latency_ms", sa.Integer, nullable=True),
        sa.Column("clock_offset_ms", sa.BigInteger, nullable=True),
        sa.Column("software_version", sa.String(32), nullable=False),
        sa.Column("crl_version", sa.String(64), nullable=True),
        sa.Column("checks", sa.Text, nullable=False),
        sa.Column("body_hash", sa.String(64), nullable=False),
    )
    op.create_index("ix_conntest_reports_test_latency", "conntest_reports", ["test_id", "latency_ms"])
    op.create_table(
        "conntest_failures",
        sa.Column("test_id", Id, primary_key=True),
        sa.Column("terminal_id", sa.String(16), primary_key=True),
        sa.Column("check_name", sa.String(16), primary_key=True),
        sa.Column("code", sa.String(48), nullable=False),
        sa.Column("detail", sa.String(200), nullable=False),
        sa.ForeignKeyConstraint(
            ["test_id", "terminal_id"], ["conntest_reports.test_id", "conntest_reports.terminal_id"]
        ),
    )


def downgrade() -> None:
    op.drop_table("conntest_failures")
    op.drop_table("conntest_reports")
    op.drop_index("ix_conntests_ends_at", "conntests")
    op.drop_table("conntests")
