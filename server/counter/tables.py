"""The counter's tables: offline entries, terminal status, staff contacts.

On the one metadata (``server.db.tables``): the alembic chain in ``server/db/migrations`` builds them.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
)

from server.db.tables import Id, UTCDateTime, metadata

# Offline spends as the server received them, once each (by client id): accepted with the
# transfer they became, or refused with the reason (the exceptions report). Never updated.
offline_entries = Table(
    "offline_entries",
    metadata,
    Column("client_id", String(160), primary_key=True),
    Column("terminal_id", String(16), ForeignKey("terminals.id"), nullable=False),
    Column("seq", BigInteger, nullable=False),
    Column("place_id", String(40), nullable=True),
    Column("amount", BigInteger, nullable=True),
    Column("item", String(32), nullable=True),
    Column("taken_at", UTCDateTime(), nullable=True),  # the terminal's clock
    Column("received_at", UTCDateTime(), nullable=False),
    Column("status", String(16), nullable=False),  # accepted | refused
    Column("transfer_id", Id, ForeignKey("transfers.id"), nullable=True),
    Column("mykey", Id, ForeignKey("mykeys.id"), nullable=True),
    Column("code", String(64), nullable=True),
    Column("message", String(400), nullable=True),
    Column("kind", String(16), nullable=False, server_default="spend"),  # spend | voucher (0009)
    Column("voucher_serial", String(20), nullable=True),  # a voucher entry's serial, hex
)
Index("ix_offline_entries_status", offline_entries.c.status, offline_entries.c.received_at)
Index("ix_offline_entries_terminal_id", offline_entries.c.terminal_id, offline_entries.c.seq)


# Each terminal's last heartbeat: what the operator sees of a counter (one row per terminal).
terminal_status = Table(
    "terminal_status",
    metadata,
    Column("terminal_id", String(16), ForeignKey("terminals.id"), primary_key=True),
    Column("seen_at", UTCDateTime(), nullable=False),
    Column("version", String(40), nullable=True),
    Column("reader", String(200), nullable=True),
    Column("printer", String(200), nullable=True),
    Column("queue_pending", Integer, nullable=False),
    Column("queue_amount", BigInteger, nullable=False),
    Column("queue_oldest", UTCDateTime(), nullable=True),
    Column("crl_this_update", UTCDateTime(), nullable=True),
)


# A terminal's contacts with the server since the last one at which nothing of its offline queue
# waited (a heartbeat with ``queue_pending`` 0, ``queue_clear``): the bounds of its offline entries'
# times (server/counter/contacts.py). A clear contact replaces the terminal's rows (0015).
terminal_contacts = Table(
    "terminal_contacts",
    metadata,
    Column("terminal_id", String(16), ForeignKey("terminals.id"), primary_key=True),
    Column("at", UTCDateTime(), primary_key=True),
    Column("queue_clear", Boolean, nullable=False),
)
