"""MyKey Platform: MyKey IDs and their certificates, services and service-ID links, one-time
card challenges, renewal codes and the suspension audit; places belong to a service.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)
Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "mykeys",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("mykey_id", sa.String(8), nullable=False),
        sa.Column("folded", sa.String(8), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("changes_left", sa.Integer, nullable=False),
        sa.Column("home_municipality", sa.String(6), sa.ForeignKey("municipalities.code"), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("suspended_at", TS, nullable=True),
        sa.Column("suspend_reason", sa.String(32), nullable=True),
        sa.UniqueConstraint("folded", name="uq_mykeys_folded"),
    )
    op.create_table(
        "retired_mykey_ids",
        sa.Column("folded", sa.String(8), primary_key=True),
        sa.Column("mykey", Id, sa.ForeignKey("mykeys.id"), nullable=False),
        sa.Column("retired_at", TS, nullable=False),
    )
    op.create_table(
        "mykey_certificates",
        sa.Column("sha256", sa.String(64), primary_key=True),
        sa.Column("mykey", Id, sa.ForeignKey("mykeys.id"), nullable=False),
        sa.Column("issuer_fingerprint", sa.String(64), nullable=False),
        sa.Column("serial", sa.String(42), nullable=False),
        sa.Column("not_after", TS, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("bound_at", TS, nullable=False),
        sa.Column("retired_at", TS, nullable=True),
    )
    op.create_index("ix_mykey_certificates_mykey", "mykey_certificates", ["mykey"])
    op.create_index(
        "ix_mykey_certificates_issuer_serial", "mykey_certificates", ["issuer_fingerprint", "serial"]
    )
    op.create_table(
        "mykey_renewal_codes",
        sa.Column("code_hash", sa.String(64), primary_key=True),
        sa.Column("mykey", Id, sa.ForeignKey("mykeys.id"), nullable=False),
        sa.Column("expires_at", TS, nullable=False),
        sa.Column("used_at", TS, nullable=True),
        sa.Column("created_by", sa.String(80), nullable=False),
        sa.Column("created_at", TS, nullable=False),
    )
    op.create_table(
        "mykey_audit",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("mykey", Id, sa.ForeignKey("mykeys.id"), nullable=False),
        sa.Column("action", sa.String(24), nullable=False),
        sa.Column("actor", sa.String(80), nullable=False),
        sa.Column("reason", sa.String(200), nullable=True),
        sa.Column("at", TS, nullable=False),
    )
    op.create_index("ix_mykey_audit_mykey", "mykey_audit", ["mykey"])
    op.create_table(
        "services",
        sa.Column("code", sa.String(16), primary_key=True),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("municipality_code", sa.String(6), sa.ForeignKey("municipalities.code"), nullable=False),
        sa.Column("confirm_links", sa.Boolean, nullable=False),
        sa.Column("created_at", TS, nullable=False),
    )
    op.create_table(
        "service_links",
        sa.Column("mykey", Id, sa.ForeignKey("mykeys.id"), primary_key=True),
        sa.Column("service_code", sa.String(16), sa.ForeignKey("services.code"), primary_key=True),
        sa.Column("local_id", sa.String(32), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("confirmed_at", TS, nullable=True),
    )
    op.create_index("ix_service_links_service_local", "service_links", ["service_code", "local_id"])
    op.create_table(
        "card_challenges",
        sa.Column("nonce", sa.String(32), primary_key=True),
        sa.Column("expires_at", TS, nullable=False),
    )
    op.create_index("ix_card_challenges_expires_at", "card_challenges", ["expires_at"])
    # SQLite: a plain ADD COLUMN with its REFERENCES clause (a batch copy of places would drop the
    # table that terminals refer to, which SQLite's foreign keys refuse).
    if op.get_bind().dialect.name == "sqlite":
        op.execute("ALTER TABLE places ADD COLUMN service_code VARCHAR(16) REFERENCES services (code)")
    else:
        op.add_column("places", sa.Column("service_code", sa.String(16), nullable=True))
        op.create_foreign_key(
            "fk_places_service_code_services", "places", "services", ["service_code"], ["code"]
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.drop_constraint("fk_places_service_code_services", "places", type_="foreignkey")
    op.drop_column("places", "service_code")
    for table in (
        "card_challenges",
        "service_links",
        "services",
        "mykey_audit",
        "mykey_renewal_codes",
        "mykey_certificates",
        "retired_mykey_ids",
        "mykeys",
    ):
        op.drop_table(table)
