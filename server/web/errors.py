"""The one error shape every endpoint answers with, and the handlers that turn exceptions into it.

A domain raises an ``MkpError`` (``mkp_core.errors``) and never builds an HTTP reply: its
``kind`` picks the status here, so the same refusal reads the same from every endpoint.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, jsonify, request
from flask.typing import ResponseReturnValue
from pydantic import ValidationError
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from mkp_core.errors import MkpError, Throttled
from server.web import validation
from server.web.logs import REQUEST_ID_HEADER, request_id

log = logging.getLogger("mkp.server")

# The HTTP status for each kind of refusal (``MkpError.kind``).
STATUS_BY_KIND = {
    "invalid": 422,
    "not_found": 404,
    "conflict": 409,
    "forbidden": 403,
    "unauthorized": 401,
    "too_large": 413,
    "unavailable": 503,
    "throttled": 429,  # too many wrong coupon codes from one source
}


def error_response(
    status: int, code: str, message: str, details: list[dict[str, Any]] | None = None
) -> Response:
    """The one error shape; it names the request so an operator can find its log lines."""
    error: dict[str, Any] = {"code": code, "message": message, "request_id": request_id()}
    if details:
        error["details"] = details
    response = jsonify({"error": error})
    response.status_code = status
    return response


def refusal_response(e: MkpError) -> Response:
    """A domain refusal as the one error shape; a throttled one says when to try again."""
    response = error_response(STATUS_BY_KIND.get(e.kind, 400), e.code, e.message, e.details)
    if isinstance(e, Throttled) and e.retry_after is not None:
        response.headers["Retry-After"] = str(max(1, e.retry_after))
    return response


def validation_error(e: ValidationError) -> Response:
    """Pydantic errors in the one error shape; the first error names the code."""
    errors = e.errors(include_url=True, include_context=False, include_input=False)
    first, code = errors[0], validation.error_code(e)
    if first["type"] in validation.NOT_AN_OBJECT:
        message = "the request body must be a JSON object"
    else:
        where = ".".join(str(p) for p in first["loc"])
        message = f"{where}: {first['msg']}" if where else first["msg"]
    details = [
        {"field": ".".join(str(p) for p in err["loc"]), "type": err["type"], "message": err["msg"]}
        for err in errors
    ]
    return error_response(422, code, message, details)


def http_error(e: HTTPException) -> ResponseReturnValue:
    """Flask's own refusals (404 for an unknown URL, 405...) in the one error shape."""
    if e.response is not None:  # already a complete reply (validation errors)
        return e.response
    if isinstance(e, RequestEntityTooLarge):  # a chunked body that grew past the limit
        return error_response(413, "too_large", "the request body is larger than this endpoint accepts")
    code = (e.name or "error").lower().replace(" ", "_")
    return error_response(e.code or 500, code, e.description or e.name)


def internal_error(e: Exception) -> Response:
    """A bug: logged with its traceback, answered with one line and no detail."""
    log.exception("unhandled error in %s %s", request.method, request.path)
    return error_response(500, "internal_error", "the server failed; the request was not applied")


def name_the_request(response: Response) -> Response:
    """Every reply carries its request id, as its log lines do."""
    response.headers[REQUEST_ID_HEADER] = request_id()
    return response


def init_app(app: Flask) -> None:
    """Answer every refusal and failure of ``app`` in the one error shape."""
    app.register_error_handler(MkpError, refusal_response)
    app.register_error_handler(HTTPException, http_error)
    app.after_request(name_the_request)
    app.register_error_handler(Exception, internal_error)
