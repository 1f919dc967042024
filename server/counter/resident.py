"""A resident's own points at a terminal, without the office: event support, reward claims and the
transit exchange, with their card.

Why: points leave a resident's wallet only with the resident's proof (:mod:`server.platform.authority`).
Before these, the office did these three for residents; now the card at any enrolled terminal
signs a challenge naming what and how much (``cardproof.support_action``, ``reward_action``,
``transit_action``), and the office keeps only its correction for a card that cannot be used.
Each is idempotent by its client id like a spend: a repeat gets the first answer without a new
challenge.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection

from mkp_core import cardproof
from mkp_core.cardproof import CardProof
from mkp_core.errors import Conflict
from server.counter.service import CardAtCounter, prove_holder
from server.db import idempotency
from server.platform import authority
from server.platform.mykey.registry import MyKey
from server.points import resident_points
from server.points.rewards import service as rewards


def _card(
    conn: Connection,
    at: CardAtCounter,
    proof: CardProof,
    purpose: str,
    action: dict[str, str],
    client_id: str,
    now: datetime,
) -> tuple[MyKey, authority.HolderCard]:
    """The holder of the card that signed ``action``, and the card as the authority's proof (the
    card signs the client id the terminal sent; the ledger keeps it in the terminal's namespace)."""
    repeat = idempotency.answered(conn, at.key(client_id))
    holder = prove_holder(conn, at, proof, purpose, action, repeat, now)
    return holder, authority.HolderCard(holder.number, at.terminal_id)


def support(
    conn: Connection,
    at: CardAtCounter,
    proof: CardProof,
    client_id: str,
    point_code: str,
    amount: int,
    nickname: str | None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """The card's holder directs ``amount`` of their ``point_code`` points to the event's pool."""
    now = now or datetime.now(UTC)
    action = cardproof.support_action(client_id, point_code, amount, nickname)
    holder, card = _card(conn, at, proof, cardproof.SUPPORT, action, client_id, now)
    return resident_points.support(conn, holder, card, at.key(client_id), point_code, amount, nickname, now)


def claim(
    conn: Connection,
    at: CardAtCounter,
    proof: CardProof,
    client_id: str,
    reward: str,
    points: int,
    now: datetime | None = None,
) -> dict[str, Any]:
    """The card's holder claims one of ``reward`` for ``points``: the price the card consented to."""
    now = now or datetime.now(UTC)
    action = cardproof.reward_action(client_id, reward, points)
    holder, card = _card(conn, at, proof, cardproof.REWARD, action, client_id, now)
    if not idempotency.answered(conn, at.key(client_id)):
        price = rewards.get_reward(conn, reward)["price"]
        if price != points:
            raise Conflict(
                "price_changed", f"{reward} costs {price} points now, not {points}: show the holder again"
            )
    return resident_points.claim(conn, holder, card, at.key(client_id), reward, now)


def exchange(
    conn: Connection,
    at: CardAtCounter,
    proof: CardProof,
    client_id: str,
    place: str,
    amount: int,
    point_code: str | None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """The card's holder sends ``amount`` points to the transit card linked at ``place``'s company."""
    now = now or datetime.now(UTC)
    action = cardproof.transit_action(client_id, place, amount, point_code)
    holder, card = _card(conn, at, proof, cardproof.TRANSIT, action, client_id, now)
    return resident_points.exchange(conn, holder, card, at.key(client_id), place, amount, point_code, now)
