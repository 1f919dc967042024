"""CRLs of JPKI user-authentication certificates: uploaded by the operator, downloaded by terminals."""

from __future__ import annotations

from flask_openapi3 import OpenAPI


def init_app(app: OpenAPI) -> None:
    """Serve this domain's endpoints on ``app``."""
    from server.platform.crls import api  # with the app, not with its services

    app.register_api(api.bp)
