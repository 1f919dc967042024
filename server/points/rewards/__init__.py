"""Special rewards (特典): what a municipality's points can buy that money cannot."""

from __future__ import annotations

from flask_openapi3 import OpenAPI


def init_app(app: OpenAPI) -> None:
    """Serve this domain's endpoints on ``app``."""
    from server.points.rewards import api  # with the app, not with its services

    app.register_api(api.bp)
    app.register_api(api.public_bp)
