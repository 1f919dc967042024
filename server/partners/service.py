"""Partner points as the API's views call them: each a step of the domain modules, no Flask.

``convert_online`` (a partner's order for a linked member), ``convert_batch`` (many at once),
``redeem_coupon`` (a holder's code), ``issue_coupons``, ``pending`` (what a holder has on hold),
``set_home``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from server.partners import batch, coupons, holding, links, registry, throttle
from server.partners.registry import Partner
from server.platform.mykey import registry as mykeys
from server.platform.mykey.registry import MyKey


def convert_online(
    conn: Connection,
    partner: Partner | str,
    order_id: str,
    member: str,
    amount: int,
    destination: str | None,
) -> dict[str, Any]:
    """The partner converts ``amount`` of its points for ``member`` (whose link it confirmed):
    ``partner`` as its signed request's view read it in this transaction, or its id."""
    if isinstance(partner, str):
        partner = registry.active(conn, partner)
    points = partner.points_for(amount)
    holder, known = links.linked_holder_to(conn, partner, member, destination)
    code = holding.chosen_destination(holder, destination)
    order = holding.Order(
        holder=holder.number,
        point_code=holding.checked_destination(code, {code} if known else ()),
        points=points,
        partner_amount=amount,
        order_id=order_id,
    )
    return holding.convert(conn, partner, order, actor=partner.key_id)


def convert_batch(
    conn: Connection, partner: Partner | str, orders: Sequence[batch.OrderIn | batch.Malformed]
) -> dict[str, Any]:
    """The partner's batch of orders, each answered on its own (``server.partners.batch``)."""
    if isinstance(partner, str):
        partner = registry.active(conn, partner)
    return batch.convert_batch(conn, partner, orders)


def redeem_coupon(
    conn: Connection, holder: MyKey, typed: str, destination: str | None, now: datetime
) -> dict[str, Any]:
    """The holder redeems a coupon code: its points go into holding as a conversion does. Wrong
    codes count against the holder wherever they try (at home, at any terminal): the caller keeps
    the refusal with :func:`throttle.refusal_kept` so that the count is committed."""

    def judged() -> dict[str, Any]:
        found = coupons.claim(conn, typed, now)
        point_code = holding.destination(conn, holder, destination)
        partner = registry.get(conn, found.partner_id)
        order = holding.Order(
            holder=holder.number, point_code=point_code, points=found.points, coupon_hash=found.code_hash
        )
        return holding.convert(conn, partner, order, actor=holder.wallet, now=now)

    return throttle.counted(conn, holder.wallet, now, judged)


def issue_coupons(
    conn: Connection, partner_id: str, count: int, points: int, actor: str, expires_at: datetime | None
) -> dict[str, Any]:
    return coupons.issue_batch(conn, registry.active(conn, partner_id), count, points, actor, expires_at)


def pending(conn: Connection, holder: MyKey) -> dict[str, Any]:
    """What a holder has on hold and when each arrives (My Page, the agent, mkp-admin)."""
    return {
        "mykey_id": holder.mykey_id,
        "home_municipality": holder.home_municipality,
        "conversions": holding.pending_of(conn, holder),
    }


def set_home(conn: Connection, holder: MyKey, municipality: str | None) -> dict[str, Any]:
    """Where converted points go when no destination is named (for conversions from now on)."""
    holder = mykeys.set_home(conn, holder, municipality)
    return {"mykey_id": holder.mykey_id, "home_municipality": holder.home_municipality}
