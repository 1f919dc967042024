"""Passkeys on My Page: register one when logged in, then log in with it (WebAuthn).

Why: a passkey cannot be phished or reused elsewhere, and the resident need not remember a
password. The ceremonies are the logins' own (:mod:`server.logins.ceremony`, shared with the
console); the browser side is the page kernel's ``passkey.js`` (no inline script). These routes
only say whose passkeys they are: residents', and the login lands on My Page.
"""

from __future__ import annotations

from flask import url_for
from flask.typing import ResponseReturnValue

from mkp_core.i18n import N_
from server.logins.ceremony import PasskeyCeremony
from server.mypage.blueprint import bp, guard
from server.mypage.blueprint import session as login_session

RESIDENT_PASSKEYS = PasskeyCeremony(
    kind="resident",
    relying_party_name=N_("MyKey Points"),
    not_added=N_("The passkey could not be added."),
    not_logged_in=N_("The passkey did not work. Log in with your password."),
    after_login=lambda: url_for("mypage.home"),
)


@bp.post("/passkeys/register-options")
@guard
def passkey_register_options() -> ResponseReturnValue:
    return RESIDENT_PASSKEYS.register_options(login_session().account)


@bp.post("/passkeys/register")
@guard
def passkey_register() -> ResponseReturnValue:
    return RESIDENT_PASSKEYS.register(login_session().account)


@bp.post("/passkeys/login-options")
def passkey_login_options() -> ResponseReturnValue:
    return RESIDENT_PASSKEYS.login_options()


@bp.post("/passkeys/login")
def passkey_login() -> ResponseReturnValue:
    return RESIDENT_PASSKEYS.login()
