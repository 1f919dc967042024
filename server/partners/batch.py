"""A partner's orders in batches: up to 500 conversions in one signed request.

Each order is judged as ``POST /partner/v1/conversions`` judges one, and answered on its own, in
order: ``accepted`` with its conversion, or ``refused`` with a code and message (the others still
go). Its order id is its idempotency key exactly as there (the same key, scope and body hash: an
order sent singly and then in a batch, or the other way round, is one order): an order answered
already gets its first answer again; the same id with another body is refused
``idempotency_conflict``; a refused order is kept nowhere and is judged afresh when sent again.
An order id twice in one batch: the first is judged, the later ones refused
``duplicate_order_id``. A malformed order (not an object, a field out of range: see
:func:`read_orders`) is refused on its own with its field's code, as the single endpoint would
answer it, and counts for nothing else (its order id is no duplicate of a good one).

Why batches: one request a conversion costs a signature check, a transaction and ~37 statements
each; a batch of 500 costs one of each step (the members, destinations, campaigns and prior
answers read once, the conversions inserted together, one ``ledger.create_transfers`` for all
their transfers, the answers stored together), and the partner's account row is locked once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import TypeAdapter, ValidationError
from sqlalchemy import Connection

from mkp_core import wire
from mkp_core.errors import Conflict, MkpError
from server.db import idempotency
from server.db.client_ids import partner_order_key
from server.partners import holding, links, schemas
from server.partners.registry import Partner
from server.platform.mykey.registry import MyKey
from server.web import validation

ACCEPTED, REFUSED = "accepted", "refused"


def order_key(partner_id: str, order_id: str) -> str:
    """The idempotency client id of a partner's order (one per partner: its own id space)."""
    return partner_order_key(partner_id, order_id)


def order_scope(partner_id: str) -> str:
    return f"partner.convert:{partner_id}"


@dataclass(frozen=True)
class OrderIn:
    """One order as the partner sent it (the single endpoint's body)."""

    order_id: str
    member: str
    amount: int
    destination: str | None = None

    def body(self) -> dict[str, Any]:
        """What the idempotency hash covers: the same dict as the single endpoint's body."""
        return {
            "order_id": self.order_id,
            "member": self.member,
            "amount": self.amount,
            "destination": self.destination,
        }


@dataclass(frozen=True)
class Malformed:
    """An order that is not one (the single endpoint would answer it 422): refused alone."""

    order_id: str | None  # as sent, if it is a good order id
    error: MkpError


_ORDER_ID: TypeAdapter[str] = TypeAdapter(wire.OrderId)


def read_orders(raw: Sequence[Any]) -> list[OrderIn | Malformed]:
    """Each order of a batch read as the single endpoint reads its body, on its own."""
    out: list[OrderIn | Malformed] = []
    for i, item in enumerate(raw):
        try:
            o = schemas.ConversionCreate.model_validate(item)
        except ValidationError as e:
            out.append(Malformed(_order_id_of(item), _malformed(i, e)))
            continue
        out.append(OrderIn(o.order_id, o.member, o.amount, o.destination))
    return out


def _order_id_of(item: Any) -> str | None:
    """The order id of a malformed order, if it is a good one (to name the answer by)."""
    try:
        return _ORDER_ID.validate_python(item.get("order_id")) if isinstance(item, dict) else None
    except ValidationError:
        return None


def _malformed(index: int, e: ValidationError) -> MkpError:
    first = e.errors(include_url=False, include_context=False, include_input=False)[0]
    where = ".".join(str(p) for p in first["loc"])
    message = f"order {index + 1}: {where}: {first['msg']}" if where else f"order {index + 1}: {first['msg']}"
    return MkpError(validation.error_code(e, not_an_object="invalid_order"), message)


def accepted(order_id: str, conversion: dict[str, Any]) -> dict[str, Any]:
    return {"order_id": order_id, "status": ACCEPTED, "conversion": conversion, "error": None}


def refused(order_id: str | None, error: MkpError) -> dict[str, Any]:
    return {
        "order_id": order_id,
        "status": REFUSED,
        "conversion": None,
        "error": {"code": error.code, "message": error.message},
    }


@dataclass(frozen=True)
class Answered:
    """An order's answer as the single endpoint gives it: booked now (``fresh``, 201), or the
    first answer of an order answered before (its status)."""

    reply: dict[str, Any]
    status: int
    fresh: bool


def convert_batch(
    conn: Connection,
    partner: Partner,
    sent: Sequence[OrderIn | Malformed],
    now: datetime | None = None,
) -> dict[str, Any]:
    """Judge and book the orders ``sent`` in the caller's write transaction; one answer each, in order."""
    done = []
    for order, outcome in zip(sent, judge_and_book(conn, partner, sent, now), strict=True):
        if isinstance(outcome, MkpError):
            done.append(refused(order.order_id, outcome))
        else:
            assert isinstance(order, OrderIn)  # a malformed order is answered with its error
            done.append(accepted(order.order_id, outcome.reply))
    return {
        "accepted": sum(r["status"] == ACCEPTED for r in done),
        "refused": sum(r["status"] == REFUSED for r in done),
        "results": done,
    }


