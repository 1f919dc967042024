"""What an enrolled terminal downloads: its config, the trust list, the CRLs, a ping.

Each download gathers from many domains (point rules and price lists, the connection test,
release keys, voucher keys, CRLs), so it stands above all of them, beside the counter.
"""

from __future__ import annotations

from flask_openapi3 import OpenAPI


def init_app(app: OpenAPI) -> None:
    """Serve the terminal's downloads on ``app``, with its own kept place configs (one per app: a
    worker's, or a test's with its own database)."""
    from server.downloads import api, config  # with the app, not with its services

    app.extensions[api.PLACE_CONFIGS] = config.PlaceConfigs()
    app.register_api(api.bp)
