"""Terminal keys parsed once per worker, confirmed in the statement that keeps the request's nonce.

Every signed terminal request needs its terminal's public key before its signature can be
checked. Reading it from the database on each request cost a transaction of its own (three round
trips on PostgreSQL) for what changes once in a terminal's life. So a worker keeps each key it
has read (the PEM and the parsed key) and checks signatures with it, and the statement that keeps
the request's nonce keeps it only if the terminal still has that very key and is not revoked: a
revocation (or a new key) made by any worker counts on the terminal's very next request, without
telling the other workers anything. A request whose key no longer holds is refused with the
error a fresh read gives (``revoked_key``, ``unknown_key``, or a signature that does not verify),
and the worker forgets the key.

PostgreSQL confirms the key and keeps the nonce in one statement (:data:`CONFIRM_AND_KEEP`, whose
common table expressions the connection test's report reuses to keep its row in the same
statement); SQLite, in process, takes two. A request that writes nothing else keeps its nonce in
that statement alone, committed as it runs (:func:`keep_nonce_now`), and a worker reads a key it
does not have yet in one statement too (:func:`enrolled_key`): on PostgreSQL each is one round trip
where a transaction around it took three (``BEGIN``, the statement, ``COMMIT``).
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, NoReturn

from sqlalchemy import Connection, Engine, bindparam, delete, select

from mkp_core import signing
from server.db.engine import insert_if_new, is_postgres, read, run_write, uncounted
from server.platform.known_keys import KnownKeys
from server.platform.tables import terminal_nonces, terminals

#: Terminal keys kept per worker; past this many the memory is emptied and refilled as terminals call.
TERMINAL_KEYS = KnownKeys(limit=100_000)


@dataclass(frozen=True)
class PendingNonce:
    """A verified request's nonce, to be kept in the caller's write transaction, and the key
    (``public_key_pem``) its signature verified with, which must still be the terminal's."""

    key_id: str
    nonce: str
    created: int
    public_key_pem: str

    def params(self) -> dict[str, Any]:
        """The bind parameters of :data:`CONFIRM_AND_KEEP_CTES`."""
        return {
            "key_id": self.key_id,
            "nonce": self.nonce,
            "created": self.created,
            "pem": self.public_key_pem,
        }


def driver_sql(sql: str) -> str:
    """``sql`` with ``:name`` parameters written as psycopg's ``%(name)s``: the hot statements of
    terminal requests go straight to the driver, whose cost SQLAlchemy's result processing
    would double (PostgreSQL only; the SQL has no ``::`` casts and no ``%``)."""
    return re.sub(r"(?<![:\w]):(\w+)", r"%(\1)s", sql)


def run_driver_sql(conn: Connection, sql: str, params: dict[str, Any]) -> tuple[Any, ...]:
    """The one row of ``sql`` (from :func:`driver_sql`), on the transaction's own connection."""
    cursor = conn.connection.cursor()
    try:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    finally:
        cursor.close()
    if row is None:
        raise RuntimeError("the statement returned no row")
    return tuple(row)


@contextmanager
def autocommitted_cursor(engine: Engine) -> Iterator[Any]:
    """A driver cursor on a pooled PostgreSQL connection in autocommit mode: each statement commits
    as it runs, with no ``BEGIN`` and ``COMMIT`` round trips around it. For one statement that is
    whole by itself (a read, or a write whose every part is in that statement)."""
    pooled = engine.raw_connection()
    try:
        driver: Any = pooled.driver_connection
        driver.autocommit = True
        try:
            with driver.cursor() as cursor:
                yield cursor
        finally:
            if not driver.closed:  # a connection that broke goes back to be thrown away
                driver.autocommit = False
    finally:
        pooled.close()


# The terminal still has the key the signature verified with and is not revoked (k), and the
# nonce, kept only then (n): a replay inserts nothing.
CONFIRM_AND_KEEP_CTES = """
key_ok AS (
    SELECT 1 FROM terminals
    WHERE id = :key_id AND public_key_pem = :pem AND status <> 'revoked'
),
nonce_kept AS (
    INSERT INTO terminal_nonces (key_id, nonce, created)
    SELECT :key_id, :nonce, :created WHERE EXISTS (SELECT 1 FROM key_ok)
    ON CONFLICT DO NOTHING
    RETURNING 1
)"""
CONFIRM_AND_KEEP = driver_sql(
    f"WITH {CONFIRM_AND_KEEP_CTES}\n"
    "SELECT EXISTS (SELECT 1 FROM key_ok) AS key_ok, EXISTS (SELECT 1 FROM nonce_kept) AS nonce_new"
)


