"""Request and response schemas of the card's way into My Page (the activation code, the login link).

Only the server imports these; the agent reads the answers as JSON.
"""

from __future__ import annotations

from datetime import datetime

from mkp_core.wire import CardProofBody, ClientId, Out, Strict


class MyPageCardRequest(Strict):
    """The card's holder asks for a My Page activation code (at a terminal) or login link (at
    home); the card signed ``cardproof.mypage_action(client_id)`` over a server challenge."""

    client_id: ClientId
    proof: CardProofBody


class MyPageActivationCode(Out):
    """Typed at ``/mypage/signup`` once, within ``expires_at``; shown only in this answer."""

    code: str
    expires_at: datetime
    mykey_id: str


class MyPageLoginLink(Out):
    """Opened in the holder's browser once, within ``expires_at`` (``path`` on this server)."""

    path: str
    expires_at: datetime
