"""Partner points: partners, member links, premiums, coupons, conversions on hold.

On the one metadata (``server.db.tables``): the alembic chain in ``server/db/migrations`` builds them.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from server.db.tables import Id, UTCDateTime, metadata

# A partner company (an airline, a card issuer): its rate, its hold, the public key it signs with.
partners = Table(
    "partners",
    metadata,
    Column("id", String(8), primary_key=True),  # ANA: its requests are signed as key id partner:ANA
    Column("name", String(64), nullable=False),
    Column("rate_from", BigInteger, nullable=False),  # so many partner points ...
    Column("rate_to", BigInteger, nullable=False),  # ... make so many municipal points
    Column("hold_days", Integer, nullable=False),
    Column("public_key_pem", Text, nullable=False),
    Column("status", String(16), nullable=False),  # active | revoked
    Column("created_at", UTCDateTime(), nullable=False),
    Column("revoked_at", UTCDateTime(), nullable=True),
)


# A partner member number linked to a MyKey ID: asked for with the card (which gives the holder a
# one-time link code, kept here as its hash), confirmed by the partner with that code. Several
# holders may ask for one member number; only one link of it is active.
partner_links = Table(
    "partner_links",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("partner_id", String(8), ForeignKey("partners.id"), nullable=False),
    Column("member", String(64), nullable=False),
    Column("mykey", Id, ForeignKey("mykeys.id"), nullable=False),
    Column("status", String(16), nullable=False),  # pending | active
    Column("created_at", UTCDateTime(), nullable=False),
    Column("confirmed_at", UTCDateTime(), nullable=True),
    Column("code_hash", String(64), nullable=True),  # SHA-256 of the request's link code
    Column("code_expires_at", UTCDateTime(), nullable=True),
    UniqueConstraint("partner_id", "mykey", name="uq_partner_links_mykey"),
)
Index(
    "uq_partner_links_active_member",
    partner_links.c.partner_id,
    partner_links.c.member,
    unique=True,
    sqlite_where=partner_links.c.status == "active",
    postgresql_where=partner_links.c.status == "active",
)
# A conversion looks its member up among links of every status (pending ones are refused by name).
Index("ix_partner_links_member", partner_links.c.partner_id, partner_links.c.member)


# A premium campaign: a bonus on conversions in a period, capped per holder and in total.
premium_campaigns = Table(
    "premium_campaigns",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("partner_id", String(8), ForeignKey("partners.id"), nullable=False),
    Column("name", String(64), nullable=False),
    Column("percent", Integer, nullable=True),  # a percentage of the converted points ...
    Column("fixed", BigInteger, nullable=True),  # ... or a fixed bonus a conversion
    Column("starts_at", UTCDateTime(), nullable=False),
    Column("ends_at", UTCDateTime(), nullable=False),
    Column("cap_per_holder", BigInteger, nullable=True),
    Column("budget", BigInteger, nullable=False),
    Column("used", BigInteger, nullable=False),
    Column("funded_by", String(16), nullable=False),  # partner | municipality
    Column("municipality_code", String(6), ForeignKey("municipalities.code"), nullable=True),
    Column("created_by", String(80), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
)
# Every conversion asks for its partner's campaigns still running: not a walk of every campaign.
Index("ix_premium_campaigns_partner", premium_campaigns.c.partner_id, premium_campaigns.c.ends_at)


# A batch of single-use coupon codes a partner asked for (the codes only as hashes, in ``coupons``).
coupon_batches = Table(
    "coupon_batches",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("partner_id", String(8), ForeignKey("partners.id"), nullable=False),
    Column("points", BigInteger, nullable=False),
    Column("count", Integer, nullable=False),
    Column("expires_at", UTCDateTime(), nullable=False),
    Column("cancelled_at", UTCDateTime(), nullable=True),
    Column("created_by", String(80), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
)


coupons = Table(
    "coupons",
    metadata,
    Column("code_hash", String(64), primary_key=True),
    Column("batch_id", Id, ForeignKey("coupon_batches.id"), nullable=False),
    Column("status", String(16), nullable=False),  # issued | redeemed | cancelled
    Column("redeemed_at", UTCDateTime(), nullable=True),
)


# Wrong coupon codes per source (a holder, a terminal) in the current window: the throttle.
coupon_failures = Table(
    "coupon_failures",
    metadata,
    Column("source", String(80), primary_key=True),
    Column("window_start", UTCDateTime(), nullable=False),
    Column("failures", Integer, nullable=False),
)


# Partner points converted (online, or a redeemed coupon): on hold in ``holding:<mykey>`` until
# ``due_at``, then released to the holder's wallet with their expiry. One row per conversion.
conversions = Table(
    "conversions",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("partner_id", String(8), ForeignKey("partners.id"), nullable=False),
    Column("order_id", String(64), nullable=True),  # the partner's (online), None for a coupon
    Column("coupon_hash", String(64), ForeignKey("coupons.code_hash"), nullable=True, unique=True),
    Column("mykey", Id, ForeignKey("mykeys.id"), nullable=False),
    Column("point_code", String(24), ForeignKey("point_codes.code"), nullable=False),
    Column("partner_amount", BigInteger, nullable=True),  # in the partner's own points
    Column("points", BigInteger, nullable=False),
    Column("premium", BigInteger, nullable=False),
    Column("campaign_id", Id, ForeignKey("premium_campaigns.id"), nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("due_at", UTCDateTime(), nullable=False),
    Column("released_at", UTCDateTime(), nullable=True),
    UniqueConstraint("partner_id", "order_id", name="uq_conversions_order"),
)
Index("ix_conversions_due_at", conversions.c.due_at)
Index("ix_conversions_mykey", conversions.c.mykey)
