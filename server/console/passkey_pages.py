"""Passkeys in the console: a member of staff adds one (on joining, or on their account page) and
logs in with it at ``/console/login``.

Why: a town office's shared PCs are where passwords are written on notes; a passkey cannot be
phished, noted or reused. The ceremonies are the logins' own (:mod:`server.logins.ceremony`, the
same as My Page's), for logins of kind ``staff`` only: a resident's passkey never opens the
console, and a passkey logs in only the member of staff who made it, so it carries their
municipality and role and no other.

A member removes a passkey of their own (a lost or shared device) on the same page, after a
question in words; another member's key is missing to them (404), the last way in of a login
without a password stays, and the removal is in the audit trail like their other changes (the
request's operator is the member: the trail records it with the write).
"""

from __future__ import annotations

from flask import flash, redirect, request, url_for
from flask.typing import ResponseReturnValue
from werkzeug.wrappers import Response as BaseResponse

from mkp_core.errors import MkpError, NotFound
from mkp_core.i18n import N_
from server import logins
from server.console.blueprint import bp, staff_page
from server.console.pages import next_page
from server.console.resent import NO_CLIENT_ID, OTHER_VALUES
from server.db.engine import read, run_write
from server.logins import passkeys
from server.logins.ceremony import PasskeyCeremony
from server.site import gettext, render
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


def _account_page(status: int = 200, error: str | None = None) -> ResponseReturnValue:
    with read(engine()) as conn:
        keys = passkeys.passkeys_of(conn, _account().id)
    return render(
        "console/account.html",
        status=status,
        login=_account(),
        passkeys=keys,
        joined="joined" in request.args,
        error=error,
    )


@bp.get("/account")
@staff_page
def account() -> ResponseReturnValue:
    """The member's own login: their login ID and passkeys, a button to add one, and one to
    remove each."""
    return _account_page()


#: What a member reads when the passkey is their last way in.
LAST_WAY = N_("This passkey is your only way to log in: add another passkey before you remove it.")
_WORDS = {
    "last_way_to_log_in": LAST_WAY,
    "invalid_client_id": NO_CLIENT_ID,
    "idempotency_conflict": OTHER_VALUES,
}


@bp.post("/passkeys/remove")
@staff_page
def remove_passkey() -> ResponseReturnValue | BaseResponse:
    """The first POST asks in words; the second (``confirm=yes``) removes, and is audited."""
    account_id, credential_id = _account().id, request.form.get("passkey", "")
    if request.form.get("confirm") == "yes":  # sent twice: one removal, the same answer
        client_id = request.form.get("client_id", "")
        try:
            name = run_write(
                engine(),
                lambda conn: passkeys.remove_own_passkey_once(conn, account_id, credential_id, client_id),
            )
        except NotFound:
            raise
        except MkpError as e:
            return _account_page(409 if e.kind == "conflict" else 422, gettext(_WORDS.get(e.code, e.message)))
        flash(gettext("The passkey %(name)s was removed.", name=name), "ok")
        return redirect(url_for("console.account"), 303)
    with read(engine()) as conn:
        key = passkeys.own_passkey(conn, account_id, credential_id)
        last = passkeys.is_last_way_in(conn, account_id)
    if last:
        return _account_page(409, gettext(LAST_WAY))
    return render("console/passkey_remove.html", passkey=key)


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
