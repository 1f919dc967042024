"""Terminals: enrollment codes, the terminal CA, the registry of enrolled terminals and their config.

A terminal's signed requests are checked on the platform (``server.platform.terminal_auth``):
MyKey's terminal endpoints need that too. What a terminal downloads is ``server.downloads``."""

from __future__ import annotations

from flask_openapi3 import OpenAPI


def init_app(app: OpenAPI) -> None:
    """Serve this domain's endpoints on ``app``."""
    from server.terminals import api  # with the app, not with its services

    app.register_api(api.bp)
    app.register_api(api.enroll_bp)
