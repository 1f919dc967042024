"""The landing page and the API docs page (see the package docstring)."""

from __future__ import annotations

from flask import Response, current_app

from server.front.api_docs import api_guide
from server.site import conditional, page_blueprint, render

bp = page_blueprint("front", __name__)


@bp.get("/")
def landing() -> Response:
    """Where each kind of visitor goes next."""
    return conditional(render("front/landing.html"))


@bp.get("/api/")
def api_docs() -> Response:
    """The endpoints of /openapi.json, grouped by tag, with their methods, summaries and auth."""
    doc = current_app.api_doc  # type: ignore[attr-defined]  # flask-openapi3's generated document
    return conditional(render("front/api.html", guide=api_guide(doc)))
