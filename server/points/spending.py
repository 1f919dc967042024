"""Spending points at a place, and refunds: the one spend that every way of spending goes through.

An operator's tool calls it now; the shop's counter (a card tap, holder resolved from the card)
and the transit exchange call the very same :func:`spend`. In order:

1. the holder's MyKey ID must be active (``mykey_suspended`` otherwise);
2. an item of the place's price list gives the amount (price times quantity);
3. the point code is the caller's, or picked: of the holder's codes valid at the place, the one
   whose points expire first (one that can pay the whole amount, if any can);
4. the code's rules in force now must allow the place (``not_allowed_here``) and the amount
   (``below_minimum``, ``above_maximum``);
5. the ledger moves the points wallet → the place's payee account, taking the earliest-expiring
   lots still valid (``insufficient_points``, ``points_expired``).

Every spend is idempotent by its client id: a retry gets the first answer, whatever changed since.
A refund reverses the spend within ``refund_days`` and gives back the very lots it took.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Set as AbstractSet
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection

from mkp_core.dates import last_valid_day
from mkp_core.errors import Conflict, Forbidden, MkpError, NotFound
from mkp_core.ids import point_code_municipality
from server import ledger
from server.db.engine import fetch_together
from server.db.idempotency import Held, hold_statements, once
from server.ledger.lots import moves_of
from server.ledger.transfers import unknown_transfer
from server.platform import authority, config_versions
from server.platform.mykey import registry
from server.platform.mykey.registry import MyKey
from server.points import balances, holders, price_lists
from server.points.kept_rules import KEPT, Kept
from server.points.rules import Rule, in_force

SPEND_KINDS = ("spend", "transit")


class NotAllowedHere(Forbidden):
    """The point code's rules do not let its points be spent at this place."""


@dataclass(frozen=True)
class Spend:
    """A spend as a caller asks for it (``point_code`` None: picked; ``item``: from the price list)."""

    client_id: str
    place: str
    amount: int | None = None
    point_code: str | None = None
    item: str | None = None
    quantity: int = 1
    memo: str | None = None


@dataclass
class SpendContext:
    """What the spends of one transaction at one moment share: places, agreements, rules in force,
    taken from what this process keeps per config version (:mod:`server.points.kept_rules`), which
    the transaction reads once. A terminal's sync of a batch of offline entries spends at one
    place for many holders: every entry is judged by the same rows."""

    now: datetime
    kept: Kept | None = None
    rules: dict[str, Rule] = field(default_factory=dict)

    def _kept(self, conn: Connection) -> Kept:
        if self.kept is None:
            self.kept = KEPT.for_transaction(conn)
        return self.kept

    def place(self, conn: Connection, place_id: str) -> dict[str, Any]:
        return self._kept(conn).place(conn, place_id)

    def agreements(self, conn: Connection, municipality: str) -> AbstractSet[tuple[str, str]]:
        return self._kept(conn).agreements(conn, municipality)

    def rules_at(self, conn: Connection, codes: list[str]) -> dict[str, Rule]:
        missing = [c for c in codes if c not in self.rules]
        if missing:
            versions = self._kept(conn).versions(conn, missing)
            self.rules.update({c: in_force(c, versions[c], self.now) for c in missing})
        return {c: self.rules[c] for c in codes}


@dataclass(frozen=True)
class FirstReads:
    """What a spend for a typed MyKey ID reads first: the holder, its client id held with the
    stored answer (:class:`server.db.idempotency.Held`), and its context at the config version
    read then. On PostgreSQL in one round trip (:func:`first_reads`), not three."""

    holder: MyKey
    held: Held
    context: SpendContext


def first_reads(conn: Connection, mykey_id: str, client_id: str, now: datetime | None = None) -> FirstReads:
    """:class:`FirstReads` of a spend of ``mykey_id``'s points with ``client_id`` (``unknown_mykey``
    if there is no such MyKey ID), sent together: each statement of a READ COMMITTED transaction
    takes its snapshot when it starts, so the stored answer is read once the client id is held."""
    holder, *held, version = fetch_together(
        conn,
        [
            registry.find_statement(mykey_id),
            *hold_statements(conn, client_id),
            config_versions.current_statement(),
        ],
        fixed=True,
    )
    context = SpendContext(now or datetime.now(UTC))
    context.kept = KEPT.for_transaction(conn, config_versions.version_of(version))
    return FirstReads(
        registry.found(mykey_id, holder), Held(client_id, held[-1][0] if held[-1] else None), context
    )


