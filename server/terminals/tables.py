"""The terminal registry's table: one-time enrollment codes (terminals themselves are on the
platform: their signed requests are checked there).

On the one metadata (``server.db.tables``): the alembic chain in ``server/db/migrations`` builds them.
"""

from __future__ import annotations

from sqlalchemy import (
    Column,
    ForeignKey,
    String,
    Table,
)

from server.db.tables import UTCDateTime, metadata

enrollment_codes = Table(
    "enrollment_codes",
    metadata,
    Column("code_hash", String(64), primary_key=True),
    Column("terminal_id", String(16), ForeignKey("terminals.id"), nullable=False),
    Column("expires_at", UTCDateTime(), nullable=False),
    Column("used_at", UTCDateTime(), nullable=True),
)
