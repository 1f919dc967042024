"""Offline entries' times bounded by the terminal's contacts; bad entries refused alone.

Adds ``terminal_contacts`` (a terminal's contacts since its offline queue was last known empty:
the bounds of its offline entries' times), and clears the kept tap time of offline entries whose
time lies outside what an entry may name now (years before 1970 or from 9000): PostgreSQL kept a
year-1 time shifted to UTC as 1 BC, and every exceptions list that held one failed. The entry's
refusal stays; only the unusable time goes.

Revision ID: 0015
Revises: 0014
"""

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "terminal_contacts",
        sa.Column("terminal_id", sa.String(16), sa.ForeignKey("terminals.id"), primary_key=True),
        sa.Column("at", TS, primary_key=True),
        sa.Column("queue_clear", sa.Boolean, nullable=False),
    )
    entries = sa.table("offline_entries", sa.column("taken_at", TS))
    op.execute(
        entries.update()
        .where(
            sa.or_(
                entries.c.taken_at < datetime(1970, 1, 1, tzinfo=UTC),
                entries.c.taken_at >= datetime(9000, 1, 1, tzinfo=UTC),
            )
        )
        .values(taken_at=None)
    )