def payee(place_id: str) -> str:
    """The ledger account a place is paid into."""
    return f"payee:{place_id}"


def spend(
    conn: Connection,
    holder: MyKey,
    request: Spend,
    actor: str,
    scope: str | None = None,
    kind: str = "spend",
    now: datetime | None = None,
    context: SpendContext | None = None,
    held: Held | None = None,
) -> dict[str, Any]:
    """Spend ``holder``'s points at ``request.place`` (see the module docstring); the reply.

    ``scope``: the one municipality whose points the caller may spend (None: any).
    ``kind``: the transfer's kind (``transit`` for an exchange to a transit card).
    ``context``: shared by the spends of one transaction (its ``now`` is theirs).
    ``held``: the client id held and its stored answer read already (:func:`first_reads`).
    """
    when = now or (context.now if context is not None else datetime.now(UTC))
    reply, _ = once(
        conn,
        request.client_id,
        SCOPE,
        idempotency_body(holder, request, kind, scope),
        lambda: perform(conn, holder, request, actor, scope, kind, when, context),
        held=held,
    )
    return reply


SCOPE = "points.spend"  # the idempotency scope of a spend


def idempotency_body(
    holder: MyKey, request: Spend, kind: str = "spend", scope: str | None = None
) -> dict[str, Any]:
    """What a spend's idempotency record holds it to: a retry must ask exactly this."""
    return {**asdict(request), "holder": holder.number, "kind": kind, "scope": scope}


def perform(
    conn: Connection,
    holder: MyKey,
    request: Spend,
    actor: str,
    scope: str | None,
    kind: str,
    now: datetime,
    context: SpendContext | None = None,
) -> dict[str, Any]:
    """The spend itself, without its idempotency record: for callers that keep their own."""
    context = context or SpendContext(now)
    decided = decide(
        conn, holder, request, scope, kind, context, lambda: balances.holdings(conn, holder.wallet, now)
    )
    transfer = ledger.transfer(conn, decided.transfer, actor, now)
    return decided.reply(holder, transfer, lot_moves_view(conn, transfer.id))


@dataclass(frozen=True)
class Decided:
    """A spend judged by the rules (steps 1 to 4 of the module docstring), ready for the ledger."""

    transfer: ledger.TransferRequest
    place: dict[str, Any]
    item: dict[str, Any] | None
    quantity: int

    def reply(self, holder: MyKey, transfer: ledger.Transfer, lots: list[dict[str, Any]]) -> dict[str, Any]:
        """The spend's answer once the ledger took it (``lots``: :func:`lot_moves_view`)."""
        return {
            **transfer.to_dict(),
            "mykey_id": holder.mykey_id,
            "place": self.place["id"],
            "place_name": self.place["name"],
            "item": {**self.item, "quantity": self.quantity} if self.item else None,
            "lots": lots,
        }


def decide(
    conn: Connection,
    holder: MyKey,
    request: Spend,
    scope: str | None,
    kind: str,
    context: SpendContext,
    held: Callable[[], list[balances.Holding]],
) -> Decided:
    """Steps 1 to 4: the transfer a spend asks the ledger for, or the rule's refusal.

    ``held``: the holder's holdings now, asked for only when the point code must be picked (a
    batch of spends passes what its earlier spends left).
    """
    holder.require_active()
    place = context.place(conn, request.place)
    amount, item = _amount(conn, place, request)
    agreed = context.agreements(conn, place["municipality"])
    code = request.point_code or _pick(held(), holder, place, amount, agreed, scope, context, conn)
    if scope is not None and point_code_municipality(code) != scope:
        raise Forbidden("out_of_scope", f"this caller may spend only {scope}'s points, not {code}")
    rule = context.rules_at(conn, [code])[code]
    _require_allowed(rule, place, agreed)
    rule.check_amount(amount)
    memo = request.memo or (f"{item['name']} x{request.quantity}" if item else None)
    return Decided(
        ledger.TransferRequest(
            request.client_id, code, holder.wallet, payee(place["id"]), amount, kind, memo
        ),
        place,
        item,
        request.quantity,
    )


def _amount(conn: Connection, place: dict[str, Any], request: Spend) -> tuple[int, dict[str, Any] | None]:
    if request.item is None:
        if request.amount is None:
            raise MkpError("missing_amount", "give the amount, or an item of the place's price list")
        return request.amount, None
    item = price_lists.find_item(conn, place["id"], request.item)
    if item is None:
        raise NotFound("unknown_item", f"{place['id']} has no item {request.item} on its price list")
    amount = item["price"] * request.quantity
    if request.amount is not None and request.amount != amount:
        raise MkpError(
            "amount_mismatch",
            f"{request.quantity} x {item['name']} costs {amount} points, not {request.amount}",
        )
    return amount, item


