"""A stored answer (``once``) goes with the transaction's last rows, just before its commit: it is
still the answer of a client id asked again in the same transaction, it still counts as the
transaction's change, and one asked for inside a savepoint is written there (a savepoint rolled
back takes it back). Both databases."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from server.db.engine import read, write, wrote
from server.db.idempotency import once
from server.db.tables import idempotency

SCOPE = "test.kept-last"


def _answered(engine, client_id: str) -> bool:
    with read(engine) as conn:
        found = conn.execute(select(idempotency.c.client_id).where(idempotency.c.client_id == client_id))
        return found.first() is not None


def test_a_client_id_asked_again_in_the_transaction_gets_its_first_answer(engine):
    calls: list[int] = []

    def work() -> dict:
        calls.append(1)
        return {"n": len(calls)}

    with write(engine) as conn:
        first = once(conn, "c-again", SCOPE, {"a": 1}, work)
        again = once(conn, "c-again", SCOPE, {"a": 1}, work)
    assert first == again == ({"n": 1}, 201)
    assert calls == [1]
    assert _answered(engine, "c-again")


def test_a_stored_answer_is_the_transactions_change(engine):
    with write(engine) as conn:
        once(conn, "c-change", SCOPE, {}, lambda: {"ok": True})
        assert wrote(conn)  # the audit trail records such a request


def test_an_answer_stored_in_a_savepoint_rolled_back_is_taken_back(engine):
    with write(engine) as conn:
        with pytest.raises(RuntimeError):
            with conn.begin_nested():
                once(conn, "c-undone", SCOPE, {}, lambda: {"ok": True})
                raise RuntimeError("the entry is refused")
        once(conn, "c-kept", SCOPE, {}, lambda: {"ok": True})
    assert not _answered(engine, "c-undone")
    assert _answered(engine, "c-kept")
