"""The operator behind a request: its bearer token checked once, before the body is read.

Reading the token's operator cost every operator request a read transaction of its own (three
round trips on PostgreSQL) for what changes once in a token's life. So a server process remembers
each operator it has read, by the token's SHA-256 hash (never the token: the hash is what the
database stores too), and confirms on every request that the stored token still holds, in a
transaction the request opens anyway:

1. **Headers.** A missing or malformed token, or one this process does not know, is read from the
   database now, as before: an anonymous or unknown caller gets 401 before its body is read.
2. **In the write.** A remembered one is confirmed by one statement at the end of each of the
   request's write transactions, as it commits (``server.db.engine.add_before_commit``; on
   PostgreSQL sent with the COMMIT, which the database skips if the token no longer holds): a
   revoked token's change is rolled back and refused with 401, on every worker and host, at the
   token's very next request.
3. **On the way out.** A request answered without such a commit (a read, a refusal, a retry answered
   from its first reply) has the token confirmed in a read transaction before its answer leaves,
   and a revoked token's answer is replaced by the 401 a fresh read gives.

The process forgets a token its confirmation refused.
"""

from __future__ import annotations

from collections.abc import Callable

from flask import Blueprint, Response, after_this_request, g, has_request_context, request
from sqlalchemy import Connection

from mkp_core.errors import Unauthorized
from server.config import ServerConfig
from server.db.engine import add_before_commit, on_commit, read
from server.platform.operators.service import (
    Operator,
    confirm,
    confirm_at_commit,
    not_recognised,
    operator_by_hash,
    token_hash,
)
from server.web.context import config, engine, limit_body
from server.web.errors import refusal_response

BEARER: list[dict[str, list[str]]] = [{"operator_token": []}]

#: Operators remembered per process; past this many the memory is emptied and refilled as they call.
MAX_KNOWN_TOKENS = 10_000


class KnownTokens:
    """Token hash -> the operator it was read as (dict updates are atomic: threads may race, and
    either one's entry is right)."""

    def __init__(self, limit: int = MAX_KNOWN_TOKENS) -> None:
        self.limit = limit
        self._operators: dict[str, Operator] = {}

    def get(self, digest: str) -> Operator | None:
        return self._operators.get(digest)

    def remember(self, digest: str, operator: Operator) -> None:
        if len(self._operators) >= self.limit:
            self._operators.clear()
        self._operators[digest] = operator

    def forget(self, digest: str) -> None:
        self._operators.pop(digest, None)

    def __len__(self) -> int:
        return len(self._operators)


#: What this process has read of operators' tokens; each request confirms its token.
OPERATOR_TOKENS = KnownTokens()


def operator() -> Operator:
    """The operator behind this request's bearer token (401 otherwise); cached per request."""
    if "operator" not in g:
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        digest = token_hash(token.strip() if scheme.lower() == "bearer" else None)
        known = OPERATOR_TOKENS.get(digest)
        if known is None:
            with read(engine()) as conn:
                known = operator_by_hash(conn, digest)
            OPERATOR_TOKENS.remember(digest, known)
        else:
            g.operator_token_unconfirmed = digest
            add_before_commit(_confirm_in_write)
            after_this_request(_confirm_on_the_way_out)
        g.operator = known
    found: Operator = g.operator
    return found


def _confirm(conn: Connection, digest: str) -> None:
    try:
        confirm(conn, g.operator, digest)
    except Unauthorized:
        OPERATOR_TOKENS.forget(digest)
        raise
    g.pop("operator_token_unconfirmed", None)


def _confirm_in_write(conn: Connection) -> None:
    """Step 2: the remembered token confirmed in the request's write transaction, as it commits
    (with its COMMIT: ``confirm_at_commit``); a revoked one's transaction is rolled back."""
    digest = g.get("operator_token_unconfirmed") if has_request_context() else None
    if digest is None:
        return
    flags = g._get_current_object()  # the commit may come on another thread (a write group's)
    confirm_at_commit(conn, g.operator, digest, lambda: _refused(digest))
    on_commit(conn, lambda: flags.pop("operator_token_unconfirmed", None))


def _refused(digest: str) -> Exception:
    """A remembered token its confirmation refused: forgotten by this process, and its 401."""
    OPERATOR_TOKENS.forget(digest)
    return not_recognised()


def _confirm_on_the_way_out(response: Response) -> Response:
    """Step 3: a remembered token no commit of the request confirmed, confirmed now."""
    digest = g.get("operator_token_unconfirmed")
    if digest is None:
        return response
    try:
        with read(engine()) as conn:
            _confirm(conn, digest)
    except Unauthorized as e:
        return refusal_response(e)
    return response


def operator_endpoints(bp: Blueprint, body_limit: Callable[[ServerConfig], int] | None = None) -> None:
    """Every request to ``bp`` is authenticated from its headers, then its size checked, and only
    then is its body read and validated: an anonymous caller gets 401 and costs nothing to refuse."""

    @bp.before_request
    def authenticate_then_limit() -> None:
        operator()
        limit_body(body_limit(config()) if body_limit else config().max_request_bytes)
