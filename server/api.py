"""What every blueprint shares: the engine, the calling operator, JSON replies."""

from __future__ import annotations

from flask import current_app, g, request
from sqlalchemy import Engine

from server.db.engine import read
from server.operators.service import Operator, authenticate

BEARER = [{"operator_token": []}]


def engine() -> Engine:
    return current_app.extensions["mkp.engine"]


def operator() -> Operator:
    """The operator behind this request's bearer token (401 otherwise); cached per request."""
    if "operator" not in g:
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        with read(engine()) as conn:
            g.operator = authenticate(conn, token.strip() if scheme.lower() == "bearer" else None)
    return g.operator

