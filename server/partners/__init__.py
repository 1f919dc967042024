"""Partner points: partner companies, member links, conversions on hold, premiums, coupons."""

from __future__ import annotations

from flask_openapi3 import OpenAPI


def init_app(app: OpenAPI) -> None:
    """Serve this domain's endpoints on ``app``."""
    from server.partners import api  # with the app, not with its services

    app.register_api(api.partner_bp)
    app.register_api(api.holder_bp)
    app.register_api(api.terminal_bp)
    app.register_api(api.operator_bp)
