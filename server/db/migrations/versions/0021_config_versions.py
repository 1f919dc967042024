"""A version counter for what terminals' config downloads are computed from.

Every terminal downloads its config (its place's accepted point codes, its price list) when the
nationwide connection test is announced, and each download computed it anew in about ten
queries. A server process now keeps the computed part per (place, version); every change to
point rules, point codes, agreements, places or price lists bumps this counter in its own
transaction, so a download reads only the counter to know its kept copy is current. No row is
made here: the first change writes it (a missing row is version 0).

Revision ID: 0021
Revises: 0020
"""

import sqlalchemy as sa
from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "config_versions",
        sa.Column("name", sa.String(32), primary_key=True),
        sa.Column("version", sa.BigInteger, nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("config_versions")
