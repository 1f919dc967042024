"""Signed terminal requests (RFC 9421) checked against the keys stored at enrollment.

The signature is checked from the headers first (key known and not revoked, clock, signature),
then the body's size, and only then is the body read and checked against the signed digest:
a stranger cannot make the server read a large body. Nonces live in the database so every
server worker sees every nonce; a revoked terminal is refused on its very next request because
its status is read on each one.
"""

from __future__ import annotations

import functools
import random
from collections.abc import Callable

from flask import Blueprint, g, request
from sqlalchemy import Connection, bindparam, delete, select

from mkp_core import signing
from server.config import ServerConfig
from server.db.engine import insert_if_new, read, run_write
from server.platform.tables import terminal_nonces, terminals
from server.web.context import config, engine, limit_body
from server.web.request_url import wsgi_request_url

TERMINAL_SIGNATURE: list[dict[str, list[str]]] = [{"terminal_signature": []}]


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
        # verify_signature refused nonces longer than the column: stored whole, never cut.
        return not insert_if_new(
            self.conn, terminal_nonces, {"key_id": key_id, "nonce": nonce, "created": created}
        )


_TERMINAL_KEY = select(terminals.c.status, terminals.c.public_key_pem).where(
    terminals.c.id == bindparam("id")
)


@functools.lru_cache(maxsize=4096)
def _public_key(pem: str) -> signing.PublicKey:
    """Parsed once per key: the PEM is read from the database on every request (a revocation counts
    at once), the key object made from it only the first time."""
    return signing.load_public_key(pem.encode())


def terminal_public_key(conn: Connection, terminal_id: str) -> signing.PublicKey:
    """The enrolled key of a terminal (one whose request was just verified): its offline entries
    are signed with it too."""
    row = conn.execute(_TERMINAL_KEY, {"id": terminal_id}).first()
    if row is None or row.public_key_pem is None:
        raise signing.UnknownKey(f"no enrolled terminal has key id {terminal_id!r}")
    return _public_key(row.public_key_pem)


def _resolver(conn: Connection) -> Callable[[str], signing.PublicKey]:
    def resolve(key_id: str) -> signing.PublicKey:
        row = conn.execute(_TERMINAL_KEY, {"id": key_id}).first()
        if row is None or row.public_key_pem is None:
            raise signing.UnknownKey(f"no enrolled terminal has key id {key_id!r}")
        if row.status == "revoked":
            raise signing.RevokedKey(f"terminal {key_id} has been revoked")
        return _public_key(row.public_key_pem)

    return resolve


class ChallengeAnswers:
    """The nonce policy of requests that answer a one-time card challenge (a lookup): they keep no
    nonce. The challenge in the body is their replay guard (it is answered once, then refused
    with ``challenge_used``), and asking for a challenge again changes nothing; so these requests
    leave no row behind: no record that a terminal looked a card up, or when."""

    def seen(self, key_id: str, nonce: str, created: int) -> bool:
        return False


def terminal_id(keep_nonce: bool = True, body_limit: int | None = None) -> str:
    """The terminal that signed this request, or ``Unauthorized`` with the signature's error code.

    ``keep_nonce=False``: the request answers a card challenge (see :class:`ChallengeAnswers`).
    ``body_limit``: the largest body this endpoint takes (default: the server's request limit).
    """
    if "terminal_id" not in g:
        url = wsgi_request_url(request.environ)
        with read(engine()) as conn:
            signed = signing.verify_signature(
                request.method, url, list(request.headers.items()), _resolver(conn)
            )
        limit_body(body_limit or config().max_request_bytes)
        body = request.get_data(cache=True)
        if keep_nonce:
            verified = run_write(engine(), lambda conn: signed.accept(body, DatabaseNonceStore(conn)))
        else:
            verified = signed.accept(body, ChallengeAnswers())
        g.terminal_id = verified.key_id
    found: str = g.terminal_id
    return found


def terminal_endpoints(
    bp: Blueprint, keep_nonce: bool = True, body_limit: Callable[[ServerConfig], int] | None = None
) -> None:
    """Every request to ``bp`` is a signed terminal request, checked before its path or body is.

    ``body_limit``: the largest body the blueprint's endpoints take, from the server's config.
    """

    @bp.before_request
    def authenticate_terminal() -> None:
        terminal_id(keep_nonce, body_limit(config()) if body_limit else None)


# --- endpoints that write anyway: the nonce kept in their own transaction -------------------


def terminal_signature() -> signing.SignedRequest:
    """This request's signature checked from its headers (key known and not revoked, clock), then
    its body's size; the body and nonce wait for :func:`accept_terminal_request`. Cached per request."""
    if "terminal_signature" not in g:
        url = wsgi_request_url(request.environ)
        with read(engine()) as conn:
            g.terminal_signature = signing.verify_signature(
                request.method, url, list(request.headers.items()), _resolver(conn)
            )
        limit_body(config().max_request_bytes)
    found: signing.SignedRequest = g.terminal_signature
    return found


def accept_terminal_request(conn: Connection) -> str:
    """The terminal that signed this request: body checked against the signed digest and the nonce
    kept in ``conn``, the caller's write transaction, so a request that writes anyway (the
    connection test's report, a hundred thousand of them in one window) commits once, not twice."""
    verified = terminal_signature().accept(request.get_data(cache=True), DatabaseNonceStore(conn))
    g.terminal_id = verified.key_id
    return verified.key_id


def signed_terminal_endpoints(bp: Blueprint) -> None:
    """Like :func:`terminal_endpoints`, for views that call :func:`accept_terminal_request` in their
    write transaction: the signature is checked from the headers before the body is read."""

    @bp.before_request
    def check_terminal_signature() -> None:
        terminal_signature()
