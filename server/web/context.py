"""What a view reads from the app and the request it serves: the engine, the config, the caller's
client-id key, the body limit, and the types views return.

Domain principals (operators, terminals, partners) are authenticated by their own domains; this
module only reads what they leave on ``flask.g`` to scope a client id.
"""

from __future__ import annotations

from typing import Any

from flask import Response, current_app, g, request
from flask_openapi3.types import ResponseDict
from sqlalchemy import Engine

from mkp_core import wire
from mkp_core.errors import TooLarge
from server.config import ServerConfig
from server.db.client_ids import operator_key, partner_key, terminal_key

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


def config() -> ServerConfig:
    found: ServerConfig = current_app.extensions["mkp.config"]
    return found


def caller_key(client_id: str) -> str:
    """``client_id`` under the principal that authenticated this request (operator, terminal or
    partner: ``server.db.client_ids``); the endpoint's own authentication has run by then."""
    if "operator" in g:
        return operator_key(g.operator.id, client_id)
    terminal = g.get("terminal_id") or getattr(g.get("terminal_signature"), "key_id", None)
    if terminal is not None:
        return terminal_key(terminal, client_id)
    if "partner_signature" in g:
        return partner_key(g.partner_signature.key_id.removeprefix("partner:"), client_id)
    raise RuntimeError("caller_key needs an authenticated operator, terminal or partner")


def limit_body(limit: int) -> None:
    """Refuse a body over ``limit`` bytes from its Content-Length, before a byte of it is read.

    A body without a length (chunked) is cut at the same limit while it is read.
    """
    request.max_content_length = limit
    if request.content_length is not None and request.content_length > limit:
        raise TooLarge(
            "too_large", f"the request body is {request.content_length} bytes; at most {limit} here"
        )
