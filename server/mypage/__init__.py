"""My Page: a resident's own page on the web — their points, history, links, and what they do.

Why on the web: a resident could do nothing without a PC, a card reader and a command line. My
Page needs a browser only. The card proves the holder once (an activation code from a kiosk, a
login link from their own reader: :mod:`server.mypage.activation`); after that the resident logs
in with a login ID and password or a passkey (:mod:`server.logins`), and the logged-in session is
the proof the authority asks for (:class:`~server.platform.authority.HolderSession`). The web never sees
the card, nor anything of it beyond the MyKey ID.

Modules: ``activation`` and ``api`` (the card's side), ``resident`` (what the resident sees and
does, no Flask), ``entry`` (login, sign-up, login links), ``pages`` (My Page itself),
``passkey_pages`` (WebAuthn), ``chart`` (the balance chart as SVG), ``forms``, ``words``.
"""

from __future__ import annotations

from flask_openapi3 import OpenAPI


def init_app(app: OpenAPI) -> None:
    """Serve the card's endpoints (activation code, login link) and My Page's pages on ``app``."""
    from server.mypage import api, entry, pages, passkey_pages  # noqa: F401  (their routes)
    from server.mypage.blueprint import bp

    app.register_api(api.terminal_bp)
    app.register_api(api.holder_bp)
    app.register_blueprint(bp)
