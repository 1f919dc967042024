"""The application factory: ``create_app(config)`` builds a server from one config object."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, jsonify, request
from flask.typing import ResponseReturnValue
from flask_openapi3 import Info, OpenAPI
from pydantic import ValidationError
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge
from werkzeug.middleware.proxy_fix import ProxyFix

from mkp_core.errors import MkpError, Throttled
from mkp_core.wire import Health
from server import validation
from server.config import ServerConfig
from server.db.engine import make_engine, read
from server.db.migrate import current_revision
from server.json_bodies import JSONProvider
from server.logs import REQUEST_ID_HEADER, request_id

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


def _trust_forwarded_for(app: Flask, hops: int) -> None:
    """Behind ``hops`` proxies, the client's address is the one they add to X-Forwarded-For
    (the per-address challenge limit counts by it); with none, the peer's address is the client's."""
    if hops:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops)  # type: ignore[method-assign]


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


def create_app(config: ServerConfig | None = None) -> Flask:
    """Build the server for ``config`` (defaults: env vars and MKP_CONFIG)."""
    config = config or ServerConfig.load()
    app = OpenAPI(
        "mkp.server",
        info=Info(title="mkp ledger server", version="1"),
        security_schemes={
            "operator_token": {"type": "http", "scheme": "bearer"},
            "terminal_signature": {
                "type": "apiKey",
                "in": "header",
                "name": "Signature",
                "description": "RFC 9421 HTTP Message Signature by the terminal key (with Signature-Input, Content-Digest)",
            },
            "partner_signature": {
                "type": "apiKey",
                "in": "header",
                "name": "Signature",
                "description": "RFC 9421 HTTP Message Signature by a partner's key (key id partner:<ID>, tag mkp-partner)",
            },
        },
        validation_error_status=422,
        validation_error_callback=validation_error,
        doc_ui=False,
    )
    app.json = JSONProvider(app)
    app.config["MAX_CONTENT_LENGTH"] = config.max_request_bytes
    app.config["TESTING"] = config.testing
    app.extensions["mkp.config"] = config
    _trust_forwarded_for(app, config.forwarded_hops)
    engine = make_engine(config.database_url)
    app.extensions["mkp.engine"] = engine

    from server.conntest.api import bp as conntests_bp  # the connection test
    from server.conntest.api import clock_bp as terminal_clock_bp
    from server.conntest.api import terminal_bp as terminal_conntests_bp
    from server.counter.api import card_bp as counter_card_bp
    from server.counter.api import operator_bp as counter_admin_bp
    from server.counter.api import queue_bp as counter_queue_bp
    from server.crls.api import bp as crls_bp
    from server.departments.api import batch_bp as grant_batches_bp
    from server.departments.api import bp as departments_bp
    from server.events.api import bp as events_bp
    from server.municipalities.api import bp as municipalities_bp
    from server.mykey.api import holder_bp as mykey_bp
    from server.mykey.api import operator_bp as mykey_admin_bp
    from server.mykey.api import terminal_bp as terminal_mykey_bp
    from server.points.api import bp as points_bp
    from server.releases.api import bp as releases_bp
    from server.releases.api import terminal_bp as terminal_release_bp
    from server.rewards.api import bp as rewards_bp
    from server.rewards.api import public_bp as public_rewards_bp
    from server.terminals.api import bp as terminals_bp
    from server.terminals.api import enroll_bp
    from server.terminals.downloads import bp as terminal_bp
    from server.transit.api import bp as transit_bp

    for blueprint in (
        municipalities_bp,
        points_bp,
        terminals_bp,
        enroll_bp,
        terminal_bp,
        crls_bp,
        releases_bp,
        terminal_release_bp,
        mykey_bp,
        terminal_mykey_bp,
        mykey_admin_bp,
        departments_bp,
        grant_batches_bp,
        events_bp,
        rewards_bp,
        public_rewards_bp,
        transit_bp,
        counter_card_bp,
        counter_queue_bp,
        counter_admin_bp,
        conntests_bp,
        terminal_conntests_bp,
        terminal_clock_bp,
    ):
        app.register_api(blueprint)

    # --- paper vouchers ---
    from server.vouchers.api import bp as vouchers_bp
    from server.vouchers.api import terminal_bp as terminal_vouchers_bp
    from server.vouchers.phone import bp as voucher_phone_bp

    app.register_api(vouchers_bp)
    app.register_api(terminal_vouchers_bp)
    app.register_blueprint(voucher_phone_bp)  # an HTML page, not part of the API document

    # --- partner points ---
    from server.partners import api as partners_api

    for blueprint in (
        partners_api.partner_bp,
        partners_api.holder_bp,
        partners_api.terminal_bp,
        partners_api.operator_bp,
    ):
        app.register_api(blueprint)
    # --- settlement and the shopping-street points migration ---
    from server.settlement.api import bp as settlement_bp
    from server.street_points.api import bp as migrations_bp

    app.register_api(settlement_bp)
    app.register_api(migrations_bp)

    # --- My Page: the card's activation code (at a kiosk) and login link (at home) ---
    from server.mypage import api as mypage_api

    app.register_api(mypage_api.terminal_bp)
    app.register_api(mypage_api.holder_bp)

    # --- the audit trail: every operator's and partner's state change ---
    from server import audit

    audit.init_app(app)

    # --- the web pages' kernel: language, CSRF, cookies, security headers, static files ---
    from server import site

    site.init_app(app)

    # --- web logins (My Page, the console): session cookies ---
    from server import logins

    logins.init_app(app)

    # --- My Page: a resident's own pages ---
    from server import mypage

    mypage.init_app(app)

    # The document is generated from the same models that validate the requests.
    app.add_url_rule("/openapi.json", "openapi_json", lambda: app.api_doc)

    @app.get("/healthz", responses={200: Health, 503: Health}, doc_ui=True)
    def healthz() -> dict[str, Any] | tuple[dict[str, Any], int]:
        """Liveness and database reachability."""
        try:
            with read(engine) as conn:
                conn.execute(text("SELECT 1"))
            return {
                "status": "ok",
                "database": engine.dialect.name,
                "schema_version": current_revision(engine),
            }
        except SQLAlchemyError:
            log.exception("health check failed")
            return {"status": "unavailable", "database": engine.dialect.name, "schema_version": None}, 503

    @app.errorhandler(MkpError)
    def domain_error(e: MkpError) -> Response:
        return refusal_response(e)

    @app.errorhandler(HTTPException)
    def http_error(e: HTTPException) -> ResponseReturnValue:
        if e.response is not None:  # already a complete reply (validation errors)
            return e.response
        if isinstance(e, RequestEntityTooLarge):  # a chunked body that grew past the limit
            return error_response(413, "too_large", "the request body is larger than this endpoint accepts")
        code = (e.name or "error").lower().replace(" ", "_")
        return error_response(e.code or 500, code, e.description or e.name)

    @app.after_request
    def name_the_request(response: Response) -> Response:
        response.headers[REQUEST_ID_HEADER] = request_id()
        return response

    @app.errorhandler(Exception)
    def internal_error(e: Exception) -> Response:
        log.exception("unhandled error in %s %s", request.method, request.path)
        return error_response(500, "internal_error", "the server failed; the request was not applied")

    return app
