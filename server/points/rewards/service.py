"""Special rewards: a seat at the fireworks, carrying the festival's mikoshi, a product of the town.

A reward has a price in points, a stock, a period and a limit per holder. Claiming is atomic:
the stock is taken with one guarded ``UPDATE`` (``claimed < stock``), which on PostgreSQL makes
concurrent claims of one reward wait for each other and on SQLite runs in the one writer's
transaction, so the last item is never claimed twice. The claim's points go to the shop that
hands the reward over, or back to the municipality. Each claim has a number to show at pick-up.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, func, insert, select, update

from mkp_core.errors import Conflict, MkpError, NotFound
from mkp_core.ids import general_point_code, point_code_municipality
from server import ledger
from server.db.idempotency import once
from server.ledger.tables import point_codes
from server.platform.municipalities.service import get_municipality
from server.platform.mykey.registry import MyKey
from server.platform.operators.service import Operator
from server.platform.places.service import get_place
from server.points import holders
from server.points.spending import lot_moves_view, payee
from server.points.tables import reward_claims, rewards


def add_reward(
    conn: Connection,
    op: Operator,
    code: str,
    municipality: str,
    offer: dict[str, Any],
) -> dict[str, Any]:
    """A new reward; ``offer``: name, description, price, stock, per_holder, starts_at, ends_at,
    point_code (default the municipality's general code), place (who hands it over, optional)."""
    op.require_scope(municipality)
    get_municipality(conn, municipality)
    point_code = offer.get("point_code") or general_point_code(municipality)
    if point_code_municipality(point_code) != municipality:
        raise MkpError("point_code_mismatch", f"point code {point_code} is not {municipality}'s")
    if conn.execute(select(point_codes.c.code).where(point_codes.c.code == point_code)).first() is None:
        raise NotFound("unknown_point_code", f"point code {point_code} does not exist")
    if offer.get("place"):
        get_place(conn, offer["place"], op)
    if offer["ends_at"] <= offer["starts_at"]:
        raise MkpError("invalid_period", "a reward's period must end after it starts")
    if _row(conn, code) is not None:
        raise Conflict("reward_exists", f"reward {code} exists already")
    conn.execute(
        insert(rewards).values(
            code=code,
            municipality_code=municipality,
            point_code=point_code,
            name=offer["name"],
            description=offer.get("description"),
            price=offer["price"],
            stock=offer["stock"],
            claimed=0,
            per_holder=offer["per_holder"],
            starts_at=offer["starts_at"],
            ends_at=offer["ends_at"],
            place_id=offer.get("place"),
            created_at=datetime.now(UTC),
        )
    )
    return get_reward(conn, code)


def claim(
    conn: Connection, holder: MyKey, code: str, client_id: str, actor: str, now: datetime | None = None
) -> dict[str, Any]:
    """``holder`` claims one of reward ``code``: its points are spent, a claim number comes back."""

    def work() -> dict[str, Any]:
        when = now or datetime.now(UTC)
        holder.require_active()
        reward = get_reward(conn, code)
        if when < reward["starts_at"]:
            raise Conflict(
                "reward_not_started", f"{code} can be claimed from {reward['starts_at']:%Y-%m-%d %H:%M} UTC"
            )
        if when >= reward["ends_at"]:
            raise Conflict(
                "reward_ended", f"{code} could be claimed until {reward['ends_at']:%Y-%m-%d %H:%M} UTC"
            )
        number = _take_one(conn, code)
        _require_within_limit(conn, holder, reward)
        transfer = ledger.transfer(
            conn,
            ledger.TransferRequest(
                client_id,
                reward["point_code"],
                holder.wallet,
                payee(reward["place"]) if reward["place"] else f"muni:{reward['municipality']}",
                reward["price"],
                "reward",
                f"{code} {number}",
            ),
            actor,
            when,
        )
        conn.execute(
            insert(reward_claims).values(
                claim_number=number,
                reward_code=code,
                mykey=holder.number,
                transfer_id=transfer.id,
                claimed_at=when,
            )
        )
        return {
            "claim_number": number,
            "reward": code,
            "name": reward["name"],
            "mykey_id": holder.mykey_id,
            "points": reward["price"],
            "point_code": reward["point_code"],
            "transfer_id": transfer.id,
            "claimed_at": when,
            "lots": lot_moves_view(conn, transfer.id),
        }

    reply, _ = once(conn, client_id, "rewards.claim", {"holder": holder.number, "reward": code}, work)
    return reply


def _take_one(conn: Connection, code: str) -> str:
    """Take one item of the stock (the row stays locked until the transaction ends); its claim number."""
    taken = conn.execute(
        update(rewards)
        .where(rewards.c.code == code, rewards.c.claimed < rewards.c.stock)
        .values(claimed=rewards.c.claimed + 1)
    )
    if taken.rowcount != 1:
        raise Conflict("sold_out", f"every {code} has been claimed")
    claimed = conn.execute(select(rewards.c.claimed).where(rewards.c.code == code)).scalar_one()
    return f"{code.upper()}-{int(claimed):05d}"


def _require_within_limit(conn: Connection, holder: MyKey, reward: dict[str, Any]) -> None:
    """Checked after the stock row is locked, so one holder's simultaneous claims are counted too."""
    had = conn.execute(
        select(func.count()).where(
            reward_claims.c.reward_code == reward["code"], reward_claims.c.mykey == holder.number
        )
    ).scalar_one()
    if had >= reward["per_holder"]:
        raise Conflict(
            "claim_limit",
            f"MyKey ID {holder.mykey_id} has claimed {reward['code']} {had} times: the limit is {reward['per_holder']}",
        )


def claims(conn: Connection, op: Operator, code: str) -> dict[str, Any]:
    """The municipality's list of a reward's claims: claim number, MyKey ID, when."""
    reward = get_reward(conn, code, op)
    rows = conn.execute(
        select(reward_claims)
        .where(reward_claims.c.reward_code == code)
        .order_by(reward_claims.c.claim_number)
    ).all()
    shown = holders.mykey_ids(conn, [r.mykey for r in rows])
    return {
        **reward,
        "claims": [
            {
                "claim_number": r.claim_number,
                "mykey_id": shown[r.mykey],
                "transfer_id": r.transfer_id,
                "claimed_at": r.claimed_at,
            }
            for r in rows
        ],
    }


def get_reward(conn: Connection, code: str, op: Operator | None = None) -> dict[str, Any]:
    row = _row(conn, code)
    if row is None or (op is not None and not op.covers(row.municipality_code)):
        raise NotFound("unknown_reward", f"no reward {code}")
    return _view(row)


def list_rewards(
    conn: Connection, op: Operator | None = None, now: datetime | None = None
) -> list[dict[str, Any]]:
    """Rewards (an operator's municipality's); ``now`` given: only those not ended yet (the public list)."""
    query = select(rewards).order_by(rewards.c.starts_at, rewards.c.code)
    if op is not None and op.municipality:
        query = query.where(rewards.c.municipality_code == op.municipality)
    if now is not None:
        query = query.where(rewards.c.ends_at > now)
    return [_view(r) for r in conn.execute(query)]


def public_view(reward: dict[str, Any]) -> dict[str, Any]:
    """What the Point Navi page shows of a reward (no claims, no accounts)."""
    keys = (
        "code",
        "municipality",
        "point_code",
        "name",
        "description",
        "price",
        "left",
        "per_holder",
        "starts_at",
        "ends_at",
        "place",
    )
    return {k: reward[k] for k in keys}


def _view(row: Any) -> dict[str, Any]:
    return {
        "code": row.code,
        "municipality": row.municipality_code,
        "point_code": row.point_code,
        "name": row.name,
        "description": row.description,
        "price": int(row.price),
        "stock": row.stock,
        "claimed": row.claimed,
        "left": row.stock - row.claimed,
        "per_holder": row.per_holder,
        "starts_at": row.starts_at,
        "ends_at": row.ends_at,
        "place": row.place_id,
        "created_at": row.created_at,
    }


def _row(conn: Connection, code: str) -> Any:
    return conn.execute(select(rewards).where(rewards.c.code == code)).first()
