"""Partner links found by member number whatever their status; a partner's campaigns by partner.

A conversion names the partner's member number and must tell a confirmed link from one still
waiting for the partner (``link_not_confirmed``), so it looks the member up among every link of
the partner. The only index on the member number held active links only (it keeps one active
link a member), and the lookup walked all of the partner's links instead: a cost that grew
with the partner's members, on every conversion. ``ix_partner_links_member`` finds a member's
links directly. ``ix_premium_campaigns_partner`` does the same for the partner's campaigns still
running, which every conversion reads (they were found by reading every campaign).

Revision ID: 0020
Revises: 0019
"""

from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_partner_links_member", "partner_links", ["partner_id", "member"])
    op.create_index("ix_premium_campaigns_partner", "premium_campaigns", ["partner_id", "ends_at"])


def downgrade() -> None:
    op.drop_index("ix_premium_campaigns_partner", "premium_campaigns")
    op.drop_index("ix_partner_links_member", "partner_links")
