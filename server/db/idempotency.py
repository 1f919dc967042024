"""Idempotent replies for mutations that are not transfers (transfers keep their own).

A retry with the same client id and the same body gets the first reply; the same id with
another body is refused. The reply is stored in the same transaction as the change, and
requests with one client id are serialised before the check, so a retry racing its original
on another worker waits for it and gets its answer (not a false "exists already").

Nothing secret is stored: a reply that carries a secret (an enrollment code) is stored as
``keep(reply)``, without it, and a retry gets that.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, bindparam, insert, select

from mkp_core.errors import Conflict
from server.db.client_ids import as_sent
from server.db.engine import (
    can_insert_last,
    chunked,
    db_timestamp,
    executemany,
    insert_last,
    last_rows,
    lock_key,
    lock_key_statements,
    lock_keys,
    read_once_locked,
    run_write,
)
from server.db.tables import idempotency

Reply = dict[str, Any]


def body_hash(scope: str, body: dict[str, Any]) -> str:
    """Hash of what was asked, by whom and where, without the client id itself."""
    data = {k: v for k, v in body.items() if k != "client_id"}
    return hashlib.sha256(json.dumps([scope, data], sort_keys=True, default=str).encode()).hexdigest()


def answered(conn: Connection, client_id: str) -> bool:
    """Was this client id answered already? Held, like :func:`once`, until the transaction ends."""
    lock_key(conn, f"idempotency:{client_id}")
    found = conn.execute(select(idempotency.c.client_id).where(idempotency.c.client_id == client_id))
    return found.first() is not None


def answered_among(conn: Connection, client_ids: Sequence[str]) -> set[str]:
    """:func:`answered` for many client ids at once: those answered already, every one held."""
    return set(priors(conn, client_ids))


def keep_all(
    conn: Connection, scope: str, records: Sequence[tuple[str, dict[str, Any], Reply]], status: int = 201
) -> None:
    """Store the replies of many client ids (held by :func:`answered_among`, none answered yet) in
    one statement, as :func:`once` stores each: (client id, body, reply)."""
    record_many(conn, [(c, body_hash(scope, body), status, as_stored(reply)) for c, body, reply in records])


@dataclass(frozen=True)
class Held:
    """A client id held as :func:`once` holds it, and its stored answer's row (None: none yet),
    read by a caller with its other first reads in one round trip (:func:`hold_statements`)."""

    client_id: str
    row: tuple[Any, ...] | None


def hold_statements(conn: Connection, client_id: str) -> list[tuple[str, list[Any]]]:
    """What :func:`once` sends to hold ``client_id`` and read its stored answer, for a caller that
    sends them with its other reads (``fetch_together``, in this order): the answer's rows are the
    last statement's, for :class:`Held`, which the caller then hands to :func:`once`."""
    return [*lock_key_statements(conn, f"idempotency:{client_id}"), (_PRIOR_RAW, [client_id])]


def once(
    conn: Connection,
    client_id: str,
    scope: str,
    body: dict[str, Any],
    work: Callable[[], Reply],
    status: int | Callable[[Reply], int] = 201,
    keep: Callable[[Reply], Reply] | None = None,
    held: Held | None = None,
) -> tuple[Reply, int]:
    """Run ``work`` once per client id inside the caller's write transaction: (reply, status).

    ``status``: the HTTP status, or a function of the reply that gives it (201 made, 200 found).
    ``keep`` turns the reply into what may be stored and replayed (default: all of it).
    ``held``: the client id held and its answer read already, in this transaction (:class:`Held`).
    """
    digest = body_hash(scope, body)
    if held is not None and held.client_id == client_id:
        prior = held.row
    else:
        prior = read_once_locked(conn, f"idempotency:{client_id}", _PRIOR, {"client_id": client_id})
    if prior is None:
        prior = next(
            (
                (r["body_hash"], r["status"], r["response"])
                for r in last_rows(conn, idempotency)
                if r["client_id"] == client_id
            ),
            None,
        )
    if prior is not None:
        prior_hash, prior_status, prior_response = prior
        if prior_hash != digest:
            raise Conflict(
                "idempotency_conflict",
                f"client id {as_sent(client_id)} was already used for a different request",
            )
        return json.loads(prior_response), int(prior_status)
    reply, text = stored_text(work())
    code = status(reply) if callable(status) else status
    stored = {
        "client_id": client_id,
        "body_hash": digest,
        "status": code,
        "response": json.dumps(keep(reply)) if keep else text,
        "created_at": datetime.now(UTC),
    }
    if can_insert_last(conn):
        # With the transaction's last rows: on PostgreSQL in its COMMIT's round trip, not one of its own.
        insert_last(conn, idempotency, stored, counts=True)
    else:
        conn.execute(_KEEP, stored)
    return reply, code


