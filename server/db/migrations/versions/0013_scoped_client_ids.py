"""Client ids scoped to the caller that sent them, apart from the ids the server makes.

Revision ID: 0013
Revises: 0012
"""

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass
