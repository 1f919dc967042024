"""Municipal staff: applications to join, staff members, grant files uploaded in the console.

``municipality_applications``: a town asking to join (its code, department, contact) until a
central operator decides. ``staff_members``: the console's principals (role admin | clerk |
viewer, a clerk's department), made when invited; their invitation links and logins live in the
logins tables (0017). ``grant_files``: a grant CSV as it was uploaded, to check, apply and
download again.

Revision ID: 0018
Revises: 0017
"""

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)
ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "municipality_applications",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("municipality_code", sa.String(6), nullable=False),
        sa.Column("department", sa.String(128), nullable=False),
        sa.Column("contact_name", sa.String(128), nullable=False),
        sa.Column("contact_email", sa.String(254), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("decided_at", TS, nullable=True),
        sa.Column("decided_by", sa.String(80), nullable=True),
    )
    op.create_index("ix_municipality_applications_code", "municipality_applications", ["municipality_code"])
    op.create_table(
        "staff_members",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("municipality_code", sa.String(6), sa.ForeignKey("municipalities.code"), nullable=True),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("department_id", sa.String(40), sa.ForeignKey("departments.id"), nullable=True),
        sa.Column("application_id", ID, sa.ForeignKey("municipality_applications.id"), nullable=True),
        sa.Column("invited_by", sa.String(80), nullable=False),
        sa.Column("invited_at", TS, nullable=False),
        sa.Column("joined_at", TS, nullable=True),
        sa.Column("disabled_at", TS, nullable=True),
    )

    op.create_table(
        "grant_files",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("municipality_code", sa.String(6), sa.ForeignKey("municipalities.code"), nullable=False),
        sa.Column("department_id", sa.String(40), sa.ForeignKey("departments.id"), nullable=False),
        sa.Column("filename", sa.String(200), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("content", sa.LargeBinary, nullable=False),
        sa.Column("batch_id", ID, sa.ForeignKey("grant_batches.id"), nullable=True),
        sa.Column("uploaded_by", sa.String(80), nullable=False),
        sa.Column("uploaded_at", TS, nullable=False),
    )
    op.create_index("ix_grant_files_municipality", "grant_files", ["municipality_code", "id"])


def downgrade() -> None:
    op.drop_index("ix_grant_files_municipality", "grant_files")
    op.drop_table("grant_files")
    op.drop_table("staff_members")
    op.drop_index("ix_municipality_applications_code", "municipality_applications")
    op.drop_table("municipality_applications")
