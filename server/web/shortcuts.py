"""Replies that skip Flask: a ``GET`` whose JSON answer reads nothing from the request.

Why: in the connection test every terminal asks ``GET /v1/terminal/clock`` once, tens of
thousands in one window, and the answer is the server's time, nothing more. Through Flask most of
its CPU went to the framework: a request object, a context, routing, the hooks, a response object.
A shortcut answers such a path from the WSGI environ directly, with the reply Flask would have
sent (same body, status and headers, the request id included); anything else, the same path with
a query or another method, still goes through Flask, and the path keeps its endpoint there (the
API document, the test client's view of it).

Only for a view that reads nothing from the request and cannot fail: it runs outside any Flask
context, and the reply carries only the headers given here, not those an ``after_request`` hook
would have added.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from flask import Flask

from server.web.logs import REQUEST_ID_ENVIRON, REQUEST_ID_HEADER, request_id_from

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment


class Shortcuts:
    """The WSGI layer in front of the app: the shortcut's paths answered here, the rest passed on."""

    def __init__(self, app: WSGIApplication, default: Callable[[Any], Any]) -> None:
        self.app = app
        self.default = default
        self.views: dict[str, tuple[Callable[[], Mapping[str, Any]], list[tuple[str, str]]]] = {}

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        found = self.views.get(environ.get("PATH_INFO", ""))
        if found is None or environ.get("REQUEST_METHOD") != "GET" or environ.get("QUERY_STRING"):
            return self.app(environ, start_response)
        view, headers = found
        # As Flask's JSON provider writes a reply outside debug mode: compact, keys sorted, ASCII.
        body = (
            json.dumps(view(), separators=(",", ":"), sort_keys=True, default=self.default) + "\n"
        ).encode()
        start_response(
            "200 OK",
            [
                ("Content-Type", "application/json"),
                ("Content-Length", str(len(body))),
                (REQUEST_ID_HEADER, request_id_from(environ.get(REQUEST_ID_ENVIRON, ""))),
                *headers,
            ],
        )
        return [body]


def answer_directly(
    app: Flask, path: str, view: Callable[[], Mapping[str, Any]], headers: Mapping[str, str]
) -> None:
    """Answer ``GET path`` (no query) with ``view()`` as JSON and ``headers``, without Flask.

    ``headers``: those every reply of the app carries besides its type, length and request id (the
    security headers); the path's Flask endpoint must stay, for everything else asked of it."""
    shortcuts = app.wsgi_app
    if not isinstance(shortcuts, Shortcuts):
        shortcuts = Shortcuts(app.wsgi_app, app.json.default)  # type: ignore[attr-defined]
        app.wsgi_app = shortcuts  # type: ignore[method-assign]
    shortcuts.views[path] = (view, list(headers.items()))
