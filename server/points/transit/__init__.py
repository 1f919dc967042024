"""Transit exchange: points to a bus company's own card, in the back office."""

from __future__ import annotations

from flask_openapi3 import OpenAPI


def init_app(app: OpenAPI) -> None:
    """Serve this domain's endpoints on ``app``."""
    from server.points.transit import api  # with the app, not with its services

    app.register_api(api.bp)
