"""A table's CREATE text edited in place on SQLite, for migrations whose change touches nothing on disk.

SQLite's ALTER TABLE cannot drop a NOT NULL, a foreign key or a VARCHAR's length, and the usual way
round (copy the table, as alembic's batch mode does) is out for ``transfers``: millions of rows,
referenced by lots, conversions and offline entries. Where the rows on disk stay valid under the new
text, SQLite's own ALTER TABLE page gives a shorter procedure: rewrite the table's ``sqlite_master``
entry under ``writable_schema`` and bump the schema version, so every connection reloads it. Several
migrations need it; they share this one copy.
"""

from __future__ import annotations

from collections.abc import Callable

import sqlalchemy as sa
from sqlalchemy import Connection


def edit_table_sql(conn: Connection, table: str, edit: Callable[[str], str]) -> None:
    """Replace ``table``'s CREATE text by ``edit(text)``, then make every connection read it again.
    Only for changes the rows already on disk satisfy (the caller's to know)."""
    where = "WHERE type = 'table' AND name = :name"
    old_text = conn.execute(sa.text(f"SELECT sql FROM sqlite_master {where}"), {"name": table}).scalar_one()
    new_text = edit(old_text)  # before writable_schema: an edit that refuses leaves nothing switched on
    version = conn.execute(sa.text("PRAGMA schema_version")).scalar_one()
    conn.execute(sa.text("PRAGMA writable_schema = ON"))
    conn.execute(sa.text(f"UPDATE sqlite_master SET sql = :sql {where}"), {"sql": new_text, "name": table})
    conn.execute(sa.text(f"PRAGMA schema_version = {int(version) + 1}"))
    conn.execute(sa.text("PRAGMA writable_schema = OFF"))
