"""Hardening: releases kept in the database, stored download versions, TRUNCATE refused on
transfers (PostgreSQL), and no enrollment code left in stored idempotent replies.

Revision ID: 0003
Revises: 0002
"""

import json

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)
ENROLLMENT_REPLY = {"code", "terminal_id", "place", "name", "expires_at"}


def upgrade() -> None:
    op.create_table(
        "releases",
        sa.Column("version", sa.String(32), primary_key=True),
        sa.Column("manifest", sa.LargeBinary, nullable=False),
        sa.Column("signature", sa.LargeBinary, nullable=False),
        sa.Column("published_at", TS, nullable=False),
        sa.Column("withdrawn_at", TS, nullable=True),
        sa.Column("withdraw_reason", sa.String(200), nullable=True),
    )
    op.create_table(
        "download_versions",
        sa.Column("name", sa.String(32), primary_key=True),
        sa.Column("version", sa.String(64), nullable=False),
        sa.Column("updated_at", TS, nullable=False),
    )
    if op.get_bind().dialect.name == "postgresql":
        # Row triggers do not see TRUNCATE; a statement trigger does (also TRUNCATE ... CASCADE).
        op.execute(
            "CREATE TRIGGER transfers_no_truncate BEFORE TRUNCATE ON transfers "
            "FOR EACH STATEMENT EXECUTE FUNCTION mkp_append_only()"
        )
    _forget_enrollment_codes()


def _forget_enrollment_codes() -> None:
    """Replies stored before this revision held live enrollment codes in clear: drop the codes."""
    conn = op.get_bind()
    idempotency = sa.table("idempotency", sa.column("client_id"), sa.column("response"))
    for client_id, response in conn.execute(sa.select(idempotency.c.client_id, idempotency.c.response)):
        try:
            reply = json.loads(response)
        except ValueError:
            continue
        if isinstance(reply, dict) and set(reply) == ENROLLMENT_REPLY and reply["code"] is not None:
            kept = {**reply, "code": None, "code_shown_before": True}
            conn.execute(
                sa.update(idempotency)
                .where(idempotency.c.client_id == client_id)
                .values(response=json.dumps(kept))
            )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS transfers_no_truncate ON transfers")
    op.drop_table("download_versions")
    op.drop_table("releases")