# Built once: SQLAlchemy finds them compiled, without building and hashing new statements a request.
#: A client id's stored answer, read once the id is held (``read_once_locked``).
_PRIOR = "SELECT body_hash, status, response FROM idempotency WHERE client_id = :client_id"
_PRIOR_RAW = "SELECT body_hash, status, response FROM idempotency WHERE client_id = ?"
_KEEP = insert(idempotency)


def write_once(
    engine: Engine,
    client_id: str,
    scope: str,
    body: dict[str, Any],
    work: Callable[[Connection], Reply],
    status: int | Callable[[Reply], int] = 201,
    keep: Callable[[Reply], Reply] | None = None,
) -> tuple[Reply, int]:
    """:func:`once` in its own write transaction: what an idempotent endpoint returns to Flask."""
    return run_write(
        engine, lambda conn: once(conn, client_id, scope, body, lambda: work(conn), status, keep)
    )


def as_stored(reply: Reply) -> Reply:
    """``reply`` as a replay will read it back (datetimes as ISO text)."""
    return stored_text(reply)[0]


def stored_text(reply: Reply) -> tuple[Reply, str]:
    """``reply`` as a replay will read it back, and the text it is stored as (one serialisation
    for both: the store keeps the text made here, not a second one of the same reply)."""
    text = json.dumps(reply, default=_json_value)
    result: Reply = json.loads(text)
    return result, text


@dataclass(frozen=True)
class Prior:
    """A client id's stored answer."""

    body_hash: str
    status: int
    reply: Reply


def priors(conn: Connection, client_ids: Sequence[str]) -> dict[str, Prior]:
    """The stored answers of those of ``client_ids`` answered already, each locked as :func:`once`
    locks one (a batch's ids: one lock statement, one query a chunk, not one transaction an id)."""
    lock_keys(conn, [f"idempotency:{c}" for c in client_ids])
    found: dict[str, Prior] = {}
    for part in chunked(sorted(set(client_ids))):
        rows = conn.execute(_PRIORS, {"client_ids": list(part)})
        found.update({r.client_id: Prior(r.body_hash, r.status, json.loads(r.response)) for r in rows})
    return found


_PRIORS = select(
    idempotency.c.client_id, idempotency.c.body_hash, idempotency.c.status, idempotency.c.response
).where(idempotency.c.client_id.in_(bindparam("client_ids", expanding=True)))


def record_many(conn: Connection, answers: Sequence[tuple[str, str, int, Reply | str]]) -> None:
    """Store many answers at once: (client id, body hash, status, reply as :func:`as_stored` made
    it, or the text :func:`stored_text` made of it)."""
    if not answers:
        return
    now = db_timestamp(conn, datetime.now(UTC))
    executemany(
        conn,
        "INSERT INTO idempotency (client_id, body_hash, status, response, created_at) VALUES (?, ?, ?, ?, ?)",
        [(c, h, s, r if isinstance(r, str) else json.dumps(r), now) for c, h, s, r in answers],
    )


def _json_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"cannot store {type(value).__name__} in a reply")
