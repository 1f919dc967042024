"""Departments (原課) of a municipality: budgets, grant kinds, grants one by one or by CSV, reports."""

from __future__ import annotations

from flask_openapi3 import OpenAPI


def init_app(app: OpenAPI) -> None:
    """Serve this domain's endpoints on ``app``."""
    from server.points.departments import api  # with the app, not with its services

    app.register_api(api.bp)
    app.register_api(api.batch_bp)
