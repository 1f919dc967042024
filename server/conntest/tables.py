"""The connection test: tests, terminals' reports, failures.

On the one metadata (``server.db.tables``): the alembic chain in ``server/db/migrations`` builds them.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    String,
    Table,
    Text,
)

from server.db.tables import Id, UTCDateTime, metadata

# A scheduled test: every active terminal (of one municipality, or all) reports once, at a random
# moment of the window after ``starts_at``; a terminal that was offline reports when it is back.
conntests = Table(
    "conntests",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("starts_at", UTCDateTime(), nullable=False),
    Column("window_seconds", Integer, nullable=False),
    Column("ends_at", UTCDateTime(), nullable=False),
    Column("municipality_code", String(6), ForeignKey("municipalities.code"), nullable=True),
    Column("created_by", String(80), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
)
Index("ix_conntests_ends_at", conntests.c.ends_at)


# One terminal's report for one test, committed before the terminal is answered. ``body_hash``
# makes a retry idempotent (the same body gets the first answer, another body is refused).
conntest_reports = Table(
    "conntest_reports",
    metadata,
    Column("test_id", Id, ForeignKey("conntests.id"), primary_key=True),
    Column("terminal_id", String(16), ForeignKey("terminals.id"), primary_key=True),
    Column("received_at", UTCDateTime(), nullable=False),
    Column("started_at", UTCDateTime(), nullable=False),
    Column("late", Boolean, nullable=False),
    Column("ok", Boolean, nullable=False),
    Column("latency_ms", Integer, nullable=True),
    Column("clock_offset_ms", BigInteger, nullable=True),
    Column("software_version", String(32), nullable=False),
    Column("crl_version", String(64), nullable=True),
    Column("checks", Text, nullable=False),  # the checklist as the terminal sent it (JSON)
    Column("body_hash", String(64), nullable=False),
)
Index("ix_conntest_reports_test_latency", conntest_reports.c.test_id, conntest_reports.c.latency_ms)


# The checks that failed, one row each: what "failures by reason" counts.
conntest_failures = Table(
    "conntest_failures",
    metadata,
    Column("test_id", Id, primary_key=True),
    Column("terminal_id", String(16), primary_key=True),
    Column("check_name", String(16), primary_key=True),
    Column("code", String(48), nullable=False),
    Column("detail", String(200), nullable=False),
    ForeignKeyConstraint(
        ["test_id", "terminal_id"], ["conntest_reports.test_id", "conntest_reports.terminal_id"]
    ),
)
