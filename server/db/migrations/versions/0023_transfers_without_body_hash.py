"""Transfers keep a body hash only where their row cannot say the body itself.

A retry with a stored client id must repeat its first request exactly: every transfer stored the
SHA-256 of its body (point code, both owners, amount, kind, memo, reversed transfer, expiry), so a
retry was compared by hash. Nearly every row already holds all of that (the owners through its
accounts, the expiry in the lot its credit made), and working the hash out and storing its 64
characters cost a large batch on SQLite about a tenth of its time. So ``body_hash`` may now be
NULL: the ledger leaves it out where the row says the body, and compares a retry with the hash of
what the row says (``server.ledger.transfers``); rows stored before keep their hash.

SQLite cannot drop a NOT NULL: as in 0013 and 0019, the table's CREATE text loses it in place
(removing a NOT NULL constraint touches nothing on disk: SQLite's ALTER TABLE page).

The downgrade gives every row without a hash the hash of what it says (the ledger's triggers,
which refuse any UPDATE of a transfer, are lifted for that one statement a row), then puts the
NOT NULL back.

Revision ID: 0023
Revises: 0022
"""

import hashlib
import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from alembic import op

from server.db.sqlite_schema import edit_table_sql

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None

NOT_NULL = "body_hash VARCHAR(64) NOT NULL"
NULLABLE = "body_hash VARCHAR(64)"


def upgrade() -> None:
    if _postgres():
        op.alter_column("transfers", "body_hash", existing_type=sa.String(64), nullable=True)
    else:
        _sqlite_edit_transfers(lambda sql: _replaced(sql, NOT_NULL + ",", NULLABLE + ","))


def downgrade() -> None:
    _fill_hashes()
    if _postgres():
        op.alter_column("transfers", "body_hash", existing_type=sa.String(64), nullable=False)
    else:
        _sqlite_edit_transfers(lambda sql: _replaced(sql, NULLABLE + ",", NOT_NULL + ","))


def _postgres() -> bool:
    return bool(op.get_bind().dialect.name == "postgresql")


def _replaced(sql: str, old: str, new: str) -> str:
    if sql.count(old) != 1:
        raise RuntimeError(f"transfers has no single {old!r}: {sql}")
    return sql.replace(old, new)


def _sqlite_edit_transfers(edit: Callable[[str], str]) -> None:
    """Change ``transfers``' CREATE text in place (:mod:`server.db.sqlite_schema`)."""
    edit_table_sql(op.get_bind(), "transfers", edit)


#: What a row without a hash says of its body: the owners through its accounts, the expiry in the
#: lot its credit made (if it made one).
SAID = (
    "SELECT t.id, t.point_code, d.owner, c.owner, t.amount, t.kind, t.memo, t.reverses_id, l.expires_at "
    "FROM transfers t JOIN accounts d ON d.id = t.debit_account_id "
    "JOIN accounts c ON c.id = t.credit_account_id LEFT JOIN lots l ON l.transfer_id = t.id "
    "WHERE t.body_hash IS NULL ORDER BY t.id"
)


def _fill_hashes() -> None:
    conn = op.get_bind()
    hashes = [{"id": row[0], "hash": _body_hash(*row[1:])} for row in conn.execute(sa.text(SAID))]
    if not hashes:
        return
    if _postgres():
        op.execute("ALTER TABLE transfers DISABLE TRIGGER transfers_append_only")
    else:
        op.execute("DROP TRIGGER transfers_no_update")
    conn.execute(sa.text("UPDATE transfers SET body_hash = :hash WHERE id = :id"), hashes)
    if _postgres():
        op.execute("ALTER TABLE transfers ENABLE TRIGGER transfers_append_only")
    else:
        op.execute(
            "CREATE TRIGGER transfers_no_update BEFORE UPDATE ON transfers "
            "BEGIN SELECT RAISE(ABORT, 'transfers are append-only'); END"
        )


def _body_hash(
    point_code: str,
    debit: str,
    credit: str,
    amount: int,
    kind: str,
    memo: str | None,
    reverses: int | None,
    expires_at: Any,
) -> str:
    """``TransferRequest.body_hash`` of the body a row says (the same formula, kept here as it was)."""
    body: list[Any] = [point_code, debit, credit, int(amount), kind, memo, reverses]
    if expires_at is not None:
        if not isinstance(expires_at, datetime):  # SQLite's text: UTC
            expires_at = datetime.fromisoformat(expires_at).replace(tzinfo=UTC)
        body.append(expires_at.astimezone(UTC).isoformat())
    return hashlib.sha256(json.dumps(body).encode()).hexdigest()
