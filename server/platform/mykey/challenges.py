"""One-time challenges that a card signs: short-lived, single use, and leaving nothing behind.

A challenge is ``base64url(expires ‖ nonce ‖ mac)``: its expiry (4 bytes, Unix seconds), 16 random
bytes, and an HMAC-SHA256 (first 16 bytes) by the server's challenge key over the expiry, the nonce,
the *purpose* and the *terminal* it was issued to (none for a holder at home). The MAC lets the
server tell apart a challenge it never issued (or issued for another purpose or terminal:
``unknown_challenge``), one past its time (``challenge_expired``) and one already answered
(``challenge_used``) without storing the purpose or the terminal anywhere.

Single use needs state: the nonce and expiry are a row in ``card_challenges`` from issue until the
answer is accepted, when the row is deleted in the same transaction as what the answer did. A
lookup therefore leaves the tables as it found them; a refused one too, as the server then
discards its challenge (:func:`discard`). Unanswered rows are pruned once expired.

Anyone may ask for a holder's challenge (no credential), so those rows are marked ``anonymous``
and at most ``max_open`` of them may be open at once (``too_many_challenges``, 429, with the
seconds until the oldest expires): the table cannot be filled however many ask.

The key is a file (``secrets_dir/challenge.key``, 0600) that every worker and server host shares.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import random
import secrets
import struct
from datetime import UTC, datetime, timedelta

from sqlalchemy import Connection, bindparam, delete, func, insert, select

from mkp_core.errors import Conflict, MkpError, Throttled
from server.platform.mykey.throttles import seconds_until
from server.platform.tables import card_challenges

NONCE_BYTES = 16
MAC_BYTES = 16
_PACKED = 4 + NONCE_BYTES + MAC_BYTES
PRUNE_PROBABILITY = 0.01


class UnknownChallenge(MkpError):
    """Not a challenge this server issued for this purpose and caller."""

    def __init__(self, message: str = "not a challenge this server issued for this purpose") -> None:
        super().__init__("unknown_challenge", message)


def _mac(key: bytes, expires: int, nonce: bytes, purpose: str, terminal_id: str | None) -> bytes:
    bound = f"{purpose}\n{terminal_id or ''}".encode()
    return hmac.new(key, struct.pack(">I", expires) + nonce + bound, hashlib.sha256).digest()[:MAC_BYTES]


def issue(
    conn: Connection,
    key: bytes,
    purpose: str,
    terminal_id: str | None,
    ttl: timedelta,
    now: datetime | None = None,
    max_open: int | None = None,
) -> dict[str, object]:
    """A fresh challenge for ``purpose`` (bound to ``terminal_id`` if a terminal asked).

    ``max_open``: the challenge is asked for with no credential (``anonymous``), and is refused
    while that many anonymous challenges are open.
    """
    now = now or datetime.now(UTC)
    if random.random() < PRUNE_PROBABILITY:
        conn.execute(delete(card_challenges).where(card_challenges.c.expires_at < now))
    if max_open is not None:
        _refuse_if_full(conn, max_open, now)
    expires_at = now.replace(microsecond=0) + ttl
    expires = int(expires_at.timestamp())
    nonce = secrets.token_bytes(NONCE_BYTES)
    token = struct.pack(">I", expires) + nonce + _mac(key, expires, nonce, purpose, terminal_id)
    conn.execute(
        insert(card_challenges).values(
            nonce=nonce.hex(), expires_at=expires_at, anonymous=max_open is not None
        )
    )
    return {
        "challenge": base64.urlsafe_b64encode(token).rstrip(b"=").decode(),
        "purpose": purpose,
        "expires_at": expires_at,
    }


def _refuse_if_full(conn: Connection, max_open: int, now: datetime) -> None:
    is_open = (card_challenges.c.anonymous.is_(True), card_challenges.c.expires_at >= now)
    count, oldest = conn.execute(
        select(func.count(), func.min(card_challenges.c.expires_at)).where(*is_open)
    ).one()
    if count >= max_open:
        wait = seconds_until(oldest, now)
        raise Throttled(
            "too_many_challenges",
            f"the server has too many open challenges: ask again in {wait} seconds",
            retry_after=wait,
        )


def verify(key: bytes, challenge: str, purpose: str, terminal_id: str | None, now: datetime) -> None:
    """Refuse ``challenge`` unless this server issued it for ``purpose`` and ``terminal_id`` and it
    has not expired (no database read: the MAC and the expiry decide)."""
    nonce, expires = _open(key, challenge, purpose, terminal_id)
    if now.timestamp() > expires:
        raise Conflict("challenge_expired", "the challenge has expired: ask for a new one and sign again")


_SPEND = delete(card_challenges).where(card_challenges.c.nonce == bindparam("nonce"))


def spend(conn: Connection, challenge: str) -> None:
    """Mark a verified ``challenge`` answered, once: its row goes, in the caller's transaction (if
    what the answer was for is then refused, the challenge stays open until it expires)."""
    nonce = _decode(challenge)[4 : 4 + NONCE_BYTES]
    gone = conn.execute(_SPEND, {"nonce": nonce.hex()})
    if gone.rowcount != 1:
        raise Conflict("challenge_used", "the challenge was answered already: ask for a new one")


def discard(conn: Connection, key: bytes, challenge: str, purpose: str, terminal_id: str | None) -> None:
    """Delete the row of a challenge whose answer was refused (a lookup's: it is answered once,
    refused or not). Only a challenge this server issued for ``purpose`` and caller; nothing
    else happens if it is not one, or its row is gone already."""
    try:
        nonce, _ = _open(key, challenge, purpose, terminal_id)
    except UnknownChallenge:
        return
    conn.execute(_SPEND, {"nonce": nonce.hex()})


def _decode(challenge: str) -> bytes:
    if not isinstance(challenge, str) or len(challenge) > 64:
        raise UnknownChallenge()
    try:
        token = base64.urlsafe_b64decode(challenge + "=" * (-len(challenge) % 4))
    except (binascii.Error, ValueError):
        raise UnknownChallenge() from None
    if len(token) != _PACKED or base64.urlsafe_b64encode(token).rstrip(b"=").decode() != challenge:
        raise UnknownChallenge()  # exactly as issued: no padding, no stray characters
    return token


def _open(key: bytes, challenge: str, purpose: str, terminal_id: str | None) -> tuple[bytes, int]:
    token = _decode(challenge)
    (expires,) = struct.unpack(">I", token[:4])
    nonce, mac = token[4 : 4 + NONCE_BYTES], token[4 + NONCE_BYTES :]
    if not hmac.compare_digest(mac, _mac(key, expires, nonce, purpose, terminal_id)):
        raise UnknownChallenge()
    return nonce, expires
