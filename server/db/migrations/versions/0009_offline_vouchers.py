"""Paper vouchers accepted offline travel in the counter's queue: each offline entry says its kind
(a card spend or a voucher) and, for a voucher, its serial, so the exceptions report names it.

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("offline_entries") as batch:
        batch.add_column(sa.Column("kind", sa.String(16), nullable=False, server_default="spend"))
        batch.add_column(sa.Column("voucher_serial", sa.String(20), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("offline_entries") as batch:
        batch.drop_column("voucher_serial")
        batch.drop_column("kind")
