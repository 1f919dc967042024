"""The composition root: ``create_app(config)`` builds a server from one config object.

The web kernel (``server.web``) answers errors and serves JSON; every domain plugs its endpoints
in with ``init_app``, in the order of ``DOMAINS``. A new domain is one line here.
"""

from __future__ import annotations

import functools
import logging
from types import ModuleType
from typing import Any

from flask import Flask
from flask_openapi3 import Info, OpenAPI
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.middleware.proxy_fix import ProxyFix

from mkp_core.wire import Health
from server import (
    conntest,
    console,
    counter,
    downloads,
    front,
    logins,
    mypage,
    navi,
    partners,
    points,
    releases,
    settlement,
    site,
    street_points,
    terminals,
    vouchers,
)
from server.config import ServerConfig
from server.conntest import api as conntest_api
from server.conntest import tables as conntest_tables
from server.console import tables as console_tables
from server.counter import tables as counter_tables
from server.db.engine import make_engine
from server.db.migrate import head_revision
from server.ledger import tables as ledger_tables
from server.logins import tables as logins_tables
from server.partners import tables as partners_tables
from server.platform import audit, crls, municipalities, mykey
from server.platform import tables as platform_tables
from server.points import departments, events, rewards, transit
from server.points import tables as points_tables
from server.releases import tables as releases_tables
from server.site.kernel import SECURITY_HEADERS
from server.staff import tables as staff_tables
from server.street_points import tables as street_points_tables
from server.terminals import tables as terminals_tables
from server.vouchers import tables as vouchers_tables
from server.web import errors, shortcuts
from server.web.json_bodies import JSONProvider

log = logging.getLogger("mkp.server")

DOMAINS: tuple[ModuleType, ...] = (
    municipalities,
    points,
    terminals,
    downloads,
    crls,
    releases,
    mykey,
    departments,
    events,
    rewards,
    transit,
    counter,
    conntest,
    vouchers,
    partners,
    settlement,
    street_points,
    mypage,  # a resident's own pages, and the card's activation code and login link
    audit,  # the audit trail: every operator's and partner's state change
    front,  # the landing page and the API docs page
    navi,  # 自治体ポイントナビ, public
)
"""Every domain that serves endpoints, in the order their blueprints are registered."""

TABLES: tuple[ModuleType, ...] = (
    ledger_tables,
    platform_tables,
    points_tables,
    terminals_tables,
    releases_tables,
    counter_tables,
    vouchers_tables,
    conntest_tables,
    partners_tables,
    street_points_tables,
    logins_tables,
    staff_tables,
    console_tables,
)
"""Every domain's tables, each on the one ``server.db.tables.metadata``: importing this module puts
the whole schema there (alembic's autogenerate and the schema tests compare it with the chain)."""

SECURITY_SCHEMES: dict[str, Any] = {
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
}
"""How callers authenticate, as the API document names it."""


def _trust_forwarded_for(app: Flask, hops: int) -> None:
    """Behind ``hops`` proxies, the client's address is the one they add to X-Forwarded-For
    (the per-address challenge limit counts by it); with none, the peer's address is the client's."""
    if hops:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops)  # type: ignore[method-assign]


def create_app(config: ServerConfig | None = None) -> Flask:
    """Build the server for ``config`` (defaults: env vars and MKP_CONFIG)."""
    config = config or ServerConfig.load()
    app = OpenAPI(
        "mkp.server",
        info=Info(title="mkp ledger server", version="1"),
        security_schemes=SECURITY_SCHEMES,
        validation_error_status=422,
        validation_error_callback=errors.validation_error,
        doc_ui=False,
    )
    app.json = JSONProvider(app)
    app.config["MAX_CONTENT_LENGTH"] = config.max_request_bytes
    app.config["TESTING"] = config.testing
    app.extensions["mkp.config"] = config
    _trust_forwarded_for(app, config.forwarded_hops)
    engine = make_engine(config.database_url)
    app.extensions["mkp.engine"] = engine
    for domain in DOMAINS:
        domain.init_app(app)
    site.init_app(app)  # the web pages' kernel: language, CSRF, cookies, security headers, static files
    logins.init_app(app)  # web logins' session cookies (My Page, the console)
    console.init_app(app)  # the municipal console: staff join, configure, grant, watch and settle
    # The document is generated from the same models that validate the requests.
    app.add_url_rule("/openapi.json", "openapi_json", lambda: app.api_doc)
    _serve_health(app, engine)
    errors.init_app(app)
    # Every terminal asks the clock once in the connection test's window: answered before Flask.
    shortcuts.answer_directly(app, "/v1/terminal/clock", conntest_api.clock, SECURITY_HEADERS)
    return app


#: The schema's revision as alembic keeps it: one row, one column.
_SCHEMA_REVISION = "SELECT version_num FROM alembic_version"
#: The head of this code's migrations, read from their files once per process, when first asked.
_expected_revision = functools.cache(head_revision)


def _serve_health(app: OpenAPI, engine: Engine) -> None:
    """``GET /healthz``: the database answers and its schema is the one this code needs.

    Load balancers ask it every few seconds and benches divide by it, so it costs one short
    statement: the revision alembic keeps, compared with the head of this code's migrations, read
    once per process (alembic's own reader took ~2 ms of CPU a request). A database that does not
    answer, or one at another revision (upgraded by newer code, or not yet), is 503: no host
    should serve requests on a schema it was not written for."""

    @app.get("/healthz", responses={200: Health, 503: Health}, doc_ui=True)
    def healthz() -> dict[str, Any] | tuple[dict[str, Any], int]:
        """Liveness, database reachability and the schema's revision."""
        try:
            with engine.connect() as conn:
                found = conn.exec_driver_sql(_SCHEMA_REVISION).scalar()
        except SQLAlchemyError:
            log.exception("health check failed")
            return {"status": "unavailable", "database": engine.dialect.name, "schema_version": None}, 503
        answer = {"status": "ok", "database": engine.dialect.name, "schema_version": found}
        if found != _expected_revision():
            log.error("health check: the schema is at %s, this server needs %s", found, _expected_revision())
            return {**answer, "status": "wrong_schema"}, 503
        return answer
