"""Transfers: the one way points move. Batched, idempotent by client id, never overdrawing.

``create_transfers`` takes a batch (as TigerBeetle does) and answers per transfer: a failing
transfer changes nothing, the others still apply. Inside the caller's write transaction it
locks the accounts it touches (``FOR UPDATE`` on PostgreSQL; SQLite's ``BEGIN IMMEDIATE``
already serialises writers), so concurrent spends from one wallet cannot overdraw it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import ColumnElement, Connection, bindparam, insert, select, tuple_, update

from mkp_core.errors import Conflict, MkpError, NotFound
from mkp_core.ids import MAX_AMOUNT
from server.db.engine import insert_ignoring_conflicts, is_postgres
from server.db.tables import accounts, point_codes, transfers
from server.ledger.accounts import account_kind

TRANSFER_KINDS = frozenset(
    {"grant", "convert", "premium", "spend", "voucher", "redeem", "expire", "settle", "reverse", "adjust"}
)


class InsufficientPoints(Conflict):
    pass


class IdempotencyConflict(Conflict):
    pass


@dataclass(frozen=True)
class TransferRequest:
    """What a client asks for. ``debit`` and ``credit`` are account owners."""

    client_id: str
    point_code: str
    debit: str
    credit: str
    amount: int
    kind: str
    memo: str | None = None
    reverses: int | None = None

    def body_hash(self) -> str:
        """Everything but the client id: a retry must repeat exactly this."""
        body = [self.point_code, self.debit, self.credit, self.amount, self.kind, self.memo, self.reverses]
        return hashlib.sha256(json.dumps(body).encode()).hexdigest()


@dataclass(frozen=True)
class Transfer:
    """A posted transfer, as stored."""

    id: int
    client_id: str
    kind: str
    point_code: str
    debit: str
    credit: str
    amount: int
    memo: str | None
    reverses: int | None
    created_at: datetime

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "client_id": self.client_id,
            "kind": self.kind,
            "point_code": self.point_code,
            "debit": self.debit,
            "credit": self.credit,
            "amount": self.amount,
            "memo": self.memo,
            "reverses": self.reverses,
            "created_at": self.created_at,
        }


def transfer(conn: Connection, request: TransferRequest, actor: str) -> Transfer:
    """Post one transfer or raise its ``MkpError``."""
    (result,) = create_transfers(conn, [request], actor)
    if isinstance(result, MkpError):
        raise result
    return result


def create_transfers(
    conn: Connection, requests: Sequence[TransferRequest], actor: str, now: datetime | None = None
) -> list[Transfer | MkpError]:
    """Post a batch; one result per request, in order. Call inside a write transaction.

    The steps: refuse malformed requests and unknown point codes; open and lock the accounts
    the rest touch; decide each request in order against the locked balances (an earlier
    transfer of the batch counts for a later one); post the new transfers and their totals.
    """
    now = now or datetime.now(UTC)
    results: list[Transfer | MkpError | None] = [_check_shape(r) for r in requests]
    _refuse_unknown_point_codes(conn, requests, results)
    todo = [i for i, r in enumerate(results) if r is None]
    if todo:
        states = _open_and_lock_accounts(conn, [requests[i] for i in todo], now)
        plan = _decide(conn, requests, todo, states, actor, now, results)
        _post(conn, requests, plan, states, now, results)
    return cast(list[Transfer | MkpError], results)  # every request has its answer by now


def reverse(
    conn: Connection, transfer_id: int, client_id: str, actor: str, memo: str | None = None
) -> Transfer:
    """Undo a transfer with a new, opposite one (history is never edited)."""
    original = get_transfer(conn, transfer_id)
    if original.kind == "reverse":
        raise Conflict("cannot_reverse", f"transfer {transfer_id} is itself a reversal")
    request = TransferRequest(
        client_id=client_id,
        point_code=original.point_code,
        debit=original.credit,
        credit=original.debit,
        amount=original.amount,
        kind="reverse",
        memo=memo,
        reverses=original.id,
    )
    already = conn.execute(
        select(transfers.c.client_id).where(transfers.c.reverses_id == transfer_id)
    ).scalar_one_or_none()
    if already is not None and already != client_id:
        raise Conflict("already_reversed", f"transfer {transfer_id} was already reversed")
    return transfer(conn, request, actor)


def get_transfer(conn: Connection, transfer_id: int) -> Transfer:
    rows = _select_transfers(conn, transfers.c.id == transfer_id)
    if not rows:
        raise NotFound("unknown_transfer", f"no transfer {transfer_id}")
    return rows[0][0]


# The steps of create_transfers, in the order it takes them.


@dataclass(slots=True)
class _AccountState:
    """A locked account as this batch sees it: its posted totals plus what the batch adds.

    Each debit is checked against the balance including the batch's earlier transfers; only
    the pending amounts are written back (``posted + pending`` in SQL), under the row lock.
    """

    id: int
    may_go_negative: bool
    debits_posted: int
    credits_posted: int
    pending_debits: int = 0
    pending_credits: int = 0

    @property
    def balance(self) -> int:
        return self.credits_posted + self.pending_credits - self.debits_posted - self.pending_debits

    @property
    def changed(self) -> bool:
        return bool(self.pending_debits or self.pending_credits)

    def can_pay(self, amount: int) -> bool:
        return self.may_go_negative or self.balance >= amount

    def debit(self, amount: int) -> None:
        self.pending_debits += amount

    def credit(self, amount: int) -> None:
        self.pending_credits += amount


_AccountKey = tuple[str, str]
"""(owner, point code): what names an account."""


@dataclass
class _Plan:
    """What a batch will post: new transfer rows in request order, and in-batch retries.

    ``replays`` maps a request's index to the index of the identical request earlier in the
    same batch that it repeats: it gets that request's answer once it is posted.
    """

    rows: list[dict[str, Any]] = field(default_factory=list)
    posted: list[int] = field(default_factory=list)
    first_in_batch: dict[str, int] = field(default_factory=dict)
    replays: dict[int, int] = field(default_factory=dict)


def _refuse_unknown_point_codes(
    conn: Connection, requests: Sequence[TransferRequest], results: list[Transfer | MkpError | None]
) -> None:
    todo = [i for i, r in enumerate(results) if r is None]
    if not todo:
        return
    known_codes = _existing_point_codes(conn, {requests[i].point_code for i in todo})
    for i in todo:
        if requests[i].point_code not in known_codes:
            results[i] = NotFound("unknown_point_code", f"point code {requests[i].point_code} does not exist")


def _open_and_lock_accounts(
    conn: Connection, requests: list[TransferRequest], now: datetime
) -> dict[_AccountKey, _AccountState]:
    """Open the accounts the batch may need, then lock every account it touches.

    Accounts that may receive points, or may go negative, are opened on first use; a debit
    from a wallet that was never credited fails later without leaving an empty account.
    """
    opened = {
        (owner, r.point_code)
        for r in requests
        for owner in (r.credit, r.debit)
        if owner == r.credit or account_kind(owner).may_go_negative
    }
    insert_ignoring_conflicts(
        conn,
        accounts,
        [
            {"owner": o, "point_code": p, "kind": account_kind(o).name, "created_at": now}
            for o, p in sorted(opened)
        ],
    )
    touched = {(r.debit, r.point_code) for r in requests} | {(r.credit, r.point_code) for r in requests}
    return _lock_accounts(conn, touched)


def _decide(
    conn: Connection,
    requests: Sequence[TransferRequest],
    todo: list[int],
    states: dict[_AccountKey, _AccountState],
    actor: str,
    now: datetime,
    results: list[Transfer | MkpError | None],
) -> _Plan:
    """Answer retries and refusals in ``results``; plan the rest as new transfers, in order.

    Idempotency is decided after the locks, so a concurrent twin has committed by now.
    """
    existing = _transfers_by_client_id(conn, {requests[i].client_id for i in todo})
    plan = _Plan()
    for i in todo:
        req = requests[i]
        body_hash = req.body_hash()
        prior = existing.get(req.client_id)
        first = plan.first_in_batch.get(req.client_id)
        if prior is not None:
            prior_transfer, prior_hash = prior
            results[i] = prior_transfer if prior_hash == body_hash else _conflict(req.client_id)
        elif first is not None:
            if requests[first].body_hash() == body_hash:
                plan.replays[i] = first
            else:
                results[i] = _conflict(req.client_id)
        else:
            results[i] = _move(req, states)
            if results[i] is None:
                plan.first_in_batch[req.client_id] = i
                plan.posted.append(i)
                plan.rows.append(_transfer_row(req, body_hash, states, actor, now))
    return plan


def _move(req: TransferRequest, states: dict[_AccountKey, _AccountState]) -> InsufficientPoints | None:
    """Debit and credit the two accounts' states, or say why the debit account cannot pay."""
    debit = states.get((req.debit, req.point_code))
    if debit is None or not debit.can_pay(req.amount):
        balance = debit.balance if debit is not None else 0
        return InsufficientPoints(
            "insufficient_points", f"{req.debit} holds {balance} of {req.point_code}, {req.amount} needed"
        )
    debit.debit(req.amount)
    states[(req.credit, req.point_code)].credit(req.amount)
    return None


