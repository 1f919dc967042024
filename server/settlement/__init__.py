"""Settlement (会計データ連携): closing a municipality's month and its statement."""

from __future__ import annotations

from flask_openapi3 import OpenAPI


def init_app(app: OpenAPI) -> None:
    """Serve this domain's endpoints on ``app``."""
    from server.settlement import api  # with the app, not with its services

    app.register_api(api.bp)
