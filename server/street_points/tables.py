"""Shopping-street points migrated: files, members' balances, claims.

On the one metadata (``server.db.tables``): the alembic chain in ``server/db/migrations`` builds them.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    ForeignKey,
    Integer,
    String,
    Table,
    UniqueConstraint,
)

from server.db.tables import Id, UTCDateTime, metadata

# A shopping street's member balances, uploaded whole when it retires its own card; each waits
# until the member links that number to a MyKey ID, then is credited once (``migration_claims``).
migration_batches = Table(
    "migration_batches",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("service_code", String(16), ForeignKey("services.code"), nullable=False),
    Column("file_sha256", String(64), nullable=False),
    Column("point_code", String(24), ForeignKey("point_codes.code"), nullable=False),
    Column("lapses_at", UTCDateTime(), nullable=False),  # unclaimed balances lapse then
    Column("members", Integer, nullable=False),
    Column("points", BigInteger, nullable=False),
    Column("created_by", String(80), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    UniqueConstraint("service_code", "file_sha256", name="uq_migration_batches_service_file"),
)


migration_balances = Table(
    "migration_balances",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("batch_id", Id, ForeignKey("migration_batches.id"), nullable=False),
    Column("service_code", String(16), ForeignKey("services.code"), nullable=False),
    Column("member_number", String(32), nullable=False),
    Column("balance", BigInteger, nullable=False),
    Column("line", Integer, nullable=False),
    UniqueConstraint("service_code", "member_number", name="uq_migration_balances_service_member"),
)


migration_claims = Table(
    "migration_claims",
    metadata,
    Column("balance_id", Id, ForeignKey("migration_balances.id"), primary_key=True),
    Column("mykey", Id, ForeignKey("mykeys.id"), nullable=False),
    Column("transfer_id", Id, ForeignKey("transfers.id"), nullable=False),
    Column("claimed_at", UTCDateTime(), nullable=False),
)
