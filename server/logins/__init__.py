"""Web logins for every kind of person: residents on My Page, staff on the municipal console.

Why one package: a login is the same whoever logs in — a login ID unique whatever its case, a
password kept as an argon2id hash or a passkey, a server-side session in an HttpOnly cookie,
throttling after failures, one-time tokens for activation codes, login links and invitations.
Written once, it is reviewed once. It knows nothing of the people: an account names them by
``kind`` (``resident`` | ``staff``) and ``subject`` (their id among people of that kind).

How a page uses it (the console, say)::

    from server import logins
    from server.db.engine import write

    # an invitation for a new staff member (send the link; only its hash is kept)
    with write(engine) as conn:
        token = logins.issue_token(conn, "invitation", "staff", str(staff_id), timedelta(days=3))
    # the invited person chooses a login ID and password
    with write(engine) as conn:
        invited = logins.use_token(conn, "invitation", token)   # None: unknown, used or expired
        account = logins.create_account(conn, "staff", invited.subject, login_id, password)
    logins.log_in(account)                                     # this browser is logged in

    # the login form's POST: LoginFailed (wrong ID or password) or LoginThrottled (retry_after)
    logins.log_in_by_password("staff", form.login_id.data, form.password.data)

    # a page only for staff: others are sent to the login page, and come back after
    @bp.get("/")
    @logins.login_required("staff", "console.login")
    def home():
        who = logins.current_login("staff")        # a Session: .account.subject, .id, ...
        ...

    logins.log_out("staff"); logins.log_out_everywhere("staff")
    logins.sessions_of(conn, account); logins.end_session(conn, account, session_id)

Form fields carry ``autocomplete="username"`` and ``"current-password"`` / ``"new-password"``.
Never log a password, a token or a code: the functions here log nothing of them.
"""

from __future__ import annotations

from server.logins.accounts import (
    Account,
    LoginError,
    account_by_id,
    account_of,
    create_account,
    find_account,
    set_password,
)
from server.logins.service import LoginFailed
from server.logins.sessions import Session, end_all_sessions, end_session, sessions_of
from server.logins.throttling import LoginThrottled
from server.logins.tokens import OneTimeToken, issue_token, peek_token, use_token, void_tokens
from server.logins.web import (
    current_login,
    init_app,
    log_in,
    log_in_by_password,
    log_out,
    log_out_everywhere,
    login_required,
)

__all__ = [
    "Account",
    "LoginError",
    "LoginFailed",
    "LoginThrottled",
    "OneTimeToken",
    "Session",
    "account_by_id",
    "account_of",
    "create_account",
    "current_login",
    "end_all_sessions",
    "end_session",
    "find_account",
    "init_app",
    "issue_token",
    "log_in",
    "log_in_by_password",
    "log_out",
    "log_out_everywhere",
    "login_required",
    "peek_token",
    "sessions_of",
    "set_password",
    "use_token",
    "void_tokens",
]