def _transfer_row(
    req: TransferRequest, body_hash: str, states: dict[_AccountKey, _AccountState], actor: str, now: datetime
) -> dict[str, Any]:
    return {
        "client_id": req.client_id,
        "body_hash": body_hash,
        "kind": req.kind,
        "point_code": req.point_code,
        "debit_account_id": states[(req.debit, req.point_code)].id,
        "credit_account_id": states[(req.credit, req.point_code)].id,
        "amount": req.amount,
        "memo": req.memo,
        "reverses_id": req.reverses,
        "actor": actor,
        "created_at": now,
    }


def _post(
    conn: Connection,
    requests: Sequence[TransferRequest],
    plan: _Plan,
    states: dict[_AccountKey, _AccountState],
    now: datetime,
    results: list[Transfer | MkpError | None],
) -> None:
    """Insert the planned transfers, add the pending amounts to the posted totals, answer."""
    if plan.rows:
        # Unordered RETURNING lets SQLAlchemy batch the rows into multi-VALUES statements.
        returning = insert(transfers).returning(transfers.c.client_id, transfers.c.id)
        ids: dict[str, int] = dict(conn.execute(returning, plan.rows).all())
        for i in plan.posted:
            r = requests[i]
            results[i] = Transfer(
                ids[r.client_id],
                r.client_id,
                r.kind,
                r.point_code,
                r.debit,
                r.credit,
                r.amount,
                r.memo,
                r.reverses,
                now,
            )
        _add_pending_to_posted(conn, [a for a in states.values() if a.changed])
    for i, first in plan.replays.items():
        results[i] = results[first]


