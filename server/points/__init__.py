"""Points: point-code rules and agreements, spending at places and refunds, price lists, balances
with their expiry, and the expiry sweep. Expiry lots themselves live in the ledger."""

from __future__ import annotations

from flask_openapi3 import OpenAPI


def init_app(app: OpenAPI) -> None:
    """Serve this domain's endpoints on ``app``."""
    from server.points import api  # with the app, not with its services

    app.register_api(api.bp)
