"""The operator behind a request: its bearer token checked once, before the body is read."""

from __future__ import annotations

from collections.abc import Callable

from flask import Blueprint, g, request

from server.config import ServerConfig
from server.db.engine import read
from server.platform.operators.service import Operator, authenticate
from server.web.context import config, engine, limit_body

BEARER: list[dict[str, list[str]]] = [{"operator_token": []}]


def operator() -> Operator:
    """The operator behind this request's bearer token (401 otherwise); cached per request."""
    if "operator" not in g:
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        with read(engine()) as conn:
            g.operator = authenticate(conn, token.strip() if scheme.lower() == "bearer" else None)
    found: Operator = g.operator
    return found


def operator_endpoints(bp: Blueprint, body_limit: Callable[[ServerConfig], int] | None = None) -> None:
    """Every request to ``bp`` is authenticated from its headers, then its size checked, and only
    then is its body read and validated: an anonymous caller gets 401 and costs nothing to refuse."""

    @bp.before_request
    def authenticate_then_limit() -> None:
        operator()
        limit_body(body_limit(config()) if body_limit else config().max_request_bytes)
