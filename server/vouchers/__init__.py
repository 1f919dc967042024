"""Paper point vouchers: the server's voucher keys, issuing, printing's outcome,
redeeming once, expiry. ``keys`` and ``service`` know no HTTP; ``api`` and ``phone`` are the
blueprints."""

from __future__ import annotations

from flask_openapi3 import OpenAPI


def init_app(app: OpenAPI) -> None:
    """Serve this domain's endpoints on ``app``."""
    from server.vouchers import api, phone  # with the app, not with its services

    app.register_api(api.bp)
    app.register_api(api.terminal_bp)
    app.register_blueprint(phone.bp)  # an HTML page, not part of the API document
