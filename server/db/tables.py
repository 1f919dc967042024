"""The schema, as SQLAlchemy Core tables. Migrations in ``migrations/`` build exactly this."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
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


class UTCDateTime(TypeDecorator):
    """Timestamps come back aware in UTC on both databases (SQLite alone hands back naive ones)."""

    impl = DateTime(timezone=True)
    cache_ok = True

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
    UniqueConstraint("owner", "point_code", name="uq_accounts_owner_point_code"),
)

transfers = Table(
    "transfers",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("client_id", String(64), nullable=False, unique=True),
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
    Column("client_id", String(64), primary_key=True),
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
)
Index("ix_card_challenges_expires_at", card_challenges.c.expires_at)
