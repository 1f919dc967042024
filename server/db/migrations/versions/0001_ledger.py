"""Ledger foundation: municipalities, point codes, operators, accounts, transfers, idempotency.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "municipalities",
        sa.Column("code", sa.String(6), primary_key=True),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("prefecture", sa.String(16), nullable=False),
        sa.Column("kana", sa.String(128), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("created_at", TS, nullable=False),
    )
    op.create_table(
        "point_codes",
        sa.Column("code", sa.String(24), primary_key=True),
        sa.Column("municipality_code", sa.String(6), sa.ForeignKey("municipalities.code"), nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("created_at", TS, nullable=False),
    )
    op.create_table(
        "operators",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(64), nullable=False, unique=True),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("municipality_code", sa.String(6), sa.ForeignKey("municipalities.code"), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("revoked_at", TS, nullable=True),
    )
    op.create_table(
        "accounts",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("owner", sa.String(80), nullable=False),
        sa.Column("point_code", sa.String(24), sa.ForeignKey("point_codes.code"), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("debits_posted", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("credits_posted", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("created_at", TS, nullable=False),
        sa.UniqueConstraint("owner", "point_code", name="uq_accounts_owner_point_code"),
    )
    op.create_table(
        "transfers",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("client_id", sa.String(64), nullable=False, unique=True),
        sa.Column("body_hash", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("point_code", sa.String(24), sa.ForeignKey("point_codes.code"), nullable=False),
        sa.Column("debit_account_id", Id, sa.ForeignKey("accounts.id"), nullable=False),
        sa.Column("credit_account_id", Id, sa.ForeignKey("accounts.id"), nullable=False),
        sa.Column("amount", sa.BigInteger, nullable=False),
        sa.Column("memo", sa.String(200), nullable=True),
        sa.Column("reverses_id", Id, sa.ForeignKey("transfers.id"), nullable=True, unique=True),
        sa.Column("actor", sa.String(80), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.CheckConstraint("amount > 0", name="amount_positive"),
        sa.CheckConstraint("debit_account_id <> credit_account_id", name="distinct_accounts"),
    )
    op.create_index("ix_transfers_debit", "transfers", ["debit_account_id"])
    op.create_index("ix_transfers_credit", "transfers", ["credit_account_id"])
    op.create_table(
        "idempotency",
        sa.Column("client_id", sa.String(64), primary_key=True),
        sa.Column("body_hash", sa.String(64), nullable=False),
        sa.Column("status", sa.Integer, nullable=False),
        sa.Column("response", sa.Text, nullable=False),
        sa.Column("created_at", TS, nullable=False),
    )
    _make_transfers_append_only()


def _make_transfers_append_only() -> None:
    """History is append-only: the database itself refuses UPDATE and DELETE on transfers."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE FUNCTION mkp_append_only() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN RAISE EXCEPTION 'transfers are append-only'; END $$"
        )
        op.execute(
            "CREATE TRIGGER transfers_append_only BEFORE UPDATE OR DELETE ON transfers "
            "FOR EACH ROW EXECUTE FUNCTION mkp_append_only()"
        )
    else:
        for action in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER transfers_no_{action.lower()} BEFORE {action} ON transfers "
                "BEGIN SELECT RAISE(ABORT, 'transfers are append-only'); END"
            )


def downgrade() -> None:
    for table in ("idempotency", "transfers", "accounts", "operators", "point_codes", "municipalities"):
        op.drop_table(table)
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS mkp_append_only()")
