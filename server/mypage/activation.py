"""How a card opens My Page: an activation code printed at a kiosk, a login link at home.

Why the card, once: the web must never see the card (nor the Individual Number), yet a login must
belong to the card's holder. So the card proves its holder the way it does everything else — at a
kiosk's reader or at the holder's own, signing a server challenge — and gets a one-time secret
back: an activation code (``XXXX-XXXX-C``, 24 hours, typed at ``/mypage/signup``) or a login link
(ten minutes, opened by ``mkp-agent mypage login``; the token in the link's fragment). The secret names only the holder's MyKey
record; the server keeps its digest only (``server.logins.tokens``).

Both are idempotent by client id without keeping the secret: it is derived from a server key and
the caller's client id (in the caller's namespace), so a repeated request gets the same secret
back, and its answer is stored without it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection

from mkp_core import activation_code
from server.logins import tokens
from server.platform import authority
from server.platform.mykey.registry import MyKey

ACTIVATION = "activation"
LOGIN_LINK = "login_link"
RESIDENT = "resident"
ACTIVATION_VALIDITY = timedelta(hours=activation_code.VALIDITY_HOURS)
LOGIN_LINK_VALIDITY = timedelta(minutes=10)
#: The login link: the token rides in the fragment, which browsers never send, so it is in no
#: server's, proxy's or browser history's request log; the page's script posts it.
LINK_PATH = "/mypage/link#"


def _derived(key: bytes, purpose: str, client_key: str) -> bytes:
    return hmac.new(key, f"mypage-{purpose}:{client_key}".encode(), hashlib.sha256).digest()


def code_for(key: bytes, client_key: str) -> str:
    """The activation code of the request ``client_key`` (normalised)."""
    return activation_code.from_secret(_derived(key, ACTIVATION, client_key))


def link_token_for(key: bytes, client_key: str) -> str:
    """The login link token of the request ``client_key`` (43 URL-safe characters)."""
    return base64.urlsafe_b64encode(_derived(key, LOGIN_LINK, client_key)).decode().rstrip("=")


def issue_activation_code(
    conn: Connection, holder: MyKey, proof: authority.HolderCard, key: bytes, client_key: str, now: datetime
) -> dict[str, Any]:
    """A new activation code for ``holder`` (the earlier ones stop working); the answer to store
    (without the code: :func:`code_for` gives it back)."""
    authority.authorize(authority.Action.WEB_LOGIN, proof, holder)
    subject = str(holder.number)
    tokens.void_tokens(conn, ACTIVATION, RESIDENT, subject, now)
    tokens.issue_token(
        conn, ACTIVATION, RESIDENT, subject, ACTIVATION_VALIDITY, now, token=code_for(key, client_key)
    )
    return {"expires_at": now + ACTIVATION_VALIDITY, "mykey_id": holder.mykey_id}


def issue_login_link(
    conn: Connection, holder: MyKey, proof: authority.HolderCard, key: bytes, client_key: str, now: datetime
) -> dict[str, Any]:
    """A one-time login link for ``holder``; the answer to store (without the link's token)."""
    authority.authorize(authority.Action.WEB_LOGIN, proof, holder)
    tokens.issue_token(
        conn,
        LOGIN_LINK,
        RESIDENT,
        str(holder.number),
        LOGIN_LINK_VALIDITY,
        now,
        token=link_token_for(key, client_key),
    )
    return {"expires_at": now + LOGIN_LINK_VALIDITY}


def secret_answers(reply: dict[str, Any], key: bytes, client_key: str, purpose: str) -> dict[str, Any]:
    """The stored answer with its secret put back (the code, or the link's path)."""
    if purpose == ACTIVATION:
        return {**reply, "code": activation_code.pretty(code_for(key, client_key))}
    return {**reply, "path": LINK_PATH + link_token_for(key, client_key)}
