"""Partner links confirmed with the holder's one-time link code; coupon attempts per holder.

A link request now carries the hash of the code it gave the holder and the code's end; several
requests may name one member number (whoever asks), so the member number is unique among active
links only. Requests still pending from before have no code, so no confirmation matches them; the
holder's next request with the card replaces theirs and gives a code. Coupon attempts need no
change: their throttle's source is now the holder.

Revision ID: 0014
Revises: 0013
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)
ACTIVE = sa.text("status = 'active'")


def upgrade() -> None:
    with op.batch_alter_table("partner_links") as batch:
        batch.add_column(sa.Column("code_hash", sa.String(64), nullable=True))
        batch.add_column(sa.Column("code_expires_at", TS, nullable=True))
        batch.drop_constraint("uq_partner_links_member", type_="unique")
    op.create_index(
        "uq_partner_links_active_member",
        "partner_links",
        ["partner_id", "member"],
        unique=True,
        sqlite_where=ACTIVE,
        postgresql_where=ACTIVE,
    )


def downgrade() -> None:
    op.drop_index("uq_partner_links_active_member", table_name="partner_links")
    op.execute("DELETE FROM partner_links WHERE status = 'pending'")
    with op.batch_alter_table("partner_links") as batch:
        batch.create_unique_constraint("uq_partner_links_member", ["partner_id", "member"])
        batch.drop_column("code_expires_at")
        batch.drop_column("code_hash")
