"""The platform's tables: municipalities, operators, places, terminals and their nonces, CRLs,
MyKey IDs with their certificates, services and links, challenges, throttles, the audit log.

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
    LargeBinary,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
)

from server.db.tables import Id, UTCDateTime, metadata

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


# The version (and ETag) of what terminals download, computed once when it changes, so a poll
# that is "not modified" costs one small read instead of loading every CRL.
download_versions = Table(
    "download_versions",
    metadata,
    Column("name", String(32), primary_key=True),
    Column("version", String(64), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
)


# What a terminal's config download is computed from (point rules and their places, point codes,
# agreements, places, price lists) changes in the same transaction as this counter is bumped: a
# server process keeps the computed part per (place, version) and reads only the version per download.
config_versions = Table(
    "config_versions",
    metadata,
    Column("name", String(32), primary_key=True),
    Column("version", BigInteger, nullable=False),
    Column("changed_at", UTCDateTime(), nullable=False),
)


# MyKey IDs: nothing here records a use: a lookup reads these tables and writes none of them.
# (``mykeys`` itself is the ledger's: it names a holder's wallets.)
#
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


# Requests counted per bucket in a fixed window (``server.platform.mykey.throttles``): challenges per
# client address (its keyed hash, never the address), MyKey ID change tries per holder.
throttle_counts = Table(
    "throttle_counts",
    metadata,
    Column("bucket", String(80), primary_key=True),
    Column("window_start", UTCDateTime(), nullable=False),
    Column("count", Integer, nullable=False),
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
