"""The point domains' tables: rules and agreements, departments and grants, price lists, events,
rewards, transit exchanges.

On the one metadata (``server.db.tables``): the alembic chain in ``server/db/migrations`` builds them.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    UniqueConstraint,
)

from server.db.tables import Id, UTCDateTime, metadata

# A point code's rules, versioned: the version in force at an instant is the newest whose
# ``effective_from`` is not after it. Versions are never changed; a change is a new version.
point_rules = Table(
    "point_rules",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("point_code", String(24), ForeignKey("point_codes.code"), nullable=False),
    Column("effective_from", UTCDateTime(), nullable=False),
    # Place kinds (comma-separated) whose places of the municipality, or of a municipality that
    # agreed (たすきがけ), accept the points; listed places accept them wherever they are.
    Column("place_kinds", String(128), nullable=False),
    Column("expiry_policy", String(16), nullable=False),  # none | days | month_end | fixed
    Column("expiry_count", Integer, nullable=True),  # N of "N days" / "end of month + N months"
    Column("expiry_date", Date, nullable=True),  # the last valid day of a fixed expiry
    Column("min_amount", BigInteger, nullable=False),
    Column("max_amount", BigInteger, nullable=True),
    Column("vouchers", Boolean, nullable=False),
    Column("created_by", String(80), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    UniqueConstraint("point_code", "effective_from", name="uq_point_rules_point_code_effective_from"),
)


point_rule_places = Table(
    "point_rule_places",
    metadata,
    Column("rule_id", Id, ForeignKey("point_rules.id"), primary_key=True),
    Column("place_id", String(40), ForeignKey("places.id"), primary_key=True),
)


# たすきがけ: A's points usable at B's places. In force only while both municipalities have recorded it.
agreements = Table(
    "agreements",
    metadata,
    Column("points_of", String(6), ForeignKey("municipalities.code"), primary_key=True),
    Column("usable_in", String(6), ForeignKey("municipalities.code"), primary_key=True),
    Column("points_of_recorded_at", UTCDateTime(), nullable=True),
    Column("usable_in_recorded_at", UTCDateTime(), nullable=True),
    Column("ended_at", UTCDateTime(), nullable=True),
    Column("ended_by", String(6), nullable=True),
)


# A municipality's departments (原課). The budget is the floor of the department's ledger account.
departments = Table(
    "departments",
    metadata,
    Column("id", String(40), primary_key=True),  # "<municipality>-<code>"
    Column("municipality_code", String(6), ForeignKey("municipalities.code"), nullable=False),
    Column("name", String(128), nullable=False),
    Column("point_code", String(24), ForeignKey("point_codes.code"), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
)


grant_kinds = Table(
    "grant_kinds",
    metadata,
    Column("department_id", String(40), ForeignKey("departments.id"), primary_key=True),
    Column("code", String(32), primary_key=True),
    Column("name", String(128), nullable=False),
    Column("max_amount", BigInteger, nullable=True),  # the most one grant of this kind may give
    Column("created_at", UTCDateTime(), nullable=False),
)


# One CSV file applied: its SHA-256 is the batch's key (its rows' transfers are "<hash>/<row>").
grant_batches = Table(
    "grant_batches",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("file_sha256", String(64), nullable=False, unique=True),
    Column("department_id", String(40), ForeignKey("departments.id"), nullable=False),
    Column("filename", String(200), nullable=True),
    Column("rows", Integer, nullable=False),
    Column("holders", Integer, nullable=False),
    Column("points", BigInteger, nullable=False),
    Column("actor", String(80), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
)


# What a grant transfer was for: the department and grant kind the 業務支援 reports add up.
grants = Table(
    "grants",
    metadata,
    Column("transfer_id", Id, ForeignKey("transfers.id"), primary_key=True),
    Column("department_id", String(40), ForeignKey("departments.id"), nullable=False),
    Column("grant_kind", String(32), nullable=False),
    Column("batch_id", Id, ForeignKey("grant_batches.id"), nullable=True),
    Column("line", Integer, nullable=True),
)
Index("ix_grants_department_kind", grants.c.department_id, grants.c.grant_kind)


# A place's price list (a museum's admission: 一般 500, 高校生 300); a spend may name an item.
price_items = Table(
    "price_items",
    metadata,
    Column("place_id", String(40), ForeignKey("places.id"), primary_key=True),
    Column("code", String(32), primary_key=True),
    Column("name", String(64), nullable=False),
    Column("price", BigInteger, nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
)


# An event point code's pool: supporters direct points to it; it is handed over to the organiser.
events = Table(
    "events",
    metadata,
    Column("point_code", String(24), ForeignKey("point_codes.code"), primary_key=True),
    Column("organiser", String(40), ForeignKey("places.id"), nullable=False),
    Column("status", String(16), nullable=False),  # open | handed_over
    Column("created_at", UTCDateTime(), nullable=False),
    Column("handed_over_at", UTCDateTime(), nullable=True),
    Column("handover_transfer_id", Id, ForeignKey("transfers.id"), nullable=True),
)


# Who supported an event: the MyKey ID's number and the nickname the supporter chose, nothing more.
event_supports = Table(
    "event_supports",
    metadata,
    Column("transfer_id", Id, ForeignKey("transfers.id"), primary_key=True),
    Column("point_code", String(24), ForeignKey("events.point_code"), nullable=False),
    Column("mykey", Id, ForeignKey("mykeys.id"), nullable=False),
    Column("nickname", String(32), nullable=True),
)
Index("ix_event_supports_point_code", event_supports.c.point_code)


# Special rewards (特典): what points can buy that money cannot. ``claimed`` never passes ``stock``.
rewards = Table(
    "rewards",
    metadata,
    Column("code", String(32), primary_key=True),
    Column("municipality_code", String(6), ForeignKey("municipalities.code"), nullable=False),
    Column("point_code", String(24), ForeignKey("point_codes.code"), nullable=False),
    Column("name", String(128), nullable=False),
    Column("description", String(400), nullable=True),
    Column("price", BigInteger, nullable=False),
    Column("stock", Integer, nullable=False),
    Column("claimed", Integer, nullable=False),
    Column("per_holder", Integer, nullable=False),
    Column("starts_at", UTCDateTime(), nullable=False),
    Column("ends_at", UTCDateTime(), nullable=False),
    # The shop that hands the reward over and is paid for it; NULL: the points go back to the municipality.
    Column("place_id", String(40), ForeignKey("places.id"), nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
    CheckConstraint("claimed >= 0 AND claimed <= stock", name="claimed_within_stock"),
)


reward_claims = Table(
    "reward_claims",
    metadata,
    Column("claim_number", String(48), primary_key=True),
    Column("reward_code", String(32), ForeignKey("rewards.code"), nullable=False),
    Column("mykey", Id, ForeignKey("mykeys.id"), nullable=False),
    Column("transfer_id", Id, ForeignKey("transfers.id"), nullable=False, unique=True),
    Column("claimed_at", UTCDateTime(), nullable=False),
)
Index("ix_reward_claims_reward_mykey", reward_claims.c.reward_code, reward_claims.c.mykey)


# Points exchanged to a transit card in the back office: the card number the company loads them onto.
transit_exchanges = Table(
    "transit_exchanges",
    metadata,
    Column("transfer_id", Id, ForeignKey("transfers.id"), primary_key=True),
    Column("place_id", String(40), ForeignKey("places.id"), nullable=False),
    Column("card_number", String(32), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
)
Index("ix_transit_exchanges_place_created", transit_exchanges.c.place_id, transit_exchanges.c.created_at)
