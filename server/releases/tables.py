"""Agent releases published by the operator.

On the one metadata (``server.db.tables``): the alembic chain in ``server/db/migrations`` builds them.
"""

from __future__ import annotations

from sqlalchemy import (
    Column,
    LargeBinary,
    String,
    Table,
)

from server.db.tables import UTCDateTime, metadata

# Agent releases the operator published: the signed manifest lives here, the files in the release
# folder. A withdrawn release is no longer offered to terminals.
releases = Table(
    "releases",
    metadata,
    Column("version", String(32), primary_key=True),
    Column("manifest", LargeBinary, nullable=False),
    Column("signature", LargeBinary, nullable=False),
    Column("published_at", UTCDateTime(), nullable=False),
    Column("withdrawn_at", UTCDateTime(), nullable=True),
    Column("withdraw_reason", String(200), nullable=True),
)
