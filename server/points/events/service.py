"""Event pools: holders direct points of an event's code to its pool; the pool goes to the organiser.

An event is an event point code (``142018-FEST2026``, points kept apart from the general ones)
with an organiser: a place, whose payee account receives the pool. Supporters are known to the
organiser by their MyKey ID and, if they gave one, a nickname: nothing more is kept or shown.
The hand-over moves the whole pool in one transfer and closes the event.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, insert, select, update

from mkp_core.errors import Conflict, MkpError, NotFound
from mkp_core.ids import point_code_municipality
from server import ledger
from server.db.idempotency import once
from server.ledger.accounts import account_state
from server.ledger.tables import point_codes, transfers
from server.platform.mykey.registry import MyKey
from server.platform.operators.service import Operator
from server.platform.places.service import get_place
from server.points import holders
from server.points.spending import lot_moves_view, payee
from server.points.tables import event_supports, events

OPEN = "open"
HANDED_OVER = "handed_over"


def pool(point_code: str) -> str:
    """The ledger account an event's support collects in."""
    return f"pool:{point_code}"


def add_event(conn: Connection, op: Operator, point_code: str, organiser: str) -> dict[str, Any]:
    """Open ``point_code``'s pool for ``organiser`` (a place: the festival committee, the school)."""
    op.require_scope(point_code_municipality(point_code))
    row = conn.execute(select(point_codes.c.kind).where(point_codes.c.code == point_code)).first()
    if row is None:
        raise NotFound("unknown_point_code", f"point code {point_code} does not exist")
    if row.kind != "event":
        raise MkpError("not_an_event", f"{point_code} is a municipality's general code, not an event's")
    get_place(conn, organiser, op)
    if _event_row(conn, point_code) is not None:
        raise Conflict("event_exists", f"{point_code} has its pool already")
    conn.execute(
        insert(events).values(
            point_code=point_code, organiser=organiser, status=OPEN, created_at=datetime.now(UTC)
        )
    )
    return get_event(conn, point_code)


def support(
    conn: Connection,
    holder: MyKey,
    point_code: str,
    amount: int,
    nickname: str | None,
    client_id: str,
    actor: str,
    now: datetime | None = None,
    memo: str | None = None,
) -> dict[str, Any]:
    """``holder`` directs ``amount`` of their ``point_code`` points to the event's pool.

    ``actor`` and ``memo``: as :func:`server.platform.authority.authorize` allowed it (a correction says so)."""

    def work() -> dict[str, Any]:
        holder.require_active()
        event = get_event(conn, point_code)
        if event["status"] != OPEN:
            raise Conflict(
                "event_closed", f"{point_code}'s pool was handed over on {event['handed_over_at']:%Y-%m-%d}"
            )
        transfer = ledger.transfer(
            conn,
            ledger.TransferRequest(
                client_id, point_code, holder.wallet, pool(point_code), amount, "support", memo
            ),
            actor,
            now,
        )
        conn.execute(
            insert(event_supports).values(
                transfer_id=transfer.id, point_code=point_code, mykey=holder.number, nickname=nickname
            )
        )
        return {
            **transfer.to_dict(),
            "mykey_id": holder.mykey_id,
            "nickname": nickname,
            "lots": lot_moves_view(conn, transfer.id),
        }

    body = {"holder": holder.number, "point_code": point_code, "amount": amount, "nickname": nickname}
    reply, _ = once(conn, client_id, "events.support", body, work)
    return reply


def report(conn: Connection, point_code: str, op: Operator | None = None) -> dict[str, Any]:
    """The hand-over report: who supported how much (MyKey ID, nickname if given) and the total."""
    event = get_event(conn, point_code, op)
    reversal = transfers.alias("reversal")
    rows = conn.execute(
        select(event_supports.c.mykey, event_supports.c.nickname, transfers.c.amount, transfers.c.id)
        .join(transfers, transfers.c.id == event_supports.c.transfer_id)
        .outerjoin(reversal, reversal.c.reverses_id == transfers.c.id)
        .where(event_supports.c.point_code == point_code, reversal.c.id.is_(None))
        .order_by(transfers.c.id)
    ).all()
    per_holder: dict[int, dict[str, Any]] = {}
    for number, nickname, amount, _ in rows:
        entry = per_holder.setdefault(number, {"amount": 0, "supports": 0, "nickname": None})
        entry["amount"] += int(amount)
        entry["supports"] += 1
        entry["nickname"] = nickname or entry["nickname"]  # the latest one given
    shown = holders.mykey_ids(conn, per_holder)
    supporters = [
        {"mykey_id": shown[number], **entry}
        for number, entry in sorted(per_holder.items(), key=lambda kv: (-kv[1]["amount"], shown[kv[0]]))
    ]
    return {**event, "supporters": supporters, "total": sum(s["amount"] for s in supporters)}


def handover(
    conn: Connection, op: Operator, point_code: str, client_id: str, now: datetime | None = None
) -> dict[str, Any]:
    """Hand the whole pool to the organiser in one transfer, and close the event; the report."""

    def work() -> dict[str, Any]:
        event = get_event(conn, point_code, op)
        if event["status"] != OPEN:
            raise Conflict("event_closed", f"{point_code}'s pool was handed over already")
        held = event["pool_balance"]
        if held <= 0:
            raise Conflict("pool_empty", f"{point_code}'s pool holds no points to hand over")
        transfer = ledger.transfer(
            conn,
            ledger.TransferRequest(
                client_id,
                point_code,
                pool(point_code),
                payee(event["organiser"]),
                held,
                "handover",
                "hand-over",
            ),
            op.actor,
            now,
        )
        conn.execute(
            update(events)
            .where(events.c.point_code == point_code)
            .values(status=HANDED_OVER, handed_over_at=transfer.created_at, handover_transfer_id=transfer.id)
        )
        return {**report(conn, point_code), "handover": transfer.to_dict()}

    reply, _ = once(conn, client_id, "events.handover", {"point_code": point_code, "operator": op.name}, work)
    return reply


def get_event(conn: Connection, point_code: str, op: Operator | None = None) -> dict[str, Any]:
    row = _event_row(conn, point_code)
    if row is None or (op is not None and not op.covers(point_code_municipality(point_code))):
        raise NotFound("unknown_event", f"{point_code} has no event pool")
    name = conn.execute(select(point_codes.c.name).where(point_codes.c.code == point_code)).scalar_one()
    state = account_state(conn, pool(point_code), point_code)
    return {
        "point_code": row.point_code,
        "name": name,
        "organiser": row.organiser,
        "status": row.status,
        "pool_balance": state[0] if state else 0,
        "created_at": row.created_at,
        "handed_over_at": row.handed_over_at,
        "handover_transfer": row.handover_transfer_id,
    }


def list_events(conn: Connection, op: Operator) -> list[dict[str, Any]]:
    query = select(events.c.point_code).order_by(events.c.point_code)
    if op.municipality:
        query = query.where(events.c.point_code.like(f"{op.municipality}-%"))
    return [get_event(conn, code) for code in conn.execute(query).scalars()]


def _event_row(conn: Connection, point_code: str) -> Any:
    return conn.execute(select(events).where(events.c.point_code == point_code)).first()
