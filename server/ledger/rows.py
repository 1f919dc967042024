"""Many rows into (or changed in) one ledger table, in as few statements as the database takes
them quickly.

A batch of transfers inserts its transfer rows, its wallets' new lots and its lot moves, a row
of each per transfer. SQLite's driver runs an ``executemany`` as one statement per row, and
that statement's setup costs as much as a narrow row's own insert; one ``INSERT ... VALUES``
of many rows pays it once. So SQLite gets the rows in statements of :data:`ROWS_PER_STATEMENT`
rows (one statement text, compiled once and then found in the driver's statement cache), the
few left over by ``executemany``. PostgreSQL's ``executemany`` already sends many rows as one
COPY (``server.db.engine.executemany``).

A batch also updates rows by id: the accounts' posted totals, the lots' ``remaining``. Many
get the same new values (a grant of one amount to every wallet; the lots a batch empties, all
to 0): those go in one ``UPDATE ... WHERE id IN (...)`` (a third of the time a row on SQLite),
the rest by ``executemany``.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from itertools import chain
from typing import Any

from sqlalchemy import Connection

from server.db.engine import IN_CHUNK, chunked, executemany, is_postgres

#: Rows per multi-row INSERT on SQLite: far below its 32,766 parameters for the widest row
#: (a transfer's twelve), and large enough that the statement's setup no longer shows.
ROWS_PER_STATEMENT = 100


def insert_rows(conn: Connection, head: str, width: int, rows: Sequence[tuple[Any, ...]]) -> None:
    """``head`` (``INSERT INTO table (columns)``) with ``rows``, each ``width`` values, in the
    caller's transaction; ``?`` placeholders as :func:`server.db.engine.executemany` takes them."""
    if not rows:
        return
    whole = 0 if is_postgres(conn) else len(rows) - len(rows) % ROWS_PER_STATEMENT
    if whole:
        statement = _values(head, width, ROWS_PER_STATEMENT)
        cursor = conn.connection.cursor()  # the transaction's own DBAPI connection
        try:
            for start in range(0, whole, ROWS_PER_STATEMENT):
                cursor.execute(statement, list(chain.from_iterable(rows[start : start + ROWS_PER_STATEMENT])))
        finally:
            cursor.close()
    if whole < len(rows):
        executemany(conn, _values(head, width, 1), rows[whole:] if whole else rows)


#: Rows that get the same values from which they are updated in one statement.
ALIKE_FROM = 4


def update_by_ids(conn: Connection, head: str, alike: dict[tuple[Any, ...], list[int]]) -> None:
    """``head`` (``UPDATE table SET ...``, ``?`` for the values) on the rows of each list of ids,
    with the values it is keyed by."""
    single: list[tuple[Any, ...]] = []
    for values, ids in alike.items():
        if len(ids) < ALIKE_FROM:
            single.extend((*values, row_id) for row_id in ids)
            continue
        for part in chunked(ids, IN_CHUNK):
            executemany(conn, f"{head} WHERE id IN ({', '.join(['?'] * len(part))})", [(*values, *part)])
    executemany(conn, f"{head} WHERE id = ?", single)


@lru_cache(maxsize=64)
def _values(head: str, width: int, count: int) -> str:
    """The statement text for ``count`` rows (built once: the driver caches statements by text)."""
    row = "(" + ", ".join(["?"] * width) + ")"
    return f"{head} VALUES " + ", ".join([row] * count)