def _add_pending_to_posted(conn: Connection, changed: list[_AccountState]) -> None:
    """``posted += pending`` in SQL, one executemany for the batch."""
    conn.execute(
        update(accounts)
        .where(accounts.c.id == bindparam("aid"))
        .values(
            debits_posted=accounts.c.debits_posted + bindparam("dd"),
            credits_posted=accounts.c.credits_posted + bindparam("cd"),
        ),
        [{"aid": a.id, "dd": a.pending_debits, "cd": a.pending_credits} for a in changed],
    )


# Helpers.


def _check_shape(r: TransferRequest) -> MkpError | None:
    if type(r.amount) is not int or not 0 < r.amount <= MAX_AMOUNT:
        return MkpError(
            "invalid_amount", f"amount must be a whole number from 1 to {MAX_AMOUNT}, got {r.amount!r}"
        )
    if r.kind not in TRANSFER_KINDS:
        return MkpError("invalid_kind", f"unknown transfer kind {r.kind!r}")
    if r.debit == r.credit:
        return MkpError("same_account", "a transfer needs two different accounts")
    try:
        account_kind(r.debit)
        account_kind(r.credit)
    except MkpError as e:
        return e
    return None


def _conflict(client_id: str) -> IdempotencyConflict:
    return IdempotencyConflict(
        "idempotency_conflict", f"client id {client_id} was already used for a different request"
    )


def _existing_point_codes(conn: Connection, codes: set[str]) -> set[str]:
    return set(conn.execute(select(point_codes.c.code).where(point_codes.c.code.in_(codes))).scalars())


def _lock_accounts(conn: Connection, pairs: set[_AccountKey]) -> dict[_AccountKey, _AccountState]:
    query = (
        select(
            accounts.c.id,
            accounts.c.owner,
            accounts.c.point_code,
            accounts.c.debits_posted,
            accounts.c.credits_posted,
        )
        .where(tuple_(accounts.c.owner, accounts.c.point_code).in_(sorted(pairs)))
        .order_by(accounts.c.id)
    )
    if is_postgres(conn):
        query = query.with_for_update()
    return {
        (owner, code): _AccountState(aid, account_kind(owner).may_go_negative, int(d), int(c))
        for aid, owner, code, d, c in conn.execute(query)
    }


def _transfers_by_client_id(conn: Connection, client_ids: set[str]) -> dict[str, tuple[Transfer, str]]:
    return {t.client_id: (t, h) for t, h in _select_transfers(conn, transfers.c.client_id.in_(client_ids))}


def _select_transfers(conn: Connection, condition: ColumnElement[bool]) -> list[tuple[Transfer, str]]:
    debit, credit = accounts.alias("debit"), accounts.alias("credit")
    rows = conn.execute(
        select(
            transfers.c.id,
            transfers.c.client_id,
            transfers.c.kind,
            transfers.c.point_code,
            debit.c.owner,
            credit.c.owner,
            transfers.c.amount,
            transfers.c.memo,
            transfers.c.reverses_id,
            transfers.c.created_at,
            transfers.c.body_hash,
        )
        .join(debit, debit.c.id == transfers.c.debit_account_id)
        .join(credit, credit.c.id == transfers.c.credit_account_id)
        .where(condition)
        .order_by(transfers.c.id)
    )
    return [(Transfer(*fields), body_hash) for *fields, body_hash in rows]
