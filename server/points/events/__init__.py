"""Events (a university festival, a school's renovation): pools of their own point code, handed over."""

from __future__ import annotations

from flask_openapi3 import OpenAPI


def init_app(app: OpenAPI) -> None:
    """Serve this domain's endpoints on ``app``."""
    from server.points.events import api  # with the app, not with its services

    app.register_api(api.bp)
