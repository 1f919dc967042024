"""Transit exchange: for a bus company whose card readers cannot read the My Number card.

The holder links their transit card's number to their MyKey ID as a service ID (a service of
kind ``transport``), then asks for N points to go to the card. That is a spend at the company's
place (kind ``transport``, belonging to that service), under the point code's rules like any
other, with the card number kept beside the transfer; the company's daily list says what to
load onto which card.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, insert, select

from mkp_core.dates import start_of_day
from mkp_core.errors import Conflict
from server.db.idempotency import once
from server.ledger.tables import transfers
from server.platform.mykey import service_links
from server.platform.mykey.registry import MyKey
from server.platform.operators.service import Operator
from server.platform.places.service import get_place
from server.points.spending import Spend, perform
from server.points.tables import transit_exchanges

TRANSPORT = "transport"


def exchange(
    conn: Connection,
    holder: MyKey,
    place_id: str,
    amount: int,
    point_code: str | None,
    client_id: str,
    actor: str,
    scope: str | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Move ``amount`` points from ``holder``'s wallet to the transit company, for their linked card."""

    def work() -> dict[str, Any]:
        when = now or datetime.now(UTC)
        place = get_place(conn, place_id)
        service = _transit_service(conn, place)
        card = service_links.lookup(conn, holder, service)["service_id"]
        request = Spend(client_id, place_id, amount, point_code, memo=f"transit card {card}")
        spent = perform(conn, holder, request, actor, scope, "transit", when)
        conn.execute(
            insert(transit_exchanges).values(
                transfer_id=spent["id"], place_id=place_id, card_number=card, created_at=when
            )
        )
        return {**spent, "card_number": card, "service": service["code"]}

    body = {
        "holder": holder.number,
        "place": place_id,
        "amount": amount,
        "point_code": point_code,
        "scope": scope,
    }
    reply, _ = once(conn, client_id, "transit.exchange", body, work)
    return reply


def _transit_service(conn: Connection, place: dict[str, Any]) -> dict[str, Any]:
    if place["kind"] != TRANSPORT or place["service"] is None:
        raise Conflict(
            "not_a_transit_place",
            f"{place['id']} is no transit company's place (a place of kind transport, of a transport service)",
        )
    service = service_links.get_service(conn, place["service"])
    if service["kind"] != TRANSPORT:
        raise Conflict(
            "not_a_transit_place", f"{place['id']}'s service {service['code']} is not a transport service"
        )
    return service


def daily(conn: Connection, op: Operator, place_id: str, day: date) -> dict[str, Any]:
    """What the company loads for ``day`` (JST): card number and points per exchange not reversed."""
    place = get_place(conn, place_id, op)
    reversal = transfers.alias("reversal")
    rows = conn.execute(
        select(
            transit_exchanges.c.transfer_id,
            transit_exchanges.c.card_number,
            transfers.c.amount,
            transit_exchanges.c.created_at,
        )
        .join(transfers, transfers.c.id == transit_exchanges.c.transfer_id)
        .outerjoin(reversal, reversal.c.reverses_id == transfers.c.id)
        .where(
            transit_exchanges.c.place_id == place_id,
            transit_exchanges.c.created_at >= start_of_day(day),
            transit_exchanges.c.created_at < start_of_day(day + timedelta(days=1)),
            reversal.c.id.is_(None),
        )
        .order_by(transit_exchanges.c.created_at, transit_exchanges.c.transfer_id)
    ).all()
    exchanges = [
        {"transfer_id": tid, "card_number": card, "points": int(points), "at": at}
        for tid, card, points, at in rows
    ]
    return {
        "place": place["id"],
        "name": place["name"],
        "date": day.isoformat(),
        "exchanges": exchanges,
        "total": sum(e["points"] for e in exchanges),
    }
