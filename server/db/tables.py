"""The schema, as SQLAlchemy Core tables. Migrations in ``migrations/`` build exactly this."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Date,
    DateTime,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
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


municipalities = Table(
    "municipalities",
    metadata,
    Column("code", String(6), primary_key=True),
    Column("name", String(64), nullable=False),
    Column("prefecture", String(16), nullable=False),
    Column("kana", String(128), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
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

operators = Table(
    "operators",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("name", String(64), nullable=False, unique=True),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("municipality_code", String(6), ForeignKey("municipalities.code"), nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("revoked_at", UTCDateTime(), nullable=True),
)

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
    Column("body_hash", String(64), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("point_code", String(24), ForeignKey("point_codes.code"), nullable=False),
    Column("debit_account_id", Id, ForeignKey("accounts.id"), nullable=False),
    Column("credit_account_id", Id, ForeignKey("accounts.id"), nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("memo", String(200), nullable=True),
    Column("reverses_id", Id, ForeignKey("transfers.id"), nullable=True, unique=True),
    Column("actor", String(80), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    CheckConstraint("amount > 0", name="amount_positive"),
    CheckConstraint("debit_account_id <> credit_account_id", name="distinct_accounts"),
)
Index("ix_transfers_debit", transfers.c.debit_account_id)
Index("ix_transfers_credit", transfers.c.credit_account_id)

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

# --- terminals (shop counters, museum desks, street-office printers) ---------------------------

places = Table(
    "places",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("name", String(128), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("municipality_code", String(6), ForeignKey("municipalities.code"), nullable=False),
    Column("street", String(128), nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
    # The MyKey service the place belongs to (its terminals' lookups answer that service's IDs).
    Column("service_code", String(16), ForeignKey("services.code"), nullable=True),
)

terminals = Table(
    "terminals",
    metadata,
    Column("id", String(16), primary_key=True),
    Column("place_id", String(40), ForeignKey("places.id"), nullable=False),
    Column("name", String(64), nullable=False),
    Column("status", String(16), nullable=False),  # pending | active | revoked
    Column("public_key_pem", Text, nullable=True),
    Column("key_fingerprint", String(64), nullable=True),
    Column("certificate_pem", Text, nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("enrolled_at", UTCDateTime(), nullable=True),
    Column("revoked_at", UTCDateTime(), nullable=True),
    Column("revoke_reason", String(200), nullable=True),
)

enrollment_codes = Table(
    "enrollment_codes",
    metadata,
    Column("code_hash", String(64), primary_key=True),
    Column("terminal_id", String(16), ForeignKey("terminals.id"), nullable=False),
    Column("expires_at", UTCDateTime(), nullable=False),
    Column("used_at", UTCDateTime(), nullable=True),
)

# Nonces of signed terminal requests, kept while a replay could still pass the clock check.
terminal_nonces = Table(
    "terminal_nonces",
    metadata,
    Column("key_id", String(16), primary_key=True),
    Column("nonce", String(64), primary_key=True),
    Column("created", BigInteger, nullable=False),
)
Index("ix_terminal_nonces_created", terminal_nonces.c.created)

# CRLs of user-authentication certificates as the CA signed them: full lists and deltas.
crls = Table(
    "crls",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("kind", String(8), nullable=False),  # full | delta
    Column("number", BigInteger, nullable=False),
    Column("base_number", BigInteger, nullable=True),
    Column("issuer_fingerprint", String(64), nullable=False),
    Column("this_update", UTCDateTime(), nullable=False),
    Column("next_update", UTCDateTime(), nullable=False),
    Column("entries", BigInteger, nullable=False),
    Column("der", LargeBinary, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    UniqueConstraint("issuer_fingerprint", "kind", "number", name="uq_crls_issuer_kind_number"),
)

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

# The version (and ETag) of what terminals download, computed once when it changes, so a poll
# that is "not modified" costs one small read instead of loading every CRL.
download_versions = Table(
    "download_versions",
    metadata,
    Column("name", String(32), primary_key=True),
    Column("version", String(64), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
)

# --- MyKey Platform: IDs bound to card certificates, services, service-ID links -----------------
# Nothing here records a use: a lookup reads these tables and writes none of them.

# A MyKey ID. ``id`` never changes and names the holder's wallets (``mykey:<id>``); ``mykey_id`` is
# what the holder sees and may change; ``folded`` is its uniqueness key (case and look-alikes).
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

# IDs a holder changed away from: nobody else may take one (a shop may still know it).
retired_mykey_ids = Table(
    "retired_mykey_ids",
    metadata,
    Column("folded", String(8), primary_key=True),
    Column("mykey", Id, ForeignKey("mykeys.id"), nullable=False),
    Column("retired_at", UTCDateTime(), nullable=False),
)

# The user-authentication certificates a MyKey ID was bound to: what identifies each (issuer,
# serial, SHA-256), never a name. One is ``current``; renewal makes the old one ``replaced``; the
# CRL sweep marks a revoked one ``revoked``.
mykey_certificates = Table(
    "mykey_certificates",
    metadata,
    Column("sha256", String(64), primary_key=True),
    Column("mykey", Id, ForeignKey("mykeys.id"), nullable=False),
    Column("issuer_fingerprint", String(64), nullable=False),
    Column("serial", String(42), nullable=False),  # hex: RFC 5280 allows 20 octets, past BIGINT
    Column("not_after", UTCDateTime(), nullable=False),
    Column("status", String(16), nullable=False),  # current | replaced | revoked
    Column("bound_at", UTCDateTime(), nullable=False),
    Column("retired_at", UTCDateTime(), nullable=True),
)
Index("ix_mykey_certificates_mykey", mykey_certificates.c.mykey)
Index(
    "ix_mykey_certificates_issuer_serial",
    mykey_certificates.c.issuer_fingerprint,
    mykey_certificates.c.serial,
)

# One-time renewal codes an operator issues after checking identity at the counter (hash only).
mykey_renewal_codes = Table(
    "mykey_renewal_codes",
    metadata,
    Column("code_hash", String(64), primary_key=True),
    Column("mykey", Id, ForeignKey("mykeys.id"), nullable=False),
    Column("expires_at", UTCDateTime(), nullable=False),
    Column("used_at", UTCDateTime(), nullable=True),
    Column("created_by", String(80), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
)

# Who suspended, resumed, renewed or changed a MyKey ID, when and why: an audit, not a record of use.
mykey_audit = Table(
    "mykey_audit",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("mykey", Id, ForeignKey("mykeys.id"), nullable=False),
    Column("action", String(24), nullable=False),
    Column("actor", String(80), nullable=False),
    Column("reason", String(200), nullable=True),
    Column("at", UTCDateTime(), nullable=False),
)
Index("ix_mykey_audit_mykey", mykey_audit.c.mykey)

# Services on the platform: shopping street A1, library A2 ... owned by a municipality.
services = Table(
    "services",
    metadata,
    Column("code", String(16), primary_key=True),
    Column("name", String(128), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("municipality_code", String(6), ForeignKey("municipalities.code"), nullable=False),
    # The service's staff confirm each new link at a terminal of theirs (a library checks its card).
    Column("confirm_links", Boolean, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
)

# A holder's ID at a service (A1 -> 789): one per service and MyKey ID.
service_links = Table(
    "service_links",
    metadata,
    Column("mykey", Id, ForeignKey("mykeys.id"), primary_key=True),
    Column("service_code", String(16), ForeignKey("services.code"), primary_key=True),
    Column("local_id", String(32), nullable=False),
    Column("status", String(16), nullable=False),  # pending | active
    Column("created_at", UTCDateTime(), nullable=False),
    Column("confirmed_at", UTCDateTime(), nullable=True),
)
Index("ix_service_links_service_local", service_links.c.service_code, service_links.c.local_id)

# Challenges handed out and not yet answered. A row holds no terminal and no purpose (those are
# bound by the challenge's MAC): it is deleted when the card's answer is accepted.
card_challenges = Table(
    "card_challenges",
    metadata,
    Column("nonce", String(32), primary_key=True),
    Column("expires_at", UTCDateTime(), nullable=False),
    # Asked for with no credential (a holder's): these count against max_open_challenges.
    Column("anonymous", Boolean, nullable=False, server_default=false()),
)
Index("ix_card_challenges_expires_at", card_challenges.c.expires_at)


# --- points: expiry lots, rules, departments and grants, events, rewards, transit ------------------

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
# By account: every lot (not only open ones), so that taking points from a lot, which changes
# only ``remaining``, leaves this index alone. By expiry: open lots only, for the sweep.
Index("ix_lots_account", lots.c.account_id, lots.c.expires_at)
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

# --- the counter --------------------------------------------------------------------------------

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

# --- paper vouchers: the server's voucher keys, vouchers, shops' phone links ------------

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

# --- the nationwide connection test (全国一斉同時アクセステスト) ------------------------------------

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

# --- partner points: partners, member links, conversions on hold, premiums, coupons -----

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

# Requests counted per bucket in a fixed window (``server.mykey.throttles``): challenges per
# client address (its keyed hash, never the address), MyKey ID change tries per holder.
throttle_counts = Table(
    "throttle_counts",
    metadata,
    Column("bucket", String(80), primary_key=True),
    Column("window_start", UTCDateTime(), nullable=False),
    Column("count", Integer, nullable=False),
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

# --- settlement (会計データ連携) and the shopping-street points migration -------------------

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
Index("ix_transfers_point_code_created_at", transfers.c.point_code, transfers.c.created_at)

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

# The audit trail: every state change made by an operator, partner or staff member, in the same
# transaction as the change (append-only: the database refuses UPDATE and DELETE). Who, what, on
# which municipality's behalf, the request it came with and the reason given. MyKey lookups are
# never here: the platform keeps no record of use.
audit_log = Table(
    "audit_log",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("at", UTCDateTime(), nullable=False),
    Column("actor", String(80), nullable=False),
    Column("municipality_code", String(6), nullable=True),
    Column("action", String(80), nullable=False),
    Column("target", String(200), nullable=False),
    Column("request_id", String(64), nullable=False),
    Column("reason", String(500), nullable=True),
)
Index("ix_audit_log_municipality_at", audit_log.c.municipality_code, audit_log.c.at)
Index("ix_audit_log_at", audit_log.c.at)

# --- web logins (``server.logins``): residents on My Page, staff on the console ---------------

# One login per person of a kind: ``subject`` is the resident's MyKey row id or the staff member's
# id; ``login_key`` is the login ID folded for case (unique per kind), ``login_id`` as typed.
# Only the password's argon2id hash is kept (none for a passkey-only login).
login_accounts = Table(
    "login_accounts",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("kind", String(16), nullable=False),  # resident | staff
    Column("subject", String(80), nullable=False),
    Column("login_id", String(64), nullable=False),
    Column("login_key", String(64), nullable=False),
    Column("password_hash", String(200), nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("login_id_changed_at", UTCDateTime(), nullable=True),
    UniqueConstraint("kind", "login_key", name="uq_login_accounts_kind_login_key"),
    UniqueConstraint("kind", "subject", name="uq_login_accounts_kind_subject"),
)

# A passkey (WebAuthn credential) of a login: its id, public key (COSE) and signature counter.
login_passkeys = Table(
    "login_passkeys",
    metadata,
    Column("credential_id", String(700), primary_key=True),  # base64url
    Column("account", Id, ForeignKey("login_accounts.id"), nullable=False, index=True),
    Column("public_key", LargeBinary, nullable=False),
    Column("sign_count", BigInteger, nullable=False),
    Column("name", String(80), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("last_used_at", UTCDateTime(), nullable=True),
)

# A logged-in browser: only the SHA-256 of its cookie's token is kept. Ends when ended (logout,
# log out everywhere), after ``idle`` without a request, or at ``expires_at`` whatever happens.
login_sessions = Table(
    "login_sessions",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("account", Id, ForeignKey("login_accounts.id"), nullable=False, index=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("last_seen_at", UTCDateTime(), nullable=False),
    Column("expires_at", UTCDateTime(), nullable=False),
    Column("ended_at", UTCDateTime(), nullable=True),
    Column("user_agent", String(200), nullable=False),
)

# One-time tokens (activation codes, login links, invitations): the SHA-256 only, single use.
login_tokens = Table(
    "login_tokens",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("purpose", String(24), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("subject", String(80), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("expires_at", UTCDateTime(), nullable=False),
    Column("used_at", UTCDateTime(), nullable=True),
)