PRUNE_NONCES = driver_sql("DELETE FROM terminal_nonces WHERE created < :before")
_KEY_ROW = select(terminals.c.status, terminals.c.public_key_pem).where(terminals.c.id == bindparam("id"))


def keep_nonce(conn: Connection, pending: PendingNonce, window: int = signing.DEFAULT_MAX_SKEW) -> bool:
    """Keep ``pending``'s nonce in ``conn`` if its key still holds, else raise as a fresh read would
    (:func:`refuse`): was the nonce new (False: a replay)? A nonce is no change of the caller's
    (``uncounted``)."""
    with uncounted(conn):
        return _keep_nonce(conn, pending, window)


def _keep_nonce(conn: Connection, pending: PendingNonce, window: int) -> bool:
    if random.random() < 0.01:
        conn.execute(delete(terminal_nonces).where(terminal_nonces.c.created < pending.created - 2 * window))
    if is_postgres(conn):
        key_ok, nonce_new = map(bool, run_driver_sql(conn, CONFIRM_AND_KEEP, pending.params()))
    else:
        found = conn.execute(_KEY_ROW, {"id": pending.key_id}).first()
        key_ok = (
            found is not None and found.public_key_pem == pending.public_key_pem and found.status != "revoked"
        )
        nonce_new = key_ok and insert_if_new(
            conn,
            terminal_nonces,
            {"key_id": pending.key_id, "nonce": pending.nonce, "created": pending.created},
        )
    if not key_ok:
        refuse(conn, pending)
    return nonce_new


_KEY_OF = driver_sql("SELECT status, public_key_pem FROM terminals WHERE id = :id")


def enrolled_key(engine: Engine, key_id: str) -> tuple[str, str | None] | None:
    """(status, PEM) of terminal ``key_id`` as stored now, or None: a worker's first request from
    a terminal reads it so (on PostgreSQL one statement outside any transaction)."""
    if is_postgres(engine):
        with autocommitted_cursor(engine) as cursor:
            cursor.execute(_KEY_OF, {"id": key_id})
            found = cursor.fetchone()
        return None if found is None else (found[0], found[1])
    with read(engine) as conn:
        row = conn.execute(_KEY_ROW, {"id": key_id}).first()
    return None if row is None else (row.status, row.public_key_pem)


def keep_nonce_now(engine: Engine, pending: PendingNonce, window: int = signing.DEFAULT_MAX_SKEW) -> bool:
    """:func:`keep_nonce` for a request that writes nothing else, committed at once: was the nonce
    new? On PostgreSQL the one statement of :data:`CONFIRM_AND_KEEP` commits by itself (it keeps
    the nonce only with the key confirmed, so a refusal leaves nothing, as a rollback would)."""
    if not is_postgres(engine):
        return run_write(engine, lambda conn: keep_nonce(conn, pending, window))
    with autocommitted_cursor(engine) as cursor:
        if random.random() < 0.01:
            cursor.execute(PRUNE_NONCES, {"before": pending.created - 2 * window})
        cursor.execute(CONFIRM_AND_KEEP, pending.params())
        key_ok, nonce_new = map(bool, cursor.fetchone())
    if not key_ok:
        with read(engine) as conn:
            refuse(conn, pending)
    return nonce_new


def replayed(key_id: str) -> signing.ReplayedNonce:
    """The refusal of a nonce kept before (worded as ``signing`` words it)."""
    return signing.ReplayedNonce(f"nonce already used by terminal key {key_id!r}")


def confirm_key(conn: Connection, key_id: str, pem: str) -> None:
    """Raise as :func:`refuse` does unless ``key_id`` is enrolled, not revoked, and still has
    ``pem``: a request answered before its statement confirmed the key is judged by this instead."""
    found = conn.execute(_KEY_ROW, {"id": key_id}).first()
    if found is None or found.public_key_pem != pem or found.status == "revoked":
        refuse(conn, PendingNonce(key_id, "", 0, pem))


def refuse(conn: Connection, pending: PendingNonce) -> NoReturn:
    """The key a request was verified with no longer holds: forget it, and raise what reading the
    terminal now says (unknown, revoked, or another key: the signature does not verify)."""
    TERMINAL_KEYS.forget(pending.key_id)
    row = conn.execute(_KEY_ROW, {"id": pending.key_id}).first()
    if row is None or row.public_key_pem is None:
        raise signing.UnknownKey(f"no enrolled terminal has key id {pending.key_id!r}")
    if row.status == "revoked":
        raise signing.RevokedKey(f"terminal {pending.key_id} has been revoked")
    raise signing.BadSignature(f"signature does not verify: terminal {pending.key_id} has another key now")