def judge_and_book(
    conn: Connection,
    partner: Partner,
    sent: Sequence[OrderIn | Malformed],
    now: datetime | None = None,
) -> list[Answered | MkpError]:
    """Judge and book the orders ``sent`` in the caller's write transaction: each one's answer, or
    its refusal, in order (a batch's, or single orders sent at once: ``server.db.engine.WriteGroup``).

    The steps: refuse malformed orders; refuse repeated order ids; answer those answered before
    (or refuse them, if their body changed); judge the rest (rate, member link, destination);
    book the good ones together; store their answers."""
    now = now or datetime.now(UTC)
    results: list[Answered | MkpError | None] = [None] * len(sent)
    for i, order in enumerate(sent):
        if isinstance(order, Malformed):
            results[i] = order.error
    placeholder = OrderIn("", "", 0)  # never judged: its answer is given above
    orders = [o if isinstance(o, OrderIn) else placeholder for o in sent]
    _refuse_repeats(orders, results)
    _answer_priors(conn, partner, orders, results)
    judged = _judge(conn, partner, orders, results)
    if judged:
        conversions = holding.convert_many(conn, partner, [order for _, order in judged], partner.key_id, now)
        answers = []
        for (i, _), conversion in zip(judged, conversions, strict=True):
            if isinstance(conversion, MkpError):  # too large to release: refused alone, kept nowhere
                results[i] = conversion
                continue
            stored, text = idempotency.stored_text(conversion)
            results[i] = Answered(stored, 201, fresh=True)
            digest = idempotency.body_hash(order_scope(partner.id), orders[i].body())
            answers.append((order_key(partner.id, orders[i].order_id), digest, 201, text))
        idempotency.record_many(conn, answers)
    done = [r for r in results if r is not None]
    assert len(done) == len(orders)
    return done


def _refuse_repeats(orders: Sequence[OrderIn], results: list[Answered | MkpError | None]) -> None:
    first: dict[str, int] = {}
    for i, order in enumerate(orders):
        if results[i] is not None:
            continue
        if order.order_id in first:
            results[i] = Conflict(
                "duplicate_order_id",
                f"order id {order.order_id} is order {first[order.order_id] + 1} of this batch "
                "already: an order id is one order",
            )
        else:
            first[order.order_id] = i


def _answer_priors(
    conn: Connection, partner: Partner, orders: Sequence[OrderIn], results: list[Answered | MkpError | None]
) -> None:
    """Orders answered before (singly or in a batch) get that answer, or ``idempotency_conflict``."""
    todo = [i for i, r in enumerate(results) if r is None]
    keys = {i: order_key(partner.id, orders[i].order_id) for i in todo}
    found = idempotency.priors(conn, list(keys.values()))
    scope = order_scope(partner.id)
    for i in todo:
        prior = found.get(keys[i])
        if prior is None:
            continue
        if prior.body_hash == idempotency.body_hash(scope, orders[i].body()):
            results[i] = Answered(prior.reply, prior.status, fresh=False)
        else:
            results[i] = Conflict(
                "idempotency_conflict",
                f"order id {orders[i].order_id} was already used for a different order",
            )


def _judge(
    conn: Connection, partner: Partner, orders: Sequence[OrderIn], results: list[Answered | MkpError | None]
) -> list[tuple[int, holding.Order]]:
    """The orders still open, as conversions to book (index, order); the others refused."""
    todo = [i for i, r in enumerate(results) if r is None]
    holders = links.linked_holders(conn, partner, [orders[i].member for i in todo])
    chosen: dict[int, tuple[MyKey, str, int]] = {}  # order -> holder, destination, points
    for i in todo:
        holder = holders[orders[i].member]
        try:
            points = partner.points_for(orders[i].amount)
            if isinstance(holder, MkpError):
                raise holder
            chosen[i] = (holder, holding.chosen_destination(holder, orders[i].destination), points)
        except MkpError as e:
            results[i] = e
    known = holding.known_point_codes(conn, [code for _, code, _ in chosen.values()])
    judged = []
    for i, (holder, code, points) in chosen.items():
        try:
            point_code = holding.checked_destination(code, known)
        except MkpError as e:
            results[i] = e
            continue
        order = holding.Order(
            holder=holder.number,
            point_code=point_code,
            points=points,
            partner_amount=orders[i].amount,
            order_id=orders[i].order_id,
        )
        judged.append((i, order))
    return judged
