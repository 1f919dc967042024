"""A wallet's transfers found by its accounts again, for My Page's history.

Migration 0019 dropped the transfers' indexes by account, reasoning that no query read transfers
by account. My Page's history does: a resident's page of transfers is every transfer whose debit or
credit account is one of the wallet's. Without an index on either side it read the ledger from its
newest transfer back until it had found a page, so a resident with little history in a large ledger
read every transfer there is, on every page view and CSV download. ``(account, id)`` on each side
lets the history read the wallet's rows only, newest first; each index costs every transfer one
more entry written.

Revision ID: 0022
Revises: 0021
"""

from alembic import op

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_transfers_debit", "transfers", ["debit_account_id", "id"])
    op.create_index("ix_transfers_credit", "transfers", ["credit_account_id", "id"])


def downgrade() -> None:
    op.drop_index("ix_transfers_credit", table_name="transfers")
    op.drop_index("ix_transfers_debit", table_name="transfers")
