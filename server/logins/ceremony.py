"""The WebAuthn ceremonies behind a page's passkey buttons, for any kind of login.

Why here: My Page and the console add passkeys and log in with them the same way; written once,
the checks (challenge, origin, relying party, signature counter, kind) are reviewed once. A page
makes one :class:`PasskeyCeremony` for its kind and calls its four steps from its own routes; the
browser side is the page kernel's ``passkey.js``.

The steps, each answering JSON to ``passkey.js``:
1. ``register_options(account)``: the options to make a passkey; the challenge is kept in the
   signed session cookie until the answer comes (and is dropped then, used or not);
2. ``register(account)``: verify the authenticator's answer and keep the new passkey, named by
   the browser that made it ("Chrome · Android");
3. ``login_options()``: the options to log in; passkeys are discoverable ("resident keys"), so no
   login ID is asked: the credential names its login;
4. ``login()``: verify the answer against the passkey it names; a passkey of another kind of
   login is refused as an unknown one, and the login is the passkey's own account, never another.

The relying party is this host (its name without port); the expected origin is the one the browser
used (https behind TLS, as the page kernel tells it). Refusals are one translated line, never a
server error, and nothing is changed by them.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from flask import current_app, jsonify, request, session
from flask.typing import ResponseReturnValue
from sqlalchemy import Engine
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

from server.config import ServerConfig
from server.db.engine import read, write
from server.logins import accounts, passkeys
from server.logins.browsers import browser_name
from server.logins.web import log_in
from server.site import gettext
from server.site.kernel import came_over_tls

#: What a malformed or forged answer raises in the library (refused, never a server error).
REFUSED_ANSWERS = (WebAuthnException, ValueError, KeyError, TypeError)
MAX_ANSWER = 16_384


@dataclass(frozen=True)
class PasskeyCeremony:
    """Passkeys for logins of ``kind``; the words are source strings, translated when shown."""

    kind: str
    relying_party_name: str
    not_added: str
    not_logged_in: str
    after_login: Callable[[], str]

    @property
    def challenge_key(self) -> str:
        return f"passkey_challenge_{self.kind}"

    def register_options(self, account: accounts.Account) -> ResponseReturnValue:
        with read(_engine()) as conn:
            known = passkeys.passkeys_of(conn, account.id)
        options = generate_registration_options(
            rp_id=_rp_id(),
            rp_name=gettext(self.relying_party_name),
            user_id=f"{account.kind}:{account.id}".encode(),
            user_name=account.login_id,
            user_display_name=account.login_id,
            authenticator_selection=AuthenticatorSelectionCriteria(
                resident_key=ResidentKeyRequirement.REQUIRED,
                user_verification=UserVerificationRequirement.PREFERRED,
            ),
            exclude_credentials=[
                PublicKeyCredentialDescriptor(id=base64url_to_bytes(k.credential_id)) for k in known
            ],
        )
        session[self.challenge_key] = bytes_to_base64url(options.challenge)
        return current_app.response_class(options_to_json(options), mimetype="application/json")

    def register(self, account: accounts.Account) -> ResponseReturnValue:
        challenge, answer = session.pop(self.challenge_key, None), _answer()
        if challenge is None or answer is None or account.kind != self.kind:
            return _refused(gettext(self.not_added))
        try:
            verified = verify_registration_response(
                credential=answer,
                expected_challenge=base64url_to_bytes(challenge),
                expected_rp_id=_rp_id(),
                expected_origin=_origin(),
            )
        except REFUSED_ANSWERS:
            return _refused(gettext(self.not_added))
        with write(_engine()) as conn:
            passkeys.add_passkey(
                conn,
                account.id,
                bytes_to_base64url(verified.credential_id),
                verified.credential_public_key,
                verified.sign_count,
                browser_name(request.user_agent.string) or gettext("Passkey"),
            )
        return jsonify({"ok": True})

    def login_options(self) -> ResponseReturnValue:
        options = generate_authentication_options(
            rp_id=_rp_id(), user_verification=UserVerificationRequirement.PREFERRED
        )
        session[self.challenge_key] = bytes_to_base64url(options.challenge)
        return current_app.response_class(options_to_json(options), mimetype="application/json")

    def login(self) -> ResponseReturnValue:
        challenge, answer = session.pop(self.challenge_key, None), _answer()
        refused = gettext(self.not_logged_in)
        if challenge is None or answer is None or not isinstance(answer.get("id"), str):
            return _refused(refused)
        with read(_engine()) as conn:
            key = passkeys.find_passkey(conn, answer["id"])
            account = accounts.account_by_id(conn, key.account) if key else None
        if key is None or account is None or account.kind != self.kind:
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
        with write(_engine()) as conn:
            passkeys.passkey_used(conn, key, verified.new_sign_count)
        log_in(account)
        return jsonify({"ok": True, "next": self.after_login()})


def _engine() -> Engine:
    engine: Engine = current_app.extensions["mkp.engine"]
    return engine


def _rp_id() -> str:
    """This host's name, without the port (a relying party is named by a domain, never an address)."""
    return urlsplit(f"//{request.host}").hostname or ""


def _origin() -> str:
    config: ServerConfig = current_app.extensions["mkp.config"]
    scheme = "https" if came_over_tls(config.forwarded_hops) else "http"
    return f"{scheme}://{request.host}"


def _answer() -> dict[str, Any] | None:
    raw = request.get_data(cache=True)  # the audit trail reads the request after the write
    if len(raw) > MAX_ANSWER:
        return None
    try:
        found = json.loads(raw)
    except ValueError:
        return None
    return found if isinstance(found, dict) else None


def _refused(message: str, status: int = 400) -> ResponseReturnValue:
    return jsonify({"ok": False, "message": message}), status