def _pick(
    holdings: list[balances.Holding],
    holder: MyKey,
    place: dict[str, Any],
    amount: int,
    agreed: AbstractSet[tuple[str, str]],
    scope: str | None,
    context: SpendContext,
    conn: Connection,
) -> str:
    """The holder's point code valid at ``place`` whose points expire first (one that can pay)."""
    held = [
        h
        for h in holdings
        if h.balance > 0 and (scope is None or point_code_municipality(h.point_code) == scope)
    ]
    if not held:
        raise ledger.InsufficientPoints(
            "insufficient_points", f"MyKey ID {holder.mykey_id} holds no points", details=[{"balance": 0}]
        )
    rules = context.rules_at(conn, [h.point_code for h in held])
    allowed = [h for h in held if rules[h.point_code].allows(place, agreed)]
    if not allowed:
        codes = ", ".join(h.point_code for h in held)
        raise NotAllowedHere(
            "not_allowed_here",
            f"none of MyKey ID {holder.mykey_id}'s points ({codes}) may be spent at {place['id']}",
        )
    fits = [h for h in allowed if h.spendable >= amount and _within_limits(rules[h.point_code], amount)]
    return min(fits or allowed, key=lambda h: h.expiry_key).point_code


def _within_limits(rule: Rule, amount: int) -> bool:
    try:
        rule.check_amount(amount)
    except MkpError:
        return False
    return True


def _require_allowed(rule: Rule, place: dict[str, Any], agreed: AbstractSet[tuple[str, str]]) -> None:
    if not rule.allows(place, agreed):
        raise NotAllowedHere(
            "not_allowed_here",
            f"{rule.point_code} points may not be spent at {place['id']} ({place['kind']}, "
            f"municipality {place['municipality']})",
        )


def lot_moves_view(conn: Connection, transfer_id: int) -> list[dict[str, Any]]:
    """The lots a transfer took points from (or gave back to): expiry and points, for receipts."""
    return moves_view(moves_of(conn, transfer_id))


def moves_view(moves: list[tuple[datetime | None, int]]) -> list[dict[str, Any]]:
    """:func:`lot_moves_view` of moves read already (a batch reads its transfers' moves at once)."""
    return [
        {
            "expires_at": when,
            "last_day": last_valid_day(when).isoformat() if when else None,
            "amount": abs(amount),
        }
        for when, amount in moves
    ]


# --- refunds -----------------------------------------------------------------------------------


def refund(
    conn: Connection,
    transfer_id: int,
    client_id: str,
    proof: authority.Proof,
    refund_days: int,
    scope: str | None = None,
    memo: str | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Reverse a spend within ``refund_days`` of it: the points go back to the lots they came from.

    ``proof``: the card that paid (at the place's terminal), or an operator of the points' town
    (:mod:`server.platform.authority`); ``scope``: the operator's municipality, kept with the idempotency record.
    """
    body = {"transfer_id": transfer_id, "memo": memo, "scope": scope}

    def work() -> dict[str, Any]:
        when = now or datetime.now(UTC)
        original = ledger.get_transfer(conn, transfer_id)
        number = holders.number_of(original.debit)
        payer = registry.by_number(conn, number) if number is not None else None
        allowed = authority.authorize(
            authority.Action.REFUND,
            proof,
            payer,
            town=point_code_municipality(original.point_code),
            hidden=unknown_transfer(transfer_id),
        )
        if original.kind not in SPEND_KINDS or not original.credit.startswith("payee:"):
            raise Conflict(
                "not_a_spend", f"transfer {transfer_id} is a {original.kind}, not a spend at a place"
            )
        if when - original.created_at > timedelta(days=refund_days):
            raise Conflict(
                "refund_period_over",
                f"transfer {transfer_id} was made {original.created_at:%Y-%m-%d}: refunds are possible "
                f"within {refund_days} days",
            )
        reversal = ledger.reverse(conn, transfer_id, client_id, allowed.actor, memo, when)
        shown = holders.mykey_ids(conn, [number]).get(number) if number is not None else None
        return {
            **reversal.to_dict(),
            "mykey_id": shown,
            "place": original.credit.removeprefix("payee:"),
            "lots": lot_moves_view(conn, reversal.id),
        }

    reply, _ = once(conn, client_id, "points.refund", body, work)
    return reply
