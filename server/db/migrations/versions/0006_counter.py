"""The counter: offline entries as the server received them (accepted, or refused and kept for
the exceptions report), and each terminal's last heartbeat.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)
Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "offline_entries",
        sa.Column("client_id", sa.String(128), primary_key=True),
        sa.Column("terminal_id", sa.String(16), sa.ForeignKey("terminals.id"), nullable=False),
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.Column("place_id", sa.String(40), nullable=True),
        sa.Column("amount", sa.BigInteger, nullable=True),
        sa.Column("item", sa.String(32), nullable=True),
        sa.Column("taken_at", TS, nullable=True),
        sa.Column("received_at", TS, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("transfer_id", Id, sa.ForeignKey("transfers.id"), nullable=True),
        sa.Column("mykey", Id, sa.ForeignKey("mykeys.id"), nullable=True),
        sa.Column("code", sa.String(64), nullable=True),
        sa.Column("message", sa.String(400), nullable=True),
    )
    op.create_index("ix_offline_entries_status", "offline_entries", ["status", "received_at"])
    op.create_index("ix_offline_entries_terminal_id", "offline_entries", ["terminal_id", "seq"])
    op.create_table(
        "terminal_status",
        sa.Column("terminal_id", sa.String(16), sa.ForeignKey("terminals.id"), primary_key=True),
        sa.Column("seen_at", TS, nullable=False),
        sa.Column("version", sa.String(40), nullable=True),
        sa.Column("reader", sa.String(200), nullable=True),
        sa.Column("printer", sa.String(200), nullable=True),
        sa.Column("queue_pending", sa.Integer, nullable=False),
        sa.Column("queue_amount", sa.BigInteger, nullable=False),
        sa.Column("queue_oldest", TS, nullable=True),
        sa.Column("crl_this_update", TS, nullable=True),
    )


def downgrade() -> None:
    op.drop_table("terminal_status")
    op.drop_index("ix_offline_entries_terminal_id", "offline_entries")
    op.drop_index("ix_offline_entries_status", "offline_entries")
    op.drop_table("offline_entries")
