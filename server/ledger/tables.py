"""The ledger's tables: accounts, transfers, expiry lots and their moves, point codes (the
ledger's currencies), MyKey IDs (the names of holders' wallets), closed settlement periods
(written by ``periods``).

On the one metadata (``server.db.tables``): the alembic chain in ``server/db/migrations`` builds them.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    UniqueConstraint,
)

from server.db.tables import Id, UTCDateTime, metadata

# Accounts keep TigerBeetle-style posted totals, updated in the same transaction as the transfer
# rows; `mkp-admin ledger verify` proves they equal the sums over the transfers.
accounts = Table(
    "accounts",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("owner", String(80), nullable=False),
    Column("point_code", String(24), ForeignKey("point_codes.code"), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("debits_posted", BigInteger, nullable=False, server_default="0"),
    Column("credits_posted", BigInteger, nullable=False, server_default="0"),
    Column("created_at", UTCDateTime(), nullable=False),
    # The lowest balance the account may reach (a department's budget, negated); NULL: its kind's rule.
    Column("floor", BigInteger, nullable=True),
    UniqueConstraint("owner", "point_code", name="uq_accounts_owner_point_code"),
)


transfers = Table(
    "transfers",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("client_id", String(160), nullable=False, unique=True),
    # What a retry with the client id must repeat (``TransferRequest.body_hash``); NULL where the
    # row itself says it (migration 0023): most rows, then compared by the hash of what they say.
    Column("body_hash", String(64), nullable=True),
    Column("kind", String(16), nullable=False),
    # No foreign keys on these three (migration 0019): the ledger writes only accounts it has
    # just locked and point codes it has just found; the database refuses deleting either, and
    # `mkp-admin ledger verify` reports a transfer whose account or point code is missing.
    Column("point_code", String(24), nullable=False),
    Column("debit_account_id", Id, nullable=False),
    Column("credit_account_id", Id, nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("memo", String(200), nullable=True),
    Column("reverses_id", Id, ForeignKey("transfers.id"), nullable=True, unique=True),
    Column("actor", String(80), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    CheckConstraint("amount > 0", name="amount_positive"),
    CheckConstraint("debit_account_id <> credit_account_id", name="distinct_accounts"),
)
# Only what a query reads transfers by (each index is written with every transfer): the client
# id and ``reverses_id`` above, point code and time (settlement, reports), and each side's
# account (a wallet's history on My Page, newest first).
Index("ix_transfers_point_code_created_at", transfers.c.point_code, transfers.c.created_at)
Index("ix_transfers_debit", transfers.c.debit_account_id, transfers.c.id)
Index("ix_transfers_credit", transfers.c.credit_account_id, transfers.c.id)


# Every credit to a wallet is a lot with the expiry the rule in force gave it; debits take lots,
# earliest-expiring first. ``remaining`` is kept beside the transfers in the same transaction, as
# the accounts' posted totals are; `ledger verify` proves it equals ``amount`` minus the lot's
# moves, and that a wallet's lots sum to its balance.
lots = Table(
    "lots",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("account_id", Id, ForeignKey("accounts.id"), nullable=False),
    # The credit that made the lot; NULL for a balance migration 0005 carried over.
    Column("transfer_id", Id, ForeignKey("transfers.id"), nullable=True),
    # The first instant the points are no longer valid; NULL: they never expire.
    Column("expires_at", UTCDateTime(), nullable=True),
    Column("amount", BigInteger, nullable=False),
    Column("remaining", BigInteger, nullable=False),
    CheckConstraint("amount > 0", name="amount_positive"),
    CheckConstraint("remaining >= 0 AND remaining <= amount", name="remaining_in_range"),
)
# Open lots only, by account (what a debit loads: a wallet's emptied lots pile up over the years)
# and by expiry (the sweep).
Index(
    "ix_lots_open_by_account",
    lots.c.account_id,
    lots.c.expires_at,
    sqlite_where=lots.c.remaining > 0,
    postgresql_where=lots.c.remaining > 0,
)
Index(
    "ix_lots_open_by_expiry",
    lots.c.expires_at,
    sqlite_where=lots.c.remaining > 0,
    postgresql_where=lots.c.remaining > 0,
)
Index("ix_lots_transfer", lots.c.transfer_id)


# Which lots each transfer took points from (amount > 0) or gave back to (< 0, a reversal):
# append-only, like the transfers. A refund restores exactly the lots its spend took.
lot_moves = Table(
    "lot_moves",
    metadata,
    Column("transfer_id", Id, ForeignKey("transfers.id"), primary_key=True),
    Column("lot_id", Id, ForeignKey("lots.id"), primary_key=True),
    Column("amount", BigInteger, nullable=False),
    CheckConstraint("amount <> 0", name="amount_not_zero"),
)


point_codes = Table(
    "point_codes",
    metadata,
    Column("code", String(24), primary_key=True),
    Column("municipality_code", String(6), ForeignKey("municipalities.code"), nullable=False),
    Column("name", String(128), nullable=False),
    Column("kind", String(16), nullable=False),  # general | event
    Column("created_at", UTCDateTime(), nullable=False),
)


# A municipality's settlement period (a JST month, "2026-11") closed: never updated or deleted.
# ``watermark`` is the largest transfer id when it closed (server.ledger.periods says which
# transfers a period holds); ``settlement_lines`` is its statement as it stood then.
settlement_closes = Table(
    "settlement_closes",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("municipality_code", String(6), ForeignKey("municipalities.code"), nullable=False),
    Column("period", String(7), nullable=False),
    Column("watermark", BigInteger, nullable=False),
    Column("closed_by", String(80), nullable=False),
    Column("closed_at", UTCDateTime(), nullable=False),
    UniqueConstraint("municipality_code", "period", name="uq_settlement_closes_municipality_period"),
)


settlement_lines = Table(
    "settlement_lines",
    metadata,
    Column("close_id", Id, ForeignKey("settlement_closes.id"), primary_key=True),
    Column("point_code", String(24), ForeignKey("point_codes.code"), primary_key=True),
    Column("owner", String(80), primary_key=True),  # an account owner, or "mykey:*" for all wallets
    Column("debits", BigInteger, nullable=False),
    Column("credits", BigInteger, nullable=False),
    Column("transfers", BigInteger, nullable=False),
)


# A MyKey ID. ``id`` never changes and names the holder's wallets (``mykey:<id>``); ``mykey_id`` is
# what the holder sees and may change; ``folded`` is its uniqueness key (case and look-alikes).
# Here because the ledger names a wallet by it in a refusal; MyKey (on the platform) keeps it.
mykeys = Table(
    "mykeys",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("mykey_id", String(8), nullable=False),
    Column("folded", String(8), nullable=False, unique=True),
    Column("status", String(16), nullable=False),  # active | suspended
    Column("changes_left", Integer, nullable=False),
    Column("home_municipality", String(6), ForeignKey("municipalities.code"), nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("suspended_at", UTCDateTime(), nullable=True),
    Column("suspend_reason", String(32), nullable=True),
)
