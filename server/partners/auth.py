"""Signed partner requests: RFC 9421 as a terminal's, tagged ``mkp-partner``, key id ``partner:<ID>``.

Checked as a terminal's are (``server.platform.terminal_auth``): signature from the headers first (key
known and not revoked, clock), then the body's size, then the body against the signed digest and
the nonce kept in the database (every worker sees every nonce). A terminal's signature carries the
terminal tag and is refused here (``missing_signature``), as is an operator's bearer token
(``wrong_credential``); a partner's signature is refused on their APIs the same way.
"""

from __future__ import annotations

from flask import Blueprint, g, request
from sqlalchemy import Connection

from mkp_core import signing
from mkp_core.errors import Unauthorized
from server.db.engine import read
from server.partners import registry
from server.platform.terminal_auth import DatabaseNonceStore
from server.web.context import config, engine, limit_body
from server.web.request_url import wsgi_request_url

PARTNER_SIGNATURE: list[dict[str, list[str]]] = [{"partner_signature": []}]


def partner_signature() -> signing.SignedRequest:
    """This request's signature checked from its headers (a partner's key, not revoked, clock), then
    its body's size; the body and nonce wait for :func:`accept_partner_request`. Cached per request."""
    if "partner_signature" not in g:
        if request.headers.get("Authorization"):
            raise Unauthorized(
                "wrong_credential", "the partner API takes a partner's signed request, not an operator token"
            )
        url = wsgi_request_url(request.environ)
        with read(engine()) as conn:
            g.partner_signature = signing.verify_signature(
                request.method,
                url,
                list(request.headers.items()),
                lambda key_id: registry.public_key(conn, key_id),
                tag=signing.PARTNER_TAG,
            )
        limit_body(_body_limit())
    found: signing.SignedRequest = g.partner_signature
    return found


BATCH_ENDPOINTS = {"partner_api.convert_batch"}


def _body_limit() -> int:
    """A batch of orders may be larger than any other partner request."""
    if request.endpoint in BATCH_ENDPOINTS:
        return config().max_partner_batch_bytes
    return config().max_request_bytes


def signed_partner_id() -> str:
    """The partner whose key signed this request (its body and nonce not accepted yet)."""
    return partner_signature().key_id[len(registry.KEY_PREFIX) :]


def accept_partner_request(conn: Connection) -> str:
    """The partner that signed this request: the body checked against the signed digest and the
    nonce kept in ``conn``, the view's own write transaction (one commit a conversion, not two).

    A request refused further on rolls its nonce back with everything else; sent again it is
    judged again, and every partner mutation is idempotent (order id, client id) anyway."""
    verified = partner_signature().accept(request.get_data(cache=True), DatabaseNonceStore(conn))
    return verified.key_id[len(registry.KEY_PREFIX) :]


def partner_endpoints(bp: Blueprint) -> None:
    """Every request to ``bp`` is a signed partner request, its signature checked before its body is
    read; the views accept the body and nonce in their write transaction."""

    @bp.before_request
    def authenticate_partner() -> None:
        partner_signature()
