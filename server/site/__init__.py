"""The kernel of the server's web pages (My Page, 自治体ポイントナビ, the console, the landing page).

Why a kernel of its own: the JSON API and the pages share the app but not their rules. Pages need
what a browser needs and the API must not have: a language chosen per visitor, CSRF tokens on every
form, a session cookie, security headers with a Content-Security-Policy that forbids inline script,
HTML error pages, ETags on public pages, static files served by the server itself (kiosks and many
town offices have no internet, so nothing comes from a CDN). It knows no domain: a domain builds
its pages on :func:`page_blueprint` and :func:`render`.

``init_app(app)`` installs it; see ``pages.py`` for the blueprint pages are built on.
"""

from __future__ import annotations

from server.site.kernel import init_app
from server.site.language import current_language, gettext, ngettext
from server.site.pages import conditional, page_blueprint, render

__all__ = [
    "conditional",
    "current_language",
    "gettext",
    "init_app",
    "ngettext",
    "page_blueprint",
    "render",
]
