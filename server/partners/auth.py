"""Signed partner requests: RFC 9421 as a terminal's, tagged ``mkp-partner``, key id ``partner:<ID>``.

Checked as a terminal's are (``server.platform.terminal_auth``): signature from the headers first (key
known and not revoked, clock), then the body's size, then the body against the signed digest and
the nonce kept in the database (every worker sees every nonce). A terminal's signature carries the
terminal tag and is refused here (``missing_signature``), as is an operator's bearer token
(``wrong_credential``); a partner's signature is refused on their APIs the same way.

The public key a signature is checked with is kept per process once read (by key id, with the
stored PEM it came from), so a partner's request costs no read transaction of its own. The key is
still confirmed on every request, in the view's own write transaction (:func:`accepted_partner`:
the partner row is read there anyway): a revoked key is refused at once (``revoked_key``), on every
worker, and a changed key is refused as a signature that does not verify. A request refused before
its view confirms the key (too large, malformed) has the key confirmed on the way out, so a revoked
partner still hears ``revoked_key`` first, as it did when the key was read before anything else.
"""

from __future__ import annotations

from flask import Blueprint, Response, g, request
from sqlalchemy import Connection

from mkp_core import signing
from mkp_core.errors import Unauthorized
from server.db.engine import read
from server.partners import registry
from server.partners.registry import Partner
from server.platform.known_keys import KnownKeys
from server.platform.terminal_auth import DatabaseNonceStore
from server.web.context import config, engine, limit_body
from server.web.errors import refusal_response
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
        g.partner_signature, g.partner_key_pem = _verified(wsgi_request_url(request.environ))
        limit_body(_body_limit())
    found: signing.SignedRequest = g.partner_signature
    return found


#: What this process has read of partners' keys; each request confirms its key.
PARTNER_KEYS = KnownKeys(limit=10_000)


def _verified(url: str) -> tuple[signing.SignedRequest, str]:
    """This request's signature and the stored PEM of the key it verified with: the key this
    process knows if that verifies (``partner_key_unconfirmed`` is then left on ``g``), else
    (unknown here, or refused with it) the key read from the database now, as the refusal's
    judge."""
    headers = list(request.headers.items())
    used: list[str] = []

    def known(key_id: str) -> signing.PublicKey:
        found = PARTNER_KEYS.get(key_id)
        if found is None:
            raise signing.UnknownKey(key_id)
        used.append(found[0])
        return found[1]

    try:
        signed = signing.verify_signature(request.method, url, headers, known, tag=signing.PARTNER_TAG)
    except signing.SignatureError:
        pass
    else:
        g.partner_key_unconfirmed = True
        return signed, used[-1]

    def stored(key_id: str) -> signing.PublicKey:
        row = registry.key_row(conn, key_id)
        used.append(row.public_key_pem)
        return PARTNER_KEYS.remember(key_id, row.public_key_pem)

    used.clear()
    with read(engine()) as conn:
        signed = signing.verify_signature(request.method, url, headers, stored, tag=signing.PARTNER_TAG)
    return signed, used[-1]


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
    """The id of the partner that signed this request (:func:`accepted_partner`)."""
    return accepted_partner(conn).id


def accepted_partner(
    conn: Connection,
    confirmed: dict[tuple[str, str], Partner] | None = None,
    nonces: signing.NonceStore | None = None,
) -> Partner:
    """The partner that signed this request: its key confirmed (active, the one the signature was
    checked with), the body checked against the signed digest and the nonce kept, all in ``conn``,
    the view's own write transaction (one commit a conversion, not two).

    ``confirmed``: the keys confirmed already in this same transaction (several requests' at once,
    ``server.db.engine.WriteGroup``), by key id and key, each read once there; ``nonces``: where
    those requests' nonces are noted, to be kept together (``terminal_auth.NoncesOfAPass``).

    A request refused further on rolls its nonce back with everything else; sent again it is
    judged again, and every partner mutation is idempotent (order id, client id) anyway."""
    signed = partner_signature()
    g.pop("partner_key_unconfirmed", None)
    seen = (signed.key_id, g.partner_key_pem)
    partner = confirmed.get(seen) if confirmed is not None else None
    if partner is None:
        try:
            partner = registry.signed_by(conn, signed.key_id, g.partner_key_pem)
        except signing.SignatureError:
            PARTNER_KEYS.forget(signed.key_id)
            raise
        if confirmed is not None:
            confirmed[seen] = partner
    signed.accept(request.get_data(cache=True), DatabaseNonceStore(conn) if nonces is None else nonces)
    return partner


def _confirm_key(response: Response) -> Response:
    """A request answered without its key confirmed (refused before its view wrote, or a view that
    does not write): the key confirmed now, and a revoked or changed one refused as such."""
    if g.pop("partner_key_unconfirmed", None) is None:
        return response
    signed: signing.SignedRequest = g.partner_signature
    try:
        with read(engine()) as conn:
            registry.signed_by(conn, signed.key_id, g.partner_key_pem)
    except signing.SignatureError as e:
        PARTNER_KEYS.forget(signed.key_id)
        return refusal_response(e)
    return response


def partner_endpoints(bp: Blueprint) -> None:
    """Every request to ``bp`` is a signed partner request, its signature checked before its body is
    read; the views accept the body and nonce in their write transaction."""

    @bp.before_request
    def authenticate_partner() -> None:
        partner_signature()

    bp.after_request(_confirm_key)
