"""Signed terminal requests (RFC 9421) checked against the keys stored at enrollment.

The signature is checked from the headers first (key known and not revoked, clock, signature),
then the body's size, and only then is the body read and checked against the signed digest:
a stranger cannot make the server read a large body. Nonces live in the database so every
server worker sees every nonce. A worker checks signatures with the keys it has read before
(``terminal_auth_keys``), and the statement that keeps a request's nonce confirms that key is
still the terminal's and not revoked: a revoked terminal is refused on its very next request.
Requests that keep no nonce (card lookups) read the terminal's status on each one instead.

Endpoints whose own write statement keeps the nonce (the connection test's report) check the
body's shape before that statement runs. A request refused before it (malformed, too large)
with a key from memory has the key confirmed on the way out, so a revoked terminal hears
``revoked_key`` first, as on every other endpoint, while a good request still costs one statement.
"""

from __future__ import annotations

import functools
import random
from collections.abc import Callable
from typing import Any

from flask import Blueprint, Response, g, request
from sqlalchemy import Connection, bindparam, delete, select

from mkp_core import signing
from server.config import ServerConfig
from server.db.engine import insert_if_new, read, uncounted
from server.platform.known_keys import parse_key
from server.platform.tables import terminal_nonces, terminals
from server.platform.terminal_auth_keys import (
    TERMINAL_KEYS,
    PendingNonce,
    confirm_key,
    enrolled_key,
    keep_nonce,
    keep_nonce_now,
)
from server.web.context import config, engine, limit_body
from server.web.errors import refusal_response
from server.web.request_url import wsgi_request_url

TERMINAL_SIGNATURE: list[dict[str, list[str]]] = [{"terminal_signature": []}]


class DatabaseNonceStore:
    """``signing.NonceStore`` on the ``terminal_nonces`` table; prunes old rows now and then."""

    def __init__(self, conn: Connection, window: int = signing.DEFAULT_MAX_SKEW) -> None:
        self.conn = conn
        self.window = window

    def seen(self, key_id: str, nonce: str, created: int) -> bool:
        with uncounted(self.conn):  # a nonce is no change of the caller's
            if random.random() < 0.01:
                self.conn.execute(
                    delete(terminal_nonces).where(terminal_nonces.c.created < created - 2 * self.window)
                )
            # verify_signature refused nonces longer than the column: stored whole, never cut.
            return not insert_if_new(
                self.conn, terminal_nonces, {"key_id": key_id, "nonce": nonce, "created": created}
            )


class NoncesOfAPass:
    """``signing.NonceStore`` for the requests a write group books together (one pass): each
    request's nonce is noted, not kept (``seen`` says it is new), and :meth:`keep` keeps every
    noted nonce with one statement, saying which were new. A nonce noted twice in the pass is new
    the first time only, as one statement each would have found it."""

    def __init__(self, conn: Connection, window: int = signing.DEFAULT_MAX_SKEW) -> None:
        self.conn = conn
        self.window = window
        self.noted: list[tuple[str, str, int]] = []

    def seen(self, key_id: str, nonce: str, created: int) -> bool:
        self.noted.append((key_id, nonce, created))
        return False

    def keep(self) -> list[bool]:
        """Keep the noted nonces (old ones pruned now and then, as one request's store does):
        for each, in the order noted, whether it was new (False: a replay)."""
        first: dict[tuple[str, str], int] = {}
        for i, (key_id, nonce, _) in enumerate(self.noted):
            first.setdefault((key_id, nonce), i)
        if not first:
            return []
        rows = [{"key_id": k, "nonce": n, "created": self.noted[i][2]} for (k, n), i in first.items()]
        with uncounted(self.conn):  # nonces are no change of the callers'
            if random.random() < 0.01 * len(rows):
                oldest = min(created for _, _, created in self.noted) - 2 * self.window
                self.conn.execute(delete(terminal_nonces).where(terminal_nonces.c.created < oldest))
            found = self.conn.execute(_keep_nonces(self.conn.dialect.name), rows)
            kept = {(r.key_id, r.nonce) for r in found}
        return [first[(k, n)] == i and (k, n) in kept for i, (k, n, _) in enumerate(self.noted)]


