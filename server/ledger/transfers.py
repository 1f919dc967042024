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
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Connection, bindparam, insert, select, tuple_, update

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

    def to_dict(self) -> dict:
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
    """Post a batch; one result per request, in order. Call inside a write transaction."""
    now = now or datetime.now(UTC)
    results: list[Transfer | MkpError | None] = [_check_shape(r) for r in requests]
    todo = [i for i, r in enumerate(results) if r is None]
    if not todo:
        return results  # type: ignore[return-value]

    known_codes = _existing_point_codes(conn, {requests[i].point_code for i in todo})
    for i in todo:
        if requests[i].point_code not in known_codes:
            results[i] = NotFound("unknown_point_code", f"point code {requests[i].point_code} does not exist")
    todo = [i for i in todo if results[i] is None]

    # Accounts that may receive points, or may go negative, are opened on first use; a debit
    # from a wallet that was never credited fails below without leaving an empty account.
    opened = {
        (owner, requests[i].point_code)
        for i in todo
        for owner in (requests[i].credit, requests[i].debit)
        if owner == requests[i].credit or account_kind(owner).may_go_negative
    }
    insert_ignoring_conflicts(
        conn,
        accounts,
        [
            {"owner": o, "point_code": p, "kind": account_kind(o).name, "created_at": now}
            for o, p in sorted(opened)
        ],
    )
    pairs = {(r.debit, r.point_code) for r in (requests[i] for i in todo)}
    pairs |= {(r.credit, r.point_code) for r in (requests[i] for i in todo)}
    state = _lock_accounts(conn, pairs)

    # Idempotency is decided after the locks, so a concurrent twin has committed by now.
    existing = _transfers_by_client_id(conn, {requests[i].client_id for i in todo})
    new_rows: list[dict] = []
    new_index: list[int] = []
    seen_in_batch: dict[str, int] = {}
    for i in todo:
        req = requests[i]
        body_hash = req.body_hash()
        prior = existing.get(req.client_id)
        if prior is not None:
            prior_transfer, prior_hash = prior
            results[i] = prior_transfer if prior_hash == body_hash else _conflict(req.client_id)
            continue
        if req.client_id in seen_in_batch:
            first = seen_in_batch[req.client_id]
            results[i] = (
                ("replay", first) if requests[first].body_hash() == body_hash else _conflict(req.client_id)
            )
            continue
        debit = state.get((req.debit, req.point_code))
        credit = state[(req.credit, req.point_code)]
        balance = debit["credits"] - debit["debits"] if debit else 0
        if debit is None or (not account_kind(req.debit).may_go_negative and balance < req.amount):
            results[i] = InsufficientPoints(
                "insufficient_points",
                f"{req.debit} holds {balance} of {req.point_code}, {req.amount} needed",
            )
            continue
        debit["debits"] += req.amount
        debit["dd"] += req.amount
        credit["credits"] += req.amount
        credit["cd"] += req.amount
        seen_in_batch[req.client_id] = i
        new_index.append(i)
        new_rows.append(
            {
                "client_id": req.client_id,
                "body_hash": body_hash,
                "kind": req.kind,
                "point_code": req.point_code,
                "debit_account_id": debit["id"],
                "credit_account_id": credit["id"],
                "amount": req.amount,
                "memo": req.memo,
                "reverses_id": req.reverses,
                "actor": actor,
                "created_at": now,
            }
        )

    if new_rows:
        # Unordered RETURNING lets SQLAlchemy batch the rows into multi-VALUES statements.
        ids = dict(
            conn.execute(insert(transfers).returning(transfers.c.client_id, transfers.c.id), new_rows).all()
        )
        for i in new_index:
            r = requests[i]
            transfer_id = ids[r.client_id]
            results[i] = Transfer(
                transfer_id,
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
        changed = [
            {"aid": a["id"], "dd": a["dd"], "cd": a["cd"]} for a in state.values() if a["dd"] or a["cd"]
        ]
        conn.execute(
            update(accounts)
            .where(accounts.c.id == bindparam("aid"))
            .values(
                debits_posted=accounts.c.debits_posted + bindparam("dd"),
                credits_posted=accounts.c.credits_posted + bindparam("cd"),
            ),
            changed,
        )
    for i, r in enumerate(results):
        if isinstance(r, tuple):  # a replay of an earlier request in this batch
            results[i] = results[r[1]]
    return results  # type: ignore[return-value]


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


def _lock_accounts(conn: Connection, pairs: set[tuple[str, str]]) -> dict[tuple[str, str], dict]:
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
        (owner, code): {"id": aid, "debits": int(d), "credits": int(c), "dd": 0, "cd": 0}
        for aid, owner, code, d, c in conn.execute(query)
    }


def _transfers_by_client_id(conn: Connection, client_ids: set[str]) -> dict[str, tuple[Transfer, str]]:
    return {t.client_id: (t, h) for t, h in _select_transfers(conn, transfers.c.client_id.in_(client_ids))}


def _select_transfers(conn: Connection, condition) -> list[tuple[Transfer, str]]:
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
