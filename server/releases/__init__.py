"""Agent software releases: published by the operator (signed), fetched and verified by terminals."""

from __future__ import annotations

from flask_openapi3 import OpenAPI


def init_app(app: OpenAPI) -> None:
    """Serve this domain's endpoints on ``app``."""
    from server.releases import api  # with the app, not with its services

    app.register_api(api.bp)
    app.register_api(api.terminal_bp)
