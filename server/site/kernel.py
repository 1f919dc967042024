"""What every page shares, installed once on the app: keys, cookies, CSRF, words, headers, files.

Steps of :func:`init_app`:
1. the signing key of session cookies and CSRF tokens, from the secrets folder (every host behind
   one database shares it, as it shares the card-challenge key);
2. cookies: HttpOnly, SameSite=Lax, and Secure whenever the request came over TLS (directly, or
   through a trusted proxy that says so);
3. CSRF: flask-wtf's tokens, checked on every unsafe request to a page blueprint (the JSON API
   authenticates each request by token or signature and has no cookies to forge);
4. the template language: Jinja's i18n extension wired to the one catalogue;
5. the kernel's own static files and templates;
6. security headers on every response: a Content-Security-Policy with no inline script, no
   framing, no MIME sniffing, no referrer to other sites.
"""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, Flask, Request, Response, request
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface, SessionMixin

from mkp_core import i18n
from server.config import ServerConfig
from server.files import secret_key
from server.site.language import current_language, gettext, ngettext, remember_choice
from server.site.pages import csrf, page_or_api_not_found

CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
}


def came_over_tls(hops: int) -> bool:
    """Whether this request reached us over TLS: directly, or via ``hops`` trusted proxies saying so."""
    if request.is_secure:
        return True
    return hops > 0 and request.headers.get("X-Forwarded-Proto", "").split(",")[-1].strip() == "https"


class SessionCookies(SecureCookieSessionInterface):
    """Flask's signed session cookie, Secure exactly when the visitor came over TLS."""

    def get_cookie_secure(self, app: Flask) -> bool:
        config: ServerConfig = app.extensions["mkp.config"]
        return came_over_tls(config.forwarded_hops)

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        """A request without the cookie (every JSON API call) gets its empty session at once:
        Flask's own would build the cookie's signing serializer first, on every request."""
        if app.secret_key and not request.cookies.get(self.get_cookie_name(app)):
            return self.session_class()
        return super().open_session(app, request)

    def save_session(self, app: Flask, session: SessionMixin, response: Response) -> None:
        """A session nobody read or wrote (every JSON API call) leaves the reply as it is, as
        Flask's would, without first working out the cookie's domain, path and flags."""
        if not session and not session.modified and not session.accessed:
            return
        super().save_session(app, session, response)


def init_app(app: Flask) -> None:
    """Install the page kernel on ``app`` (steps in the module docstring)."""
    config: ServerConfig = app.extensions["mkp.config"]
    _signing_key(app, config)
    _cookies(app)
    _csrf(app)
    _template_language(app)
    app.register_blueprint(_kernel_files())
    app.after_request(_security_headers)
    for status in (404, 405):  # the router's refusals, before any blueprint is known
        app.register_error_handler(status, page_or_api_not_found)


def _signing_key(app: Flask, config: ServerConfig) -> None:
    app.secret_key = secret_key(Path(config.secrets_dir) / "web.key")


def _cookies(app: Flask) -> None:
    app.config.update(
        SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Lax", SESSION_COOKIE_NAME="mkp_web"
    )
    app.session_interface = SessionCookies()


def _csrf(app: Flask) -> None:
    # Checked by each page blueprint (pages.page_blueprint), never on the JSON API.
    app.config.update(WTF_CSRF_CHECK_DEFAULT=False, WTF_CSRF_TIME_LIMIT=None, WTF_CSRF_SSL_STRICT=True)
    csrf.init_app(app)


def _template_language(app: Flask) -> None:
    app.jinja_env.add_extension("jinja2.ext.i18n")
    app.jinja_env.add_extension("jinja2.ext.do")
    app.jinja_env.install_gettext_callables(  # type: ignore[attr-defined]
        gettext=lambda message, **values: gettext(message, **values),
        ngettext=lambda singular, plural, n, **values: ngettext(singular, plural, n, **values),
        newstyle=True,
    )
    app.jinja_env.globals.update(current_language=current_language, languages=i18n.LANGUAGES)


def _kernel_files() -> Blueprint:
    here = Path(__file__).parent
    return Blueprint(
        "site",
        __name__,
        static_folder=str(here / "static"),
        static_url_path="/static/site",
        template_folder=str(here / "templates"),
    )


def _security_headers(response: Response) -> Response:
    # As Headers.setdefault for each, without its cost: a name it does not find raises (and
    # catches) a werkzeug HTTP exception inside, four times on every reply.
    present = {name.lower() for name, _ in response.headers}
    response.headers.extend(
        (name, value) for name, value in SECURITY_HEADERS.items() if name.lower() not in present
    )
    return remember_choice(response)
