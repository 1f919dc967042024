"""Which language a page speaks: ``?lang=`` first (kept in a cookie), then Accept-Language, else Japanese.

The words come from the one catalogue (``mkp_core.i18n``) that the command lines use too.
"""

from __future__ import annotations

from flask import Response, g, has_request_context, request

from mkp_core import i18n

LANGUAGE_COOKIE = "mkp_lang"
_ONE_YEAR = 365 * 24 * 3600


def current_language() -> str:
    """This request's language (the default outside a request)."""
    if not has_request_context():
        return i18n.DEFAULT_LANGUAGE
    if "language" not in g:
        asked = request.args.get("lang") or request.cookies.get(LANGUAGE_COOKIE)
        if asked in i18n.LANGUAGES:
            g.language = asked
        else:
            best = request.accept_languages.best_match(i18n.LANGUAGES)
            g.language = best or i18n.DEFAULT_LANGUAGE
    language: str = g.language
    return language


def remember_choice(response: Response) -> Response:
    """A ``?lang=`` the visitor clicked stays chosen on the next pages."""
    query = request.query_string
    if b"lang" not in query and b"%" not in query:  # no ?lang= (a JSON call): no query to parse
        return response
    asked = request.args.get("lang")
    if asked in i18n.LANGUAGES and request.cookies.get(LANGUAGE_COOKIE) != asked:
        response.set_cookie(
            LANGUAGE_COOKIE, asked, max_age=_ONE_YEAR, httponly=True, samesite="Lax", secure=request.is_secure
        )
    return response


def gettext(message: str, **values: object) -> str:
    """``message`` in this request's language, with ``%(name)s`` placeholders filled from ``values``."""
    text = i18n.gettext(message, current_language())
    return text % values if values else text


def ngettext(singular: str, plural: str, n: int, **values: object) -> str:
    """The form for ``n`` in this request's language; ``%(num)s`` is ``n``."""
    text = i18n.ngettext(singular, plural, n, current_language())
    return text % {"num": n, **values}
