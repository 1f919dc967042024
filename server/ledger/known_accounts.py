"""Account ids a process has read before, checked again in one statement per batch (SQLite).

Why: a batch reads the row of every account it touches to lock it and learn its id, balance and
floor. On SQLite that read cost about a microsecond an account (most of it the driver making
Python objects of each row's columns), a sixth of a large batch's time. Many accounts need no
more than their id: a wallet's lots decide what it may pay, an issuer (a municipality's budget)
may go negative, and no credit is ever refused by the balance. Ids never change and accounts are
never deleted, so a process remembers the (owner, point code) -> id it has read.

Why it stays right: nothing is taken from memory unchecked. Before a batch uses remembered ids,
one statement counts the rows of ``accounts`` that have exactly those (id, owner, point code),
in the batch's own write transaction (on SQLite the one writer, seeing every commit before it).
An account made by a transaction that was rolled back, a database restored from a backup, an id
another account has taken since: any of them fails the count, and the batch then reads those
accounts' rows as before, and the process forgets what it remembered for that database.

Accounts whose balance decides (a floor; a non-negative account without lots) are always read.
PostgreSQL reads and locks every row (``FOR UPDATE``): it is not used there.
"""

from __future__ import annotations

import weakref
from itertools import chain

from sqlalchemy import Connection, Engine

from server.db.engine import IN_CHUNK, chunked, fetch_raw

#: Remembered ids are used from this many accounts a batch: below, the check would be one
#: statement more than the one read it saves (a single transfer reads its two accounts at once).
CHECK_FROM = 32
#: At most this many ids remembered per database (some 250 bytes each); past it, all are
#: forgotten and read anew.
REMEMBERED = 50_000

_Key = tuple[str, str]
_IDS: weakref.WeakKeyDictionary[Engine, dict[_Key, int]] = weakref.WeakKeyDictionary()


def remembered(conn: Connection) -> dict[_Key, int]:
    """The (owner, point code) -> id this process has read from ``conn``'s database."""
    ids = _IDS.get(conn.engine)
    if ids is None:
        ids = _IDS[conn.engine] = {}
    return ids


def remember(conn: Connection, rows: list[tuple[int, str, str]]) -> None:
    """Remember (id, owner, point code) of account rows just read in ``conn``'s transaction."""
    ids = remembered(conn)
    if len(ids) + len(rows) > REMEMBERED:
        ids.clear()
    for account_id, owner, point_code in rows:
        ids[(owner, point_code)] = account_id


def still_there(conn: Connection, accounts: list[tuple[int, str, str]]) -> bool:
    """Are all these (id, owner, point code) rows of ``accounts`` as this transaction sees them?
    If not, forget every id remembered for this database."""
    for part in chunked(accounts, IN_CHUNK):
        values = ", ".join(["(?, ?, ?)"] * len(part))
        ((count,),) = fetch_raw(
            conn,
            f"SELECT count(*) FROM (VALUES {values}) AS v JOIN accounts AS a "
            "ON a.id = v.column1 AND a.owner = v.column2 AND a.point_code = v.column3",
            list(chain.from_iterable(part)),
        )
        if count != len(part):
            remembered(conn).clear()
            return False
    return True
