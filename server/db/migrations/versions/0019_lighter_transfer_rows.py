"""Lighter ledger rows: fewer indexes and foreign keys written per transfer, open lots indexed apart.

Every transfer row paid for five indexes and four foreign-key lookups, about half of what writing
it cost. What stays is what a query reads by: the client id (idempotency), ``reverses_id`` (a
transfer is reversed once), the point code and time (settlement, reports) and the primary key.

* ``ix_transfers_debit`` and ``ix_transfers_credit`` go: no query looks transfers up by account
  (a wallet's history joins the accounts by owner; the expiry sweep finds its own transfers by
  id range, ``server.ledger.expiry``).
* The transfers' foreign keys to ``accounts`` and ``point_codes`` go. The ledger writes only the
  ids of account rows it has just read and locked, and only point codes it has just found
  (``server.ledger.transfers``); what the keys also gave, that a referenced row cannot vanish,
  is kept by refusing DELETE (and on PostgreSQL TRUNCATE) of accounts and point codes, which
  nothing deletes; and ``mkp-admin ledger verify`` reports any transfer whose account or point
  code is missing or disagrees (``server.ledger.verify``). ``reverses_id`` keeps its key.
* ``ix_lots_account`` (every lot, by account) becomes ``ix_lots_open_by_account`` (lots with
  points left): what a debit loads is a wallet's open lots, and a wallet's emptied lots pile up
  over the years.

SQLite cannot drop a foreign key: as in 0013, the table's CREATE text loses the three clauses in
place (removing a FOREIGN KEY constraint touches nothing on disk: SQLite's ALTER TABLE page); a
copy of ``transfers`` is out of the question (lots, conversions and more refer to its rows).

Revision ID: 0019
Revises: 0018
"""

import re
from collections.abc import Callable

import sqlalchemy as sa
from alembic import op

from server.db.sqlite_schema import edit_table_sql

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None

OPEN = sa.text("remaining > 0")
#: (constraint name, column, referred table, referred column) of the keys that go.
KEYS = (
    ("fk_transfers_point_code_point_codes", "point_code", "point_codes", "code"),
    ("fk_transfers_debit_account_id_accounts", "debit_account_id", "accounts", "id"),
    ("fk_transfers_credit_account_id_accounts", "credit_account_id", "accounts", "id"),
)
KEPT = ("accounts", "point_codes")


def upgrade() -> None:
    op.drop_index("ix_transfers_debit", table_name="transfers")
    op.drop_index("ix_transfers_credit", table_name="transfers")
    if _postgres():
        for name, *_ in KEYS:
            op.drop_constraint(name, "transfers", type_="foreignkey")
    else:
        _sqlite_edit_transfers(_without_keys)
    op.create_index(
        "ix_lots_open_by_account",
        "lots",
        ["account_id", "expires_at"],
        sqlite_where=OPEN,
        postgresql_where=OPEN,
    )
    op.drop_index("ix_lots_account", table_name="lots")
    _refuse_deletes()


def downgrade() -> None:
    _allow_deletes()
    op.create_index("ix_lots_account", "lots", ["account_id", "expires_at"])
    op.drop_index("ix_lots_open_by_account", table_name="lots")
    if _postgres():
        for name, column, table, key in KEYS:
            op.create_foreign_key(name, "transfers", table, [column], [key])
    else:
        _sqlite_edit_transfers(_with_keys)
    op.create_index("ix_transfers_debit", "transfers", ["debit_account_id"])
    op.create_index("ix_transfers_credit", "transfers", ["credit_account_id"])


def _postgres() -> bool:
    return bool(op.get_bind().dialect.name == "postgresql")


def _clause(name: str, column: str, table: str, key: str) -> str:
    """A key's clause as SQLAlchemy wrote it into SQLite's CREATE TABLE text (0001)."""
    return f"CONSTRAINT {name} FOREIGN KEY({column}) REFERENCES {table} ({key})"


def _without_keys(sql: str) -> str:
    for key in KEYS:
        clause = _clause(*key)
        found = re.search(r",\s*" + re.escape(clause), sql)
        if found is None:
            raise RuntimeError(f"transfers has no {clause!r}: {sql}")
        sql = sql[: found.start()] + sql[found.end() :]
    return sql


def _with_keys(sql: str) -> str:
    end = sql.rstrip().rindex(")")
    added = "".join(f", \n\t{_clause(*key)}" for key in KEYS)
    return sql[:end].rstrip() + added + "\n)"


def _sqlite_edit_transfers(edit: Callable[[str], str]) -> None:
    """Change ``transfers``' CREATE text in place (:mod:`server.db.sqlite_schema`)."""
    edit_table_sql(op.get_bind(), "transfers", edit)


def _refuse_deletes() -> None:
    """Accounts and point codes are never deleted: transfers name them."""
    if _postgres():
        op.execute(
            "CREATE FUNCTION mkp_named_by_ledger() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN RAISE EXCEPTION '% rows are kept: the ledger names them', TG_TABLE_NAME; END $$"
        )
        for table in KEPT:
            op.execute(
                f"CREATE TRIGGER {table}_no_delete BEFORE DELETE ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION mkp_named_by_ledger()"
            )
            # Row triggers do not see TRUNCATE; a statement trigger does (also TRUNCATE ... CASCADE).
            op.execute(
                f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
                "FOR EACH STATEMENT EXECUTE FUNCTION mkp_named_by_ledger()"
            )
    else:
        for table in KEPT:
            op.execute(
                f"CREATE TRIGGER {table}_no_delete BEFORE DELETE ON {table} "
                f"BEGIN SELECT RAISE(ABORT, '{table} rows are kept: the ledger names them'); END"
            )


def _allow_deletes() -> None:
    for table in KEPT:
        if _postgres():
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}")
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_delete ON {table}")
        else:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_delete")
    if _postgres():
        op.execute("DROP FUNCTION IF EXISTS mkp_named_by_ledger()")
