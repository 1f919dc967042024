"""The staff's tables: applications to join, and staff members (their logins are the logins').

On the one metadata (``server.db.tables``): the alembic chain in ``server/db/migrations`` builds them.
"""

from __future__ import annotations

from sqlalchemy import Column, ForeignKey, Index, String, Table

from server.db.tables import Id, UTCDateTime, metadata

# A municipality asking to join online (/console/apply): its code from MIC's list, the department
# that will run its points and whom to contact. A central operator approves it (or refuses it).
municipality_applications = Table(
    "municipality_applications",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("municipality_code", String(6), nullable=False),  # not yet on the platform: no foreign key
    Column("department", String(128), nullable=False),
    Column("contact_name", String(128), nullable=False),
    Column("contact_email", String(254), nullable=False),
    Column("status", String(16), nullable=False),  # pending | approved | rejected
    Column("created_at", UTCDateTime(), nullable=False),
    Column("decided_at", UTCDateTime(), nullable=True),
    Column("decided_by", String(80), nullable=True),
)
Index("ix_municipality_applications_code", municipality_applications.c.municipality_code)

# A member of a municipality's staff: a principal of the console. Made when invited (the link is a
# one-time token of server/logins whose subject is this id), joined when the link is used (their
# login: a logins account of kind "staff"). ``municipality_code`` NULL: the platform's own staff.
staff_members = Table(
    "staff_members",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("municipality_code", String(6), ForeignKey("municipalities.code"), nullable=True),
    Column("role", String(16), nullable=False),  # admin | clerk | viewer
    Column("department_id", String(40), ForeignKey("departments.id"), nullable=True),  # a clerk's
    Column("application_id", Id, ForeignKey("municipality_applications.id"), nullable=True),
    Column("invited_by", String(80), nullable=False),
    Column("invited_at", UTCDateTime(), nullable=False),
    Column("joined_at", UTCDateTime(), nullable=True),
    Column("disabled_at", UTCDateTime(), nullable=True),
)
