"""Paper vouchers: the server's voucher keys, the vouchers, shops' phone links.

On the one metadata (``server.db.tables``): the alembic chain in ``server/db/migrations`` builds them.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    String,
    Table,
    Text,
)

from server.db.tables import Id, UTCDateTime, metadata

# The server's Ed25519 voucher signing keys: the public half here (what the terminals' trust list
# publishes), the private half a 0600 file in the secrets folder. The newest key neither retired
# nor withdrawn signs; a retired key still verifies what it signed before ``retired_at``; a
# withdrawn one verifies nothing.
voucher_keys = Table(
    "voucher_keys",
    metadata,
    Column("key_id", String(8), primary_key=True),
    Column("public_key_pem", Text, nullable=False),
    Column("valid_from", UTCDateTime(), nullable=False),
    Column("retired_at", UTCDateTime(), nullable=True),
    Column("withdrawn_at", UTCDateTime(), nullable=True),
    Column("withdraw_reason", String(200), nullable=True),
    Column("created_by", String(80), nullable=False),
)


# One row per voucher printed (or about to be). Its points sit in ``voucher:<municipality>`` from
# issue until it is redeemed (to the place), voided (back to where they came from) or expires (to
# the municipality). ``status`` moves issued -> printed -> redeemed | voided | expired, each move
# a conditional UPDATE on the old status: a serial is redeemed once, whoever races for it.
vouchers = Table(
    "vouchers",
    metadata,
    Column("serial", String(20), primary_key=True),  # 10 bytes in hex (printed as Crockford Base32)
    Column("point_code", String(24), ForeignKey("point_codes.code"), nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("issued_at", UTCDateTime(), nullable=False),
    Column("expires_at", UTCDateTime(), nullable=False),
    Column("key_id", String(8), ForeignKey("voucher_keys.key_id"), nullable=False),
    Column("status", String(16), nullable=False),  # issued | printed | redeemed | voided | expired
    Column("batch", String(64), nullable=True),  # the client id of the batch (or resident issue)
    Column("source", String(80), nullable=False),  # the account the points came from
    Column("issue_transfer_id", Id, ForeignKey("transfers.id"), nullable=False, unique=True),
    Column("printed_at", UTCDateTime(), nullable=True),
    Column("voided_at", UTCDateTime(), nullable=True),
    Column("void_reason", String(32), nullable=True),
    Column("replaced_by", String(20), nullable=True),  # a reprint's new serial
    Column("redeemed_at", UTCDateTime(), nullable=True),
    Column("redeemed_place", String(40), ForeignKey("places.id"), nullable=True),
    Column("redeemed_by", String(80), nullable=True),  # terminal:<id> or phone:<place>
    Column("closing_transfer_id", Id, ForeignKey("transfers.id"), nullable=True, unique=True),
    Column("created_by", String(80), nullable=False),
    CheckConstraint("amount > 0", name="amount_positive"),
)
Index("ix_vouchers_open_by_expiry", vouchers.c.status, vouchers.c.expires_at)
Index("ix_vouchers_batch", vouchers.c.batch)


# A shop without a terminal redeems on its phone through a link an operator issued for the place;
# only the token's hash is kept (the link is shown once).
voucher_phone_links = Table(
    "voucher_phone_links",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("place_id", String(40), ForeignKey("places.id"), nullable=False),
    Column("created_by", String(80), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("revoked_at", UTCDateTime(), nullable=True),
)
