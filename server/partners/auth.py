"""Signed partner requests: RFC 9421 as a terminal's, tagged ``mkp-partner``, key id ``partner:<ID>``.

Checked as a terminal's are (``server.terminals.auth``): signature from the headers first (key
known and not revoked, clock), then the body's size, then the body against the signed digest and
the nonce kept in the database (every worker sees every nonce). A terminal's signature carries the
terminal tag and is refused here (``missing_signature``), as is an operator's bearer token
(``wrong_credential``); a partner's signature is refused on their APIs the same way.
"""

from __future__ import annotations

from flask import Blueprint, g, request

from mkp_core import signing
from mkp_core.errors import Unauthorized
from server.api import config, engine, limit_body
from server.db.engine import read, run_write
from server.partners import registry
from server.terminals.auth import DatabaseNonceStore
from server.wsgi import wsgi_request_url

PARTNER_SIGNATURE = [{"partner_signature": []}]


def partner_id() -> str:
    """The partner that signed this request (cached per request), or ``Unauthorized``."""
    if "partner_id" not in g:
        if request.headers.get("Authorization"):
            raise Unauthorized(
                "wrong_credential", "the partner API takes a partner's signed request, not an operator token"
            )
        url = wsgi_request_url(request.environ)
        with read(engine()) as conn:
            signed = signing.verify_signature(
                request.method,
                url,
                list(request.headers.items()),
                lambda key_id: registry.public_key(conn, key_id),
                tag=signing.PARTNER_TAG,
            )
        limit_body(config().max_request_bytes)
        body = request.get_data(cache=True)
        verified = run_write(engine(), lambda conn: signed.accept(body, DatabaseNonceStore(conn)))
        g.partner_id = verified.key_id[len(registry.KEY_PREFIX) :]
    return g.partner_id


def partner_endpoints(bp: Blueprint) -> None:
    """Every request to ``bp`` is a signed partner request, checked before its body is read."""

    @bp.before_request
    def authenticate_partner() -> None:
        partner_id()
