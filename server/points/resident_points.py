"""Every way a resident's points leave their wallet, each taking the proof the authority asks for.

Why: the spend, the event support, the reward claim and the transit exchange are each done three
ways — the resident's card at a terminal, their own session (My Page, a later issue) and the
central operator's correction — and each way must pass the same rule (:mod:`server.platform.authority`).
So the callers hand the proof here (``HolderCard``, ``HolderSession``, ``OperatorCorrection``)
and these functions ask the authority, then act with the actor (and memo) it allowed: My Page
only has to build a ``HolderSession`` after login and call them.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from server.platform import authority
from server.platform.authority import Action
from server.platform.mykey.registry import MyKey
from server.points import spending
from server.points.events import service as events
from server.points.rewards import service as rewards
from server.points.transit import service as transit


def spend(
    conn: Connection,
    holder: MyKey,
    proof: authority.Proof,
    request: spending.Spend,
    now: datetime | None = None,
    first: spending.FirstReads | None = None,
) -> dict[str, Any]:
    """``holder`` spends at ``request.place`` (see :func:`server.points.spending.spend`); ``first``:
    what was read of it already (:func:`server.points.spending.first_reads`)."""
    allowed = authority.authorize(Action.SPEND, proof, holder)
    if allowed.correction:
        request = replace(request, memo=allowed.memo(request.memo))
    context, held = (first.context, first.held) if first is not None else (None, None)
    return spending.spend(conn, holder, request, allowed.actor, now=now, context=context, held=held)


def support(
    conn: Connection,
    holder: MyKey,
    proof: authority.Proof,
    client_id: str,
    point_code: str,
    amount: int,
    nickname: str | None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """``holder`` directs ``amount`` of their ``point_code`` points to the event's pool."""
    allowed = authority.authorize(Action.EVENT_SUPPORT, proof, holder)
    return events.support(
        conn, holder, point_code, amount, nickname, client_id, allowed.actor, now, memo=allowed.memo()
    )


def claim(
    conn: Connection,
    holder: MyKey,
    proof: authority.Proof,
    client_id: str,
    reward: str,
    now: datetime | None = None,
) -> dict[str, Any]:
    """``holder`` claims one of ``reward``: its price leaves the wallet, a claim number comes back."""
    allowed = authority.authorize(Action.REWARD_CLAIM, proof, holder)
    return rewards.claim(conn, holder, reward, client_id, allowed.actor, now)


def exchange(
    conn: Connection,
    holder: MyKey,
    proof: authority.Proof,
    client_id: str,
    place: str,
    amount: int,
    point_code: str | None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """``holder`` sends ``amount`` points to the transit card linked at ``place``'s company."""
    allowed = authority.authorize(Action.TRANSIT_EXCHANGE, proof, holder)
    return transit.exchange(conn, holder, place, amount, point_code, client_id, allowed.actor, now=now)