@functools.cache
def _keep_nonces(dialect: str) -> Any:
    """INSERT of nonces that skips those kept already and returns those it kept (built once)."""
    from sqlalchemy.dialects import postgresql, sqlite

    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    return (
        insert(terminal_nonces)
        .on_conflict_do_nothing()
        .returning(terminal_nonces.c.key_id, terminal_nonces.c.nonce)
    )


class _ConfirmingNonceStore:
    """``signing.NonceStore`` that keeps the nonce only if the key the signature verified with
    (``pem``) is still the terminal's (:func:`terminal_auth_keys.keep_nonce`)."""

    def __init__(self, conn: Connection, pem: str) -> None:
        self.conn = conn
        self.pem = pem

    def seen(self, key_id: str, nonce: str, created: int) -> bool:
        return not keep_nonce(self.conn, PendingNonce(key_id, nonce, created, self.pem))


class _NonceKeptNow:
    """``signing.NonceStore`` of a request that writes nothing else: the nonce kept (the key
    confirmed) in a statement of its own (:func:`terminal_auth_keys.keep_nonce_now`)."""

    def __init__(self, pem: str) -> None:
        self.pem = pem

    def seen(self, key_id: str, nonce: str, created: int) -> bool:
        return not keep_nonce_now(engine(), PendingNonce(key_id, nonce, created, self.pem))


class _Deferred:
    """``signing.NonceStore`` for a request whose nonce the caller's own statement keeps."""

    def seen(self, key_id: str, nonce: str, created: int) -> bool:
        return False


_TERMINAL_KEY = select(terminals.c.status, terminals.c.public_key_pem).where(
    terminals.c.id == bindparam("id")
)


def terminal_public_key(conn: Connection, terminal_id: str) -> signing.PublicKey:
    """The enrolled key of a terminal (one whose request was just verified): its offline entries
    are signed with it too."""
    row = conn.execute(_TERMINAL_KEY, {"id": terminal_id}).first()
    if row is None or row.public_key_pem is None:
        raise signing.UnknownKey(f"no enrolled terminal has key id {terminal_id!r}")
    return parse_key(row.public_key_pem)


class _KeyLookup:
    """The key resolver of one verification: this worker's key for the terminal when it has one
    (``cached``), else the database's (unknown and revoked refused), which the worker then keeps.
    Notes which key it gave, and whether from memory."""

    def __init__(self, cached: bool) -> None:
        self.cached = cached
        self.key_id = ""
        self.pem = ""
        self.from_memory = False

    def __call__(self, key_id: str) -> signing.PublicKey:
        self.key_id = key_id
        kept = TERMINAL_KEYS.get(key_id) if self.cached else None
        if kept is not None:
            self.from_memory, self.pem = True, kept[0]
            return kept[1]
        found = enrolled_key(engine(), key_id)
        if found is None or found[1] is None:
            raise signing.UnknownKey(f"no enrolled terminal has key id {key_id!r}")
        status, self.pem = found[0], found[1]
        if status == "revoked":
            TERMINAL_KEYS.forget(key_id)
            raise signing.RevokedKey(f"terminal {key_id} has been revoked")
        return TERMINAL_KEYS.remember(key_id, self.pem)


def _verify_headers(cached: bool) -> tuple[signing.SignedRequest, str, bool]:
    """This request's signature checked from its headers, the PEM of the key that verified it, and
    whether that key came from this worker's memory (not yet confirmed against the database).

    A signature that fails with a key from memory is checked once more with the database's (the
    terminal may have a new key), and the remembered one is dropped."""
    url = wsgi_request_url(request.environ)
    headers = list(request.headers.items())
    lookup = _KeyLookup(cached)
    try:
        signed = signing.verify_signature(request.method, url, headers, lookup)
        return signed, lookup.pem, lookup.from_memory
    except signing.SignatureError:
        if not lookup.from_memory:
            raise
        TERMINAL_KEYS.forget(lookup.key_id)
    lookup = _KeyLookup(cached=False)
    return signing.verify_signature(request.method, url, headers, lookup), lookup.pem, False


