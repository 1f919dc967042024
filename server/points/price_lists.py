"""A place's price list: what its items cost in points (a museum's admission: 一般 500, 高校生 300).

A spend may name an item instead of an amount: the amount is the item's price times the
quantity, and the receipt and the ledger's memo name the item. A price changed later changes
no spend made before: the spend's transfer keeps the amount it moved.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update

from mkp_core.errors import NotFound
from server.platform import config_versions
from server.platform.operators.service import Operator
from server.platform.places.service import get_place
from server.points.tables import price_items


def set_item(
    conn: Connection, op: Operator, place_id: str, code: str, name: str, price: int
) -> dict[str, Any]:
    """Add an item to the place's list, or change its name and price."""
    get_place(conn, place_id, op)
    now = datetime.now(UTC)
    if find_item(conn, place_id, code) is None:
        conn.execute(
            insert(price_items).values(place_id=place_id, code=code, name=name, price=price, updated_at=now)
        )
    else:
        conn.execute(
            update(price_items)
            .where(price_items.c.place_id == place_id, price_items.c.code == code)
            .values(name=name, price=price, updated_at=now)
        )
    config_versions.bump(conn, now)  # the place's terminals download its price list
    return items(conn, place_id)


def remove_item(conn: Connection, op: Operator, place_id: str, code: str) -> dict[str, Any]:
    get_place(conn, place_id, op)
    if find_item(conn, place_id, code) is None:
        raise NotFound("unknown_item", f"{place_id} has no item {code}")
    conn.execute(delete(price_items).where(price_items.c.place_id == place_id, price_items.c.code == code))
    config_versions.bump(conn)
    return items(conn, place_id)


def items(conn: Connection, place_id: str) -> dict[str, Any]:
    place = get_place(conn, place_id)
    rows = conn.execute(
        select(price_items).where(price_items.c.place_id == place_id).order_by(price_items.c.price.desc())
    )
    return {
        "place": place["id"],
        "name": place["name"],
        "items": [{"code": r.code, "name": r.name, "price": int(r.price)} for r in rows],
    }


def find_item(conn: Connection, place_id: str, code: str) -> dict[str, Any] | None:
    row = conn.execute(
        select(price_items).where(price_items.c.place_id == place_id, price_items.c.code == code)
    ).first()
    return None if row is None else {"code": row.code, "name": row.name, "price": int(row.price)}
