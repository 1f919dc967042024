"""The console's own table: grant files as they were uploaded (to check, apply, download again).

On the one metadata (``server.db.tables``): the alembic chain in ``server/db/migrations`` builds it.
"""

from __future__ import annotations

from sqlalchemy import Column, ForeignKey, Index, LargeBinary, String, Table

from server.db.tables import Id, UTCDateTime, metadata

# A grant CSV file uploaded in the console, kept as it came so it can be checked again, applied,
# and downloaded later. ``batch_id``: the batch it became once applied.
grant_files = Table(
    "grant_files",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("municipality_code", String(6), ForeignKey("municipalities.code"), nullable=False),
    Column("department_id", String(40), ForeignKey("departments.id"), nullable=False),
    Column("filename", String(200), nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("content", LargeBinary, nullable=False),
    Column("batch_id", Id, ForeignKey("grant_batches.id"), nullable=True),
    Column("uploaded_by", String(80), nullable=False),
    Column("uploaded_at", UTCDateTime(), nullable=False),
)
Index("ix_grant_files_municipality", grant_files.c.municipality_code, grant_files.c.id)
