"""Idempotent replies for mutations that are not transfers (transfers keep their own).

A retry with the same client id and the same body gets the first reply; the same id with
another body is refused. The reply is stored in the same transaction as the change.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, insert, select

from mkp_core.errors import Conflict
from server.db.tables import idempotency


def body_hash(scope: str, body: dict[str, Any]) -> str:
    """Hash of what was asked, by whom and where, without the client id itself."""
    data = {k: v for k, v in body.items() if k != "client_id"}
    return hashlib.sha256(json.dumps([scope, data], sort_keys=True, default=str).encode()).hexdigest()


def once(
    conn: Connection, client_id: str, scope: str, body: dict[str, Any], work: Callable[[], tuple[int, dict]]
) -> tuple[int, dict]:
    """Run ``work`` (returning status and JSON reply) once per client id."""
    digest = body_hash(scope, body)
    prior = conn.execute(
        select(idempotency.c.body_hash, idempotency.c.status, idempotency.c.response).where(
            idempotency.c.client_id == client_id
        )
    ).first()
    if prior is not None:
        if prior.body_hash != digest:
            raise Conflict(
                "idempotency_conflict", f"client id {client_id} was already used for a different request"
            )
        return prior.status, json.loads(prior.response)
    status, reply = work()
    encoded = json.dumps(reply, default=_json_value)
    conn.execute(
        insert(idempotency).values(
            client_id=client_id,
            body_hash=digest,
            status=status,
            response=encoded,
            created_at=datetime.now(UTC),
        )
    )
    return status, json.loads(encoded)  # the first reply and every replay are the same bytes


def _json_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"cannot store {type(value).__name__} in a reply")
