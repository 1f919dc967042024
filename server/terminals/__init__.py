"""Terminals: places, enrollment codes, the terminal CA, signed requests, downloads."""

from __future__ import annotations

from flask_openapi3 import OpenAPI


def init_app(app: OpenAPI) -> None:
    """Serve this domain's endpoints on ``app``."""
    from server.terminals import api, downloads  # with the app, not with its services

    app.register_api(api.bp)
    app.register_api(api.enroll_bp)
    app.register_api(downloads.bp)
