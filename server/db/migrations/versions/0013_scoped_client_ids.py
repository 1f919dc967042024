"""Client ids scoped to the caller that sent them, apart from the ids the server makes.

Keys are now ``<principal>/<client id>`` and ``srv/<what>`` (``server.db.client_ids``): the three
key columns are widened to 160 characters.

What old keys (no ``/``) mean from here on:

* ``transfers``: history. The ledger is append-only (PostgreSQL's triggers refuse an UPDATE), so
  old transfers keep their keys; no new request can match one (every new key has a ``/``).
* ``idempotency``: a partner's order (``partner:<P>:<order>``) becomes ``p:<P>/order/<order>``,
  and the answer of a transfer a terminal or an operator made moves to that caller's key, so a
  retry sent across the upgrade still gets its first answer. Other old answers have no known
  owner: they stay as history, and a request sent before the upgrade and retried after it is a
  new request (most such mutations are refused then as existing already).
* ``offline_entries``: each answer moves to its terminal's key (the row names the terminal), so a
  terminal resending an entry after the upgrade gets its kept answer.

Revision ID: 0013
Revises: 0012
"""

import sqlalchemy as sa
from alembic import op

from server.db.sqlite_schema import edit_table_sql

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

OLD_WIDTH = {"transfers": 64, "idempotency": 64, "offline_entries": 128}
WIDTH = 160
PARTNER_ORDER_PREFIX = "partner:"


def upgrade() -> None:
    _widen(WIDTH)
    _scope_partner_orders()
    _scope_transfer_answers()
    op.execute(
        "UPDATE offline_entries SET client_id = 't:' || terminal_id || '/' || client_id "
        "WHERE client_id NOT LIKE '%/%'"
    )


def downgrade() -> None:
    """Only the widths go back (scoped keys longer than the old width must be gone first)."""
    _widen(None)


def _widen(width: int | None) -> None:
    for table, old in OLD_WIDTH.items():
        new, was = (sa.String(width), sa.String(old)) if width else (sa.String(old), sa.String(WIDTH))
        if op.get_bind().dialect.name == "postgresql":
            op.alter_column(table, "client_id", type_=new, existing_type=was)
        elif table == "transfers":
            _sqlite_retype_transfers_client_id(was, new)
        else:
            with op.batch_alter_table(table) as batch:
                batch.alter_column("client_id", type_=new, existing_type=was)


def _sqlite_retype_transfers_client_id(was: sa.String, new: sa.String) -> None:
    """SQLite stores no length with a VARCHAR: only the table's CREATE text names it. ``transfers``
    cannot be copied as a batch alter would (its rows are referenced by lots, conversions, offline
    entries ...), so the text is changed in place, as SQLite's ALTER TABLE page describes for
    changes that touch nothing on disk (writable_schema, then a new schema version)."""
    column = f"client_id VARCHAR({was.length}) NOT NULL"

    def retyped(old_text: str) -> str:
        if column not in old_text:
            raise RuntimeError(f"transfers.client_id is not {column!r}: {old_text}")
        return old_text.replace(column, f"client_id VARCHAR({new.length}) NOT NULL")

    edit_table_sql(op.get_bind(), "transfers", retyped)


def _scope_partner_orders() -> None:
    """``partner:<P>:<order>`` (a partner id has no ``:``) to ``p:<P>/order/<order>``."""
    conn = op.get_bind()
    idempotency = sa.table("idempotency", sa.column("client_id"))
    old = conn.execute(
        sa.select(idempotency.c.client_id).where(idempotency.c.client_id.like(f"{PARTNER_ORDER_PREFIX}%:%"))
    ).scalars()
    moves = []
    for key in old:
        partner, _, order = key[len(PARTNER_ORDER_PREFIX) :].partition(":")
        moves.append({"old": key, "new": f"p:{partner}/order/{order}"})
    if moves:
        conn.execute(
            sa.update(idempotency)
            .where(idempotency.c.client_id == sa.bindparam("old"))
            .values(client_id=sa.bindparam("new")),
            moves,
        )


def _scope_transfer_answers() -> None:
    """An answer stored under the key of a transfer a terminal or an operator made: to its key."""
    op.execute(
        "UPDATE idempotency SET client_id = ("
        "SELECT 't:' || substr(t.actor, 10) || '/' || t.client_id FROM transfers t "
        "WHERE t.client_id = idempotency.client_id) "
        "WHERE client_id NOT LIKE '%/%' AND EXISTS (SELECT 1 FROM transfers t "
        "WHERE t.client_id = idempotency.client_id AND t.actor LIKE 'terminal:%')"
    )
    op.execute(
        "UPDATE idempotency SET client_id = ("
        "SELECT 'op:' || o.id || '/' || t.client_id FROM transfers t JOIN operators o "
        "ON t.actor = 'operator:' || o.name WHERE t.client_id = idempotency.client_id) "
        "WHERE client_id NOT LIKE '%/%' AND EXISTS (SELECT 1 FROM transfers t JOIN operators o "
        "ON t.actor = 'operator:' || o.name WHERE t.client_id = idempotency.client_id)"
    )