class ChallengeAnswers:
    """The nonce policy of requests that answer a one-time card challenge (a lookup): they keep no
    nonce. The challenge in the body is their replay guard (it is answered once, then refused
    with ``challenge_used``), and asking for a challenge again changes nothing; so these requests
    leave no row behind: no record that a terminal looked a card up, or when."""

    def seen(self, key_id: str, nonce: str, created: int) -> bool:
        return False


def terminal_id(keep_nonce: bool = True, body_limit: int | None = None) -> str:
    """The terminal that signed this request, or ``Unauthorized`` with the signature's error code.

    ``keep_nonce=False``: the request answers a card challenge (see :class:`ChallengeAnswers`);
    it keeps nothing in which to confirm a remembered key, so its key is read from the database.
    ``body_limit``: the largest body this endpoint takes (default: the server's request limit).
    """
    if "terminal_id" not in g:
        signed, pem, _ = _verify_headers(cached=keep_nonce)
        limit_body(body_limit or config().max_request_bytes)
        body = request.get_data(cache=True)
        if keep_nonce:
            verified = signed.accept(body, _NonceKeptNow(pem))
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
        signed, g.terminal_key_pem, from_memory = _verify_headers(cached=True)
        g.terminal_signature = signed
        if from_memory:
            g.terminal_key_unconfirmed = True  # until a statement confirms it (or on the way out)
        limit_body(config().max_request_bytes)
    found: signing.SignedRequest = g.terminal_signature
    return found


def accept_terminal_request(conn: Connection) -> str:
    """The terminal that signed this request: body checked against the signed digest and the nonce
    kept in ``conn``, the caller's write transaction, so a request that writes anyway (the
    connection test's report, a hundred thousand of them in one window) commits once, not twice."""
    signed = terminal_signature()
    verified = signed.accept(request.get_data(cache=True), _ConfirmingNonceStore(conn, g.terminal_key_pem))
    terminal_key_confirmed()
    g.terminal_id = verified.key_id
    return verified.key_id


def pending_terminal_request() -> PendingNonce:
    """This request's body checked against the signed digest; its nonce (and the key it verified
    with) for the caller's own statement to confirm and keep (``terminal_auth_keys``); once that
    statement has run, the caller says so with :func:`terminal_key_confirmed`."""
    signed = terminal_signature()
    verified = signed.accept(request.get_data(cache=True), _Deferred())
    g.terminal_id = verified.key_id
    return PendingNonce(verified.key_id, verified.nonce, verified.created, g.terminal_key_pem)


def terminal_key_confirmed() -> None:
    """The request's key was confirmed by the statement that kept its nonce: nothing to check on
    the way out."""
    g.pop("terminal_key_unconfirmed", None)


def _confirm_key(response: Response) -> Response:
    """A request answered before a statement confirmed its key from memory (body too large or
    malformed, or refused in the view first): the key confirmed now, and a revoked terminal (or a
    key it no longer has) refused as such, the answer every other endpoint gives first."""
    if g.pop("terminal_key_unconfirmed", None) is None:
        return response
    signed: signing.SignedRequest = g.terminal_signature
    try:
        with read(engine()) as conn:
            confirm_key(conn, signed.key_id, g.terminal_key_pem)
    except signing.SignatureError as e:
        return refusal_response(e)
    return response


def signed_terminal_endpoints(bp: Blueprint) -> None:
    """Like :func:`terminal_endpoints`, for views that call :func:`accept_terminal_request` (or
    :func:`pending_terminal_request`) in their write transaction: the signature is checked from
    the headers before the body is read, and the key on the way out if no statement did."""

    @bp.before_request
    def check_terminal_signature() -> None:
        terminal_signature()

    bp.after_request(_confirm_key)
