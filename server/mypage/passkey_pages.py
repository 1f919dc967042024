"""Passkeys on My Page: register one when logged in, then log in with it (WebAuthn).

Why: a passkey cannot be phished or reused elsewhere, and the resident need not remember a
password. The ``webauthn`` library builds the options and verifies the answers; the browser side
is one static file (``static/passkey.js``, no inline script). Each ceremony's challenge is kept in
the signed session cookie until its answer comes (and is dropped then, used or not). Passkeys are
discoverable ("resident keys"), so logging in needs no login ID: the credential names its login.

The relying party is this host (``rp_id``: the host name without port); the expected origin is
the one the browser used (https behind TLS, as the page kernel tells it).
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

from flask import current_app, jsonify, request, session
from flask.typing import ResponseReturnValue
from webauthn import (
    generate_authentication_options,
    generate_registration_options,
    options_to_json,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers import base64url_to_bytes, bytes_to_base64url
from webauthn.helpers.exceptions import WebAuthnException
from webauthn.helpers.structs import (
    AuthenticatorSelectionCriteria,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from server import logins
from server.config import ServerConfig
from server.db.engine import read, write
from server.logins import accounts, passkeys
from server.mypage.blueprint import bp, engine, guard
from server.mypage.blueprint import session as login_session
from server.mypage.helpers import browser_name
from server.site import gettext
from server.site.kernel import came_over_tls

CHALLENGE = "mypage_passkey_challenge"
#: What a malformed or forged answer raises in the library (refused, never a server error).
REFUSED_ANSWERS = (WebAuthnException, ValueError, KeyError, TypeError)
MAX_ANSWER = 16_384


def _rp_id() -> str:
    """This host's name, without the port (a relying party is named by a domain, never an address)."""
    return urlsplit(f"//{request.host}").hostname or ""


def _origin() -> str:
    config: ServerConfig = current_app.extensions["mkp.config"]
    scheme = "https" if came_over_tls(config.forwarded_hops) else "http"
    return f"{scheme}://{request.host}"


def _answer() -> dict[str, Any] | None:
    raw = request.get_data(cache=False)
    if len(raw) > MAX_ANSWER:
        return None
    try:
        found = json.loads(raw)
    except ValueError:
        return None
    return found if isinstance(found, dict) else None


def _refused(message: str, status: int = 400) -> ResponseReturnValue:
    return jsonify({"ok": False, "message": message}), status


@bp.post("/passkeys/register-options")
@guard
def passkey_register_options() -> ResponseReturnValue:
    s = login_session()
    with read(engine()) as conn:
        known = passkeys.passkeys_of(conn, s.account.id)
    options = generate_registration_options(
        rp_id=_rp_id(),
        rp_name=gettext("MyKey Points"),
        user_id=f"{s.account.kind}:{s.account.id}".encode(),
        user_name=s.account.login_id,
        user_display_name=s.account.login_id,
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.REQUIRED,
            user_verification=UserVerificationRequirement.PREFERRED,
        ),
        exclude_credentials=[
            PublicKeyCredentialDescriptor(id=base64url_to_bytes(k.credential_id)) for k in known
        ],
    )
    session[CHALLENGE] = bytes_to_base64url(options.challenge)
    return current_app.response_class(options_to_json(options), mimetype="application/json")


@bp.post("/passkeys/register")
@guard
def passkey_register() -> ResponseReturnValue:
    s, challenge, answer = login_session(), session.pop(CHALLENGE, None), _answer()
    if challenge is None or answer is None:
        return _refused(gettext("The passkey could not be added."))
    try:
        verified = verify_registration_response(
            credential=answer,
            expected_challenge=base64url_to_bytes(challenge),
            expected_rp_id=_rp_id(),
            expected_origin=_origin(),
        )
    except REFUSED_ANSWERS:
        return _refused(gettext("The passkey could not be added."))
    name = browser_name(request.user_agent.string) or gettext("Passkey")
    with write(engine()) as conn:
        passkeys.add_passkey(
            conn,
            s.account.id,
            bytes_to_base64url(verified.credential_id),
            verified.credential_public_key,
            verified.sign_count,
            name,
        )
    return jsonify({"ok": True})


@bp.post("/passkeys/login-options")
def passkey_login_options() -> ResponseReturnValue:
    options = generate_authentication_options(
        rp_id=_rp_id(), user_verification=UserVerificationRequirement.PREFERRED
    )
    session[CHALLENGE] = bytes_to_base64url(options.challenge)
    return current_app.response_class(options_to_json(options), mimetype="application/json")


@bp.post("/passkeys/login")
def passkey_login() -> ResponseReturnValue:
    challenge, answer = session.pop(CHALLENGE, None), _answer()
    refused = gettext("The passkey did not work. Log in with your password.")
    if challenge is None or answer is None or not isinstance(answer.get("id"), str):
        return _refused(refused)
    with read(engine()) as conn:
        key = passkeys.find_passkey(conn, answer["id"])
        account = accounts.account_by_id(conn, key.account) if key else None
    if key is None or account is None or account.kind != "resident":
        return _refused(refused, 401)
    try:
        verified = verify_authentication_response(
            credential=answer,
            expected_challenge=base64url_to_bytes(challenge),
            expected_rp_id=_rp_id(),
            expected_origin=_origin(),
            credential_public_key=key.public_key,
            credential_current_sign_count=key.sign_count,
        )
    except REFUSED_ANSWERS:
        return _refused(refused, 401)
    with write(engine()) as conn:
        passkeys.passkey_used(conn, key, verified.new_sign_count)
    logins.log_in(account)
    return jsonify({"ok": True, "next": "/mypage/"})
