"""Getting into My Page: log in, log out, sign up with an activation code, a one-time login link.

Sign-up steps (``/mypage/signup``):
1. the activation code from the kiosk's receipt: a typo is told at once; a wrong or spent code is
   counted per address (too many: wait) and told in one line;
2. a login ID and a password;
3. the code is spent, the login made and this browser logged in, in one transaction — a refused
   login ID leaves the code unspent.

A resident who has a login already and signs up with a new code is recovering it (a forgotten
password, a login ID they no longer know): the card proved them again, as it did the first time.
So the code resets the password, and the login ID they type is the one they log in with from then
on (the one they had is filled in; a taken one is refused as at a first sign-up). Every session of
the old password ends, and every passkey of the login is removed: a recovery may follow a takeover,
and a passkey the intruder added would outlive a new password. Removing them all is the default
with no way to opt out, because a passkey's name is whatever its adder typed, so a resident cannot
tell an intruder's "iPhone" from their own; adding theirs again takes a minute on the Account page.
The page lists the passkeys (name, added, last used) and says so before they send it, and says
what happened after, in one line each.

A login link (``/mypage/link#<token>``, from ``mkp-agent mypage login``) is the same proof: it
logs in a resident who has a login, and leads one who has none to step 2. The token is in the
fragment, never sent in a request line (so in no log); the page's script puts it in the form, and
only pressing the button spends it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import Response, current_app, flash, redirect, request, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy import Connection

from mkp_core import activation_code
from mkp_core.errors import Conflict, MkpError
from server import logins
from server.db.engine import read, write
from server.logins import accounts, passkeys, throttling, tokens
from server.mypage import forms
from server.mypage.activation import ACTIVATION, LOGIN_LINK
from server.mypage.blueprint import KIND, bp, engine
from server.site import gettext, render


def _next_page(target: str | None) -> str:
    """Where to go after login: a My Page address only (never another site)."""
    if target and target.startswith("/mypage/") and not target.startswith("//"):
        return target
    return url_for("mypage.home")


@bp.get("/login")
def login() -> ResponseReturnValue:
    if logins.current_login(KIND) is not None:  # logged in already: no second session
        return redirect(_next_page(request.args.get("next")))
    form = forms.login_form()
    form.next.data = request.args.get("next", "")
    return render("mypage/login.html", form=form)


@bp.post("/login")
def send_login() -> ResponseReturnValue:
    form = forms.login_form()
    if not form.validate():
        return render("mypage/login.html", status=422, form=form)
    try:
        logins.log_in_by_password(KIND, form.login_id.data, form.password.data)
    except logins.LoginThrottled as e:
        minutes = -(-(e.retry_after or 60) // 60)
        message = gettext("Too many failed logins. Try again in %(minutes)s minutes.", minutes=minutes)
        return render("mypage/login.html", status=429, form=form, message=message)
    except logins.LoginFailed:
        message = gettext("The login ID or the password is wrong. Check both and try again.")
        return render("mypage/login.html", status=401, form=form, message=message)
    return redirect(_next_page(form.next.data))


@bp.post("/logout")
def logout() -> ResponseReturnValue:
    logins.log_out(KIND)
    flash(gettext("You have logged out."), "ok")
    return redirect(url_for("mypage.login"))


# --- sign-up with an activation code -----------------------------------------------------------


@bp.get("/signup")
def signup() -> ResponseReturnValue:
    return render("mypage/signup_code.html", form=forms.code_form())


@bp.post("/signup")
def send_signup() -> ResponseReturnValue:
    if "login_id" in request.form:
        return _choose_login(ACTIVATION, request.form.get("code", ""), "mypage/signup_login.html")
    form = forms.code_form()
    if not form.validate():
        return render("mypage/signup_code.html", status=422, form=form)
    try:
        code = activation_code.normalise(form.code.data)
    except activation_code.ActivationCodeError as e:
        return render("mypage/signup_code.html", status=422, form=form, message=_code_words(e))
    found = _checked_code(ACTIVATION, code)
    if isinstance(found, Response):
        return found
    return _login_form_for(found, code, "mypage/signup_login.html")


def _code_words(e: activation_code.ActivationCodeError) -> str:
    if e.code == "activation_code_typo":
        return gettext(
            "This code has a typo: a character mistyped or two swapped. Check it against the receipt."
        )
    return gettext("An activation code is 9 characters, like ABCD-EFGH-J. Check it against the receipt.")


def _code_buckets(purpose: str) -> throttling.Buckets:
    """Wrong codes (and link tokens) typed from this address, in every step that takes one."""
    key = current_app.secret_key
    assert isinstance(key, bytes)
    return throttling.code_buckets(key, purpose, request.remote_addr or "")


def _too_many_codes(e: throttling.LoginThrottled) -> Response:
    minutes = -(-(e.retry_after or 60) // 60)
    message = gettext("Too many wrong codes from here. Try again in %(minutes)s minutes.", minutes=minutes)
    return render("mypage/signup_code.html", status=429, form=forms.code_form(), message=message)


def _checked_code(purpose: str, code: str) -> tokens.OneTimeToken | Response:
    """The token ``code`` is, unspent and unexpired; or the refusal page (a wrong one is counted)."""
    weighed, now = _code_buckets(purpose), datetime.now(UTC)
    try:
        with write(engine()) as conn:
            throttling.check(conn, weighed, now)
            found = tokens.peek_token(conn, purpose, code, now)
            if found is None:
                throttling.record_failure(conn, weighed, now)
    except throttling.LoginThrottled as e:
        return _too_many_codes(e)
    if found is None:
        return _spent(purpose)
    return found


def _spent(purpose: str) -> Response:
    if purpose == ACTIVATION:
        message = gettext(
            "This code is not valid: it was used, replaced by a newer one, or is over 24 hours old. "
            "Ask for a new one at a kiosk."
        )
        return render("mypage/signup_code.html", status=410, form=forms.code_form(), message=message)
    message = gettext(
        "This login link is not valid: it was used or is over ten minutes old. Ask for a new one."
    )
    return render("mypage/link_spent.html", status=410, message=message)


def _login_form_for(found: tokens.OneTimeToken, secret: str, template: str, **extra: Any) -> Response:
    form = forms.new_login_form()
    form.code.data = secret
    with read(engine()) as conn:
        shown = _recovery(conn, found.subject)
    if shown["existing"] is not None:
        form.login_id.data = shown["existing"].login_id
    return render(template, form=form, **shown, **extra)


def _recovery(conn: Connection, subject: str) -> dict[str, Any]:
    """What step 2 shows of the login a resident has already: the login (or None) and its passkeys,
    which the new code removes."""
    existing = accounts.account_of(conn, KIND, subject)
    keys = passkeys.passkeys_of(conn, existing.id) if existing is not None else []
    return {"existing": existing, "passkeys": keys}


def _choose_login(purpose: str, secret: str, template: str, **extra: Any) -> ResponseReturnValue:
    """Step 2 sent: spend the code and make (or renew) the login, then log this browser in."""
    form = forms.new_login_form()
    try:
        code = activation_code.normalise(secret) if purpose == ACTIVATION else secret
    except activation_code.ActivationCodeError:
        return redirect(url_for("mypage.signup"))
    if not form.validate():
        return render(template, status=422, form=form, **_existing(purpose, code), **extra)
    try:
        made = _spend_and_make(purpose, code, form.login_id.data, form.password.data)
    except throttling.LoginThrottled as e:
        return _too_many_codes(e)
    except (logins.LoginError, Conflict) as e:
        shown = _existing(purpose, code)
        return render(template, status=422, form=form, **shown, message=_login_words(e), **extra)
    if made is None:
        return _spent(purpose)
    account, before, removed = made
    logins.log_in(account)
    if before is None:
        flash(gettext("Welcome to My Page. You are logged in."), "ok")
    elif before.login_id != account.login_id:
        flash(
            gettext(
                "Your login ID is now %(login_id)s and your password is new. Every other session was ended.",
                login_id=account.login_id,
            ),
            "ok",
        )
    else:
        flash(
            gettext(
                "Your password is new; your login ID is still %(login_id)s. Every other session was ended.",
                login_id=account.login_id,
            ),
            "ok",
        )
    if removed:
        flash(
            gettext(
                "Your passkeys were removed (%(names)s). To log in with a passkey again, add it on the "
                "Account page.",
                names=", ".join(k.name for k in removed),
            ),
            "ok",
        )
    return redirect(url_for("mypage.home"))


def _existing(purpose: str, code: str) -> dict[str, Any]:
    """The login the code's resident has already, if any, and its passkeys (:func:`_recovery`;
    the code is looked at, not spent)."""
    with read(engine()) as conn:
        found = tokens.peek_token(conn, purpose, code, datetime.now(UTC))
        return _recovery(conn, found.subject) if found else {"existing": None, "passkeys": []}


def _spend_and_make(
    purpose: str, code: str, login_id: str, password: str
) -> tuple[accounts.Account, accounts.Account | None, list[passkeys.Passkey]] | None:
    """Spend the code and make its login, or renew the one there is (the login ID typed, a new
    password, the old sessions ended, every passkey removed), in one transaction: (the login, as
    it was before or None for a new one, the passkeys removed); None for a wrong code (counted, as
    in step 1: step 2 is no way around the throttle)."""
    weighed, now = _code_buckets(purpose), datetime.now(UTC)
    with write(engine()) as conn:
        throttling.check(conn, weighed, now)
        found = tokens.use_token(conn, purpose, code, now)
        if found is None:
            throttling.record_failure(conn, weighed, now)
            return None
        existing = accounts.account_of(conn, KIND, found.subject)
        if existing is None:
            return accounts.create_account(conn, KIND, found.subject, login_id, password, now), None, []
        renewed = accounts.change_login_id(conn, existing, login_id, now)
        accounts.set_password(conn, renewed, password)
        logins.end_all_sessions(conn, renewed, now)  # a new password ends the old sessions
        removed = passkeys.remove_all_passkeys(conn, renewed.id)  # and an intruder's passkey
        return renewed, existing, removed


def _login_words(e: MkpError) -> str:
    words = {
        "invalid_login_id": gettext(
            "A login ID is 3 to 64 letters, digits and . _ @ - and starts with a letter or digit."
        ),
        "login_id_taken": gettext("This login ID is taken. Choose another."),
        "weak_password": gettext("A password has at least 10 characters and is not the login ID."),
    }
    return words.get(e.code, gettext("This login could not be made. Check what you entered and try again."))


# --- a one-time login link ---------------------------------------------------------------------


@bp.get("/link")
def login_link() -> ResponseReturnValue:
    """The link's page: its script moves the token from the fragment into the form."""
    return render("mypage/link.html", form=None, existing=None, token="")


@bp.post("/link")
def use_login_link() -> ResponseReturnValue:
    token = request.form.get("code", "") or request.form.get("token", "")
    if not token or len(token) > 100:
        return _spent(LOGIN_LINK)
    if "login_id" in request.form:
        return _choose_login(LOGIN_LINK, token, "mypage/link.html", token=token)
    now = datetime.now(UTC)
    with write(engine()) as conn:
        peeked = tokens.peek_token(conn, LOGIN_LINK, token, now)
        account = accounts.account_of(conn, KIND, peeked.subject) if peeked else None
        if account is not None and tokens.use_token(conn, LOGIN_LINK, token, now) is None:
            account = None
    if peeked is None:
        return _spent(LOGIN_LINK)
    if account is None:  # no login yet: the card proved them, they choose one
        return _login_form_for(peeked, token, "mypage/link.html", token=token)
    logins.log_in(account)
    return redirect(url_for("mypage.home"))
