"""Signed terminal requests (RFC 9421) checked against the keys stored at enrollment.

Nonces live in the database so every server worker sees every nonce; a revoked terminal is
refused on its very next request because its status is read on each one.
"""

from __future__ import annotations

import random

from flask import g, request
from sqlalchemy import Connection, delete, insert, select
from sqlalchemy.exc import IntegrityError

from mkp_core import signing
from server.api import engine
from server.db.engine import run_write
from server.db.tables import terminal_nonces, terminals

TERMINAL_SIGNATURE = [{"terminal_signature": []}]


class DatabaseNonceStore:
    """``signing.NonceStore`` on the ``terminal_nonces`` table; prunes old rows now and then."""

    def __init__(self, conn: Connection, window: int = signing.DEFAULT_MAX_SKEW) -> None:
        self.conn = conn
        self.window = window

    def seen(self, key_id: str, nonce: str, created: int) -> bool:
        if random.random() < 0.01:
            self.conn.execute(
                delete(terminal_nonces).where(terminal_nonces.c.created < created - 2 * self.window)
            )
        try:
            with self.conn.begin_nested():
                self.conn.execute(
                    insert(terminal_nonces).values(key_id=key_id, nonce=nonce[:64], created=created)
                )
        except IntegrityError:
            return True
        return False


def _resolver(conn: Connection):
    def resolve(key_id: str):
        row = conn.execute(
            select(terminals.c.status, terminals.c.public_key_pem).where(terminals.c.id == key_id)
        ).first()
        if row is None or row.public_key_pem is None:
            raise signing.UnknownKey(f"no enrolled terminal has key id {key_id!r}")
        if row.status == "revoked":
            raise signing.RevokedKey(f"terminal {key_id} has been revoked")
        return signing.load_public_key(row.public_key_pem.encode())

    return resolve


def terminal_id() -> str:
    """The terminal that signed this request, or ``Unauthorized`` with the signature's error code."""
    if "terminal_id" not in g:

        def check(conn: Connection) -> str:
            verified = signing.verify_request(
                request.method,
                signing.wsgi_request_url(request.environ),
                list(request.headers.items()),
                request.get_data(cache=True),
                _resolver(conn),
                DatabaseNonceStore(conn),
            )
            return verified.key_id

        g.terminal_id = run_write(engine(), check)  # a SignatureError is a 401 with its own code
    return g.terminal_id
