"""The one schema's metadata, the column types every table shares, and the idempotency table.

Each domain keeps its tables in its own ``tables.py`` on this ``metadata`` (importing the domain
puts them on it; ``server.app`` imports them all). Migrations in ``migrations/`` build exactly
that whole schema, in one alembic chain."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)
from sqlalchemy.types import TypeDecorator

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# BigInteger ids that are still SQLite's rowid (INTEGER PRIMARY KEY) there.
Id = BigInteger().with_variant(Integer(), "sqlite")


class UTCDateTime(TypeDecorator[datetime]):
    """Timestamps are kept and come back aware in UTC on both databases. SQLite keeps a timestamp as
    text without its offset, so an aware time in JST would be kept as its wall-clock reading and
    read back nine hours off: every aware time is turned to UTC before it is stored."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: object) -> datetime | None:
        if value is None or value.tzinfo is None:
            return value
        try:
            return value.astimezone(UTC)
        except OverflowError:  # at the edge of year 1 or 9999: kept as given (callers refuse such times)
            return value

    def process_result_value(self, value: datetime | None, dialect: object) -> datetime | None:
        return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


# Replies to mutations that are not transfers (a transfer keeps its own client id and body hash).
idempotency = Table(
    "idempotency",
    metadata,
    Column("client_id", String(160), primary_key=True),
    Column("body_hash", String(64), nullable=False),
    Column("status", Integer, nullable=False),
    Column("response", Text, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
)
