"""Passkeys in the console: a member of staff adds one (on joining, or on their account page) and
logs in with it at ``/console/login``.

Why: a town office's shared PCs are where passwords are written on notes; a passkey cannot be
phished, noted or reused. The ceremonies are the logins' own (:mod:`server.logins.ceremony`, the
same as My Page's), for logins of kind ``staff`` only: a resident's passkey never opens the
console, and a passkey logs in only the member of staff who made it, so it carries their
municipality and role and no other.
"""

from __future__ import annotations

from flask import request
from flask.typing import ResponseReturnValue

from mkp_core.i18n import N_
from server import logins
from server.console.blueprint import bp, staff_page
from server.console.pages import next_page
from server.db.engine import read
from server.logins import passkeys
from server.logins.ceremony import PasskeyCeremony
from server.site import render
from server.staff.service import STAFF
from server.web.context import engine

STAFF_PASSKEYS = PasskeyCeremony(
    kind=STAFF,
    relying_party_name=N_("Municipal console"),
    not_added=N_("The passkey could not be added."),
    not_logged_in=N_("The passkey did not work. Log in with your password."),
    after_login=next_page,
)


def _account() -> logins.Account:
    login = logins.current_login(STAFF)
    assert login is not None  # staff_page saw to it
    return login.account


@bp.get("/account")
@staff_page
def account() -> ResponseReturnValue:
    """The member's own login: their login ID and passkeys, and a button to add one."""
    with read(engine()) as conn:
        keys = passkeys.passkeys_of(conn, _account().id)
    return render("console/account.html", login=_account(), passkeys=keys, joined="joined" in request.args)


@bp.post("/passkeys/register-options")
@staff_page
def passkey_register_options() -> ResponseReturnValue:
    return STAFF_PASSKEYS.register_options(_account())


@bp.post("/passkeys/register")
@staff_page
def passkey_register() -> ResponseReturnValue:
    return STAFF_PASSKEYS.register(_account())


@bp.post("/passkeys/login-options")
def passkey_login_options() -> ResponseReturnValue:
    return STAFF_PASSKEYS.login_options()


@bp.post("/passkeys/login")
def passkey_login() -> ResponseReturnValue:
    return STAFF_PASSKEYS.login()
