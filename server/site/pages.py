"""The blueprint every page is built on, and how a page answers.

A domain's pages come from :func:`page_blueprint`: it finds the domain's ``templates/`` (name them
``<domain>/<page>.html``) and ``static/`` (served at ``/static/<domain>/``), checks the CSRF token of
every form sent to it, and answers errors as an HTML page in the visitor's language, never as
JSON and never with a traceback.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from flask import Blueprint, Response, current_app, make_response, render_template, request
from flask.sansio.app import App
from flask.typing import ResponseReturnValue
from flask_wtf.csrf import CSRFProtect
from werkzeug.exceptions import HTTPException

from mkp_core.errors import MkpError
from server.site.language import current_language, gettext

log = logging.getLogger("mkp.server.site")

csrf = CSRFProtect()
"""flask-wtf's CSRF tokens; installed by the kernel, checked by every page blueprint."""
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
PAGE_PREFIXES = "mkp.page_prefixes"
"""app.extensions key: the URL prefixes under which an unknown address is answered as a page."""


def page_blueprint(name: str, import_name: str, url_prefix: str | None = None) -> Blueprint:
    """A blueprint of pages for the domain module ``import_name`` (pass ``__name__``)."""
    folder = Path(__import__(import_name, fromlist=["_"]).__file__ or ".").parent
    static = folder / "static"
    bp = Blueprint(
        name,
        import_name,
        url_prefix=url_prefix,
        template_folder=str(folder / "templates"),
        static_folder=str(static) if static.is_dir() else None,
        static_url_path=f"/static/{name}" if static.is_dir() else None,
    )
    bp.before_request(_check_csrf)
    bp.register_error_handler(HTTPException, _http_error_page)
    bp.register_error_handler(MkpError, _refusal_page)
    bp.register_error_handler(Exception, _internal_error_page)
    bp.record_once(lambda state: _claim_prefix(state.app, state.url_prefix or "/"))
    return bp


def _claim_prefix(app: App, prefix: str) -> None:
    """An address under a page blueprint that matches no page is a missing *page*, not a JSON 404."""
    prefixes: set[str] = app.extensions.setdefault(PAGE_PREFIXES, set())
    prefixes.add(prefix.rstrip("/") + "/")


def page_or_api_not_found(e: HTTPException) -> ResponseReturnValue:
    """A 404/405 the router raised: an HTML page under a page prefix, the API's JSON error elsewhere."""
    prefixes: set[str] = current_app.extensions.get(PAGE_PREFIXES, set())
    path = request.path.rstrip("/") + "/"
    if any(path.startswith(prefix) for prefix in prefixes if prefix != "/") or path == "/":
        return _http_error_page(e)
    api_handler = current_app.error_handler_spec[None][None].get(HTTPException)  # the one error shape
    if api_handler is None:
        return e
    answer: ResponseReturnValue = api_handler(e)  # type: ignore[assignment]  # a sync handler
    return answer


def render(template: str, status: int = 200, **context: Any) -> Response:
    """``template`` rendered in the visitor's language, marked as such for caches."""
    response = make_response(render_template(template, **context), status)
    response.headers["Content-Language"] = current_language()
    response.vary.update(("Accept-Language", "Cookie"))
    return response


def conditional(response: Response) -> Response:
    """An ETag on a public page, and 304 Not Modified when the browser already has it."""
    response.add_etag()
    response.make_conditional(request)
    return response


def _check_csrf() -> None:
    if request.method in UNSAFE_METHODS:
        csrf.protect()


def _http_error_page(e: HTTPException) -> Response:
    status = e.code or 500
    if status == 400 and e.description and "CSRF" in e.description:
        message = gettext("This form has expired. Reload the page and send it again.")
    elif status == 404:
        message = gettext("This page does not exist. Check the address, or go back to the first page.")
    elif status == 405:
        message = gettext("This page cannot be used that way. Go back to the first page.")
    else:
        message = gettext("The request could not be handled. Go back and try again.")
    return render("site/error.html", status=status, message=message)


def _refusal_page(e: MkpError) -> Response:
    status = {"not_found": 404, "forbidden": 403, "unauthorized": 401, "throttled": 429}.get(e.kind, 400)
    return render("site/error.html", status=status, message=gettext(e.message), code=e.code)


def _internal_error_page(e: Exception) -> Response:
    log.exception("unhandled error in page %s %s", request.method, request.path)
    return render(
        "site/error.html",
        status=500,
        message=gettext("The server failed and nothing was changed. Try again in a moment."),
    )
