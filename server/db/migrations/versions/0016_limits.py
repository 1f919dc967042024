"""Throttles and limits: MyKey ID changes, challenge requests.

``throttle_counts``: requests per bucket in a fixed window (challenges per client address, ID
change tries per holder). ``card_challenges.anonymous``: a challenge asked for with no credential,
counted against the cap on open ones.

Revision ID: 0016
Revises: 0015
"""

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "throttle_counts",
        sa.Column("bucket", sa.String(80), primary_key=True),
        sa.Column("window_start", TS, nullable=False),
        sa.Column("count", sa.Integer, nullable=False),
    )
    op.add_column(
        "card_challenges",
        sa.Column("anonymous", sa.Boolean, nullable=False, server_default=sa.false()),
    )
