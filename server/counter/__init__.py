from __future__ import annotations

from flask_openapi3 import OpenAPI


def init_app(app: OpenAPI) -> None:
    """Serve this domain's endpoints on ``app``."""
    from server.counter import api  # with the app, not with its services

    app.register_api(api.card_bp)
    app.register_api(api.queue_bp)
    app.register_api(api.operator_bp)
