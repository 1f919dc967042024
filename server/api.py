"""What every blueprint shares: the engine, the calling operator, body limits, JSON replies."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from flask import Blueprint, Response, current_app, g, request
from flask_openapi3.types import ResponseDict
from sqlalchemy import Engine

from mkp_core import wire
from mkp_core.cardproof import CardProof
from mkp_core.errors import TooLarge
from mkp_core.trust import TrustStore
from server.client_ids import operator_key, partner_key, terminal_key
from server.config import ServerConfig
from server.crls.service import CurrentCrls, trust_from_config
from server.db.engine import read
from server.files import secret_key
from server.mykey.cards import CardCheck
from server.operators.service import Operator, authenticate
from server.terminals.ca import TerminalCA

BEARER: list[dict[str, list[str]]] = [{"operator_token": []}]

Json = dict[str, Any]
"""A JSON object as a view builds it: Flask serialises it."""
View = Json | tuple[Json, int] | Response
"""What a view returns to flask-openapi3: a JSON object, one with its status, or a response."""


def error_responses(*statuses: int) -> ResponseDict:
    """The OpenAPI ``responses`` entries of the errors an endpoint can answer: one shape for all."""
    return dict.fromkeys(statuses, wire.ErrorResponse)


def engine() -> Engine:
    found: Engine = current_app.extensions["mkp.engine"]
    return found


def operator() -> Operator:
    """The operator behind this request's bearer token (401 otherwise); cached per request."""
    if "operator" not in g:
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        with read(engine()) as conn:
            g.operator = authenticate(conn, token.strip() if scheme.lower() == "bearer" else None)
    found: Operator = g.operator
    return found


def caller_key(client_id: str) -> str:
    """``client_id`` under the principal that authenticated this request (operator, terminal or
    partner: ``server.client_ids``); the endpoint's own authentication has run by then."""
    if "operator" in g:
        return operator_key(g.operator.id, client_id)
    terminal = g.get("terminal_id") or getattr(g.get("terminal_signature"), "key_id", None)
    if terminal is not None:
        return terminal_key(terminal, client_id)
    if "partner_signature" in g:
        return partner_key(g.partner_signature.key_id.removeprefix("partner:"), client_id)
    raise RuntimeError("caller_key needs an authenticated operator, terminal or partner")


def config() -> ServerConfig:
    found: ServerConfig = current_app.extensions["mkp.config"]
    return found


def trust_store() -> TrustStore:
    """JPKI trust anchors from config (J-LIS's real ones unless files are named)."""
    ext = current_app.extensions
    if "mkp.trust" not in ext:
        ext["mkp.trust"] = trust_from_config(config().jpki_anchor_files)
    found: TrustStore = ext["mkp.trust"]
    return found


def current_crls() -> CurrentCrls:
    """The CRLs cards are checked against (cached per worker, reloaded when an upload changes them)."""
    ext = current_app.extensions
    if "mkp.crls" not in ext:
        ext["mkp.crls"] = CurrentCrls(trust_store())
    found: CurrentCrls = ext["mkp.crls"]
    return found


def challenge_key() -> bytes:
    """The key card challenges are MACed with (``secrets_dir/challenge.key``, made on first use)."""
    ext = current_app.extensions
    if "mkp.challenge_key" not in ext:
        ext["mkp.challenge_key"] = secret_key(Path(config().secrets_dir) / "challenge.key")
    found: bytes = ext["mkp.challenge_key"]
    return found


def card_check() -> CardCheck:
    """What checking a card proof needs: the JPKI anchors, the current CRLs, the challenge key."""
    c = config()
    return CardCheck(
        trust=trust_store(),
        crls=current_crls(),
        challenge_key=challenge_key(),
        crl_max_age=timedelta(hours=c.crl_max_age_hours),
    )


def card_proof(body: wire.CardProofBody) -> CardProof:
    """A request's card proof as the checks take it."""
    return CardProof.from_wire(body.model_dump())


def limit_body(limit: int) -> None:
    """Refuse a body over ``limit`` bytes from its Content-Length, before a byte of it is read.

    A body without a length (chunked) is cut at the same limit while it is read.
    """
    request.max_content_length = limit
    if request.content_length is not None and request.content_length > limit:
        raise TooLarge(
            "too_large", f"the request body is {request.content_length} bytes; at most {limit} here"
        )


def operator_endpoints(bp: Blueprint, body_limit: Callable[[ServerConfig], int] | None = None) -> None:
    """Every request to ``bp`` is authenticated from its headers, then its size checked, and only
    then is its body read and validated: an anonymous caller gets 401 and costs nothing to refuse."""

    @bp.before_request
    def authenticate_then_limit() -> None:
        operator()
        limit_body(body_limit(config()) if body_limit else config().max_request_bytes)


def terminal_ca() -> TerminalCA:
    """The terminal CA (made by ``mkp-server init``; made here if it is missing)."""
    ext = current_app.extensions
    if "mkp.terminal_ca" not in ext:
        ext["mkp.terminal_ca"] = TerminalCA.open(config().terminal_ca_dir)
    found: TerminalCA = ext["mkp.terminal_ca"]
    return found


def _canonical(payload: Json) -> bytes:
    return json.dumps(payload, sort_keys=True, default=str, ensure_ascii=False).encode()


def content_version(payload: Json) -> str:
    """A short tag that changes exactly when the payload does."""
    return hashlib.sha256(_canonical(payload)).hexdigest()[:16]


def etagged(payload: Json, etag: str | None = None) -> Response:
    """A JSON reply with a strong ETag (``etag``, else a hash of the body); ``If-None-Match`` with
    it gets 304 and no body."""
    body = _canonical(payload)
    response = Response(body, mimetype="application/json")
    response.set_etag(etag or hashlib.sha256(body).hexdigest()[:32])
    response.make_conditional(request)  # in place (it returns the same response, typed as werkzeug's)
    return response
