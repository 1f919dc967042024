"""Settlement periods and their statements; shopping-street balances to migrate.

Revision ID: 0011
Revises: 0010
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)
Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "settlement_closes",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("municipality_code", sa.String(6), sa.ForeignKey("municipalities.code"), nullable=False),
        sa.Column("period", sa.String(7), nullable=False),
        sa.Column("watermark", sa.BigInteger, nullable=False),
        sa.Column("closed_by", sa.String(80), nullable=False),
        sa.Column("closed_at", TS, nullable=False),
        sa.UniqueConstraint("municipality_code", "period", name="uq_settlement_closes_municipality_period"),
    )
    op.create_table(
        "settlement_lines",
        sa.Column("close_id", Id, sa.ForeignKey("settlement_closes.id"), primary_key=True),
        sa.Column("point_code", sa.String(24), sa.ForeignKey("point_codes.code"), primary_key=True),
        sa.Column("owner", sa.String(80), primary_key=True),
        sa.Column("debits", sa.BigInteger, nullable=False),
        sa.Column("credits", sa.BigInteger, nullable=False),
        sa.Column("transfers", sa.BigInteger, nullable=False),
    )
    for table in ("settlement_closes", "settlement_lines"):
        _make_append_only(table)
    op.create_index("ix_transfers_point_code_created_at", "transfers", ["point_code", "created_at"])
    op.create_table(
        "migration_batches",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("service_code", sa.String(16), sa.ForeignKey("services.code"), nullable=False),
        sa.Column("file_sha256", sa.String(64), nullable=False),
        sa.Column("point_code", sa.String(24), sa.ForeignKey("point_codes.code"), nullable=False),
        sa.Column("lapses_at", TS, nullable=False),
        sa.Column("members", sa.Integer, nullable=False),
        sa.Column("points", sa.BigInteger, nullable=False),
        sa.Column("created_by", sa.String(80), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.UniqueConstraint("service_code", "file_sha256", name="uq_migration_batches_service_file"),
    )
    op.create_table(
        "migration_balances",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("batch_id", Id, sa.ForeignKey("migration_batches.id"), nullable=False),
        sa.Column("service_code", sa.String(16), sa.ForeignKey("services.code"), nullable=False),
        sa.Column("member_number", sa.String(32), nullable=False),
        sa.Column("balance", sa.BigInteger, nullable=False),
        sa.Column("line", sa.Integer, nullable=False),
        sa.UniqueConstraint("service_code", "member_number", name="uq_migration_balances_service_member"),
    )
    op.create_table(
        "migration_claims",
        sa.Column("balance_id", Id, sa.ForeignKey("migration_balances.id"), primary_key=True),
        sa.Column("mykey", Id, sa.ForeignKey("mykeys.id"), nullable=False),
        sa.Column("transfer_id", Id, sa.ForeignKey("transfers.id"), nullable=False),
        sa.Column("claimed_at", TS, nullable=False),
    )


def _make_append_only(table: str) -> None:
    """A closed period never changes: the database refuses UPDATE and DELETE on its rows."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE OR REPLACE FUNCTION mkp_settlement_closed() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN RAISE EXCEPTION 'closed settlement periods never change'; END $$"
        )
        op.execute(
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION mkp_settlement_closed()"
        )
        return
    for action in ("UPDATE", "DELETE"):
        op.execute(
            f"CREATE TRIGGER {table}_no_{action.lower()} BEFORE {action} ON {table} "
            "BEGIN SELECT RAISE(ABORT, 'closed settlement periods never change'); END"
        )


def downgrade() -> None:
    op.drop_table("migration_claims")
    op.drop_table("migration_balances")
    op.drop_table("migration_batches")
    op.drop_index("ix_transfers_point_code_created_at", "transfers")
    op.drop_table("settlement_lines")
    op.drop_table("settlement_closes")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS mkp_settlement_closed()")
