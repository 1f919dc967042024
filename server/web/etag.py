"""Conditional downloads: a JSON reply tagged by its content, so a poller fetches only changes."""

from __future__ import annotations

import hashlib
import json

from flask import Response, request

from server.web.context import Json


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
