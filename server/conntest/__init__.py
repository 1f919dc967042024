"""The nationwide simultaneous connection test (全国一斉同時アクセステスト): service and blueprint."""

from __future__ import annotations

from flask_openapi3 import OpenAPI


def init_app(app: OpenAPI) -> None:
    """Serve this domain's endpoints on ``app``."""
    from server.conntest import api  # with the app, not with its services

    app.register_api(api.bp)
    app.register_api(api.terminal_bp)
    app.register_api(api.clock_bp)
