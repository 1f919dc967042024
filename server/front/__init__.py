"""The server's front door: the landing page at ``/`` and a human page for the API document.

Why: ``/`` answered a JSON 404, so whoever opened the server's address in a browser learnt
nothing. The landing page sends a resident to My Page or Point Navi, staff to the console, and a
developer to the API's document, which the server generates from the same models that check the
requests (``/openapi.json``); ``/api/`` shows it to a person, grouped by tag, rendered by the
server itself (no Swagger UI from a CDN: kiosks and town offices may have no internet).
"""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Serve the landing page and the API docs page."""
    from server.front.pages import bp

    app.register_blueprint(bp)
