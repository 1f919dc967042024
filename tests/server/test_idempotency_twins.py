"""A retry that arrives while its original is still in its transaction waits for it, then gets its
answer: the stored reply is read only once the client id is held (on PostgreSQL the lock and the
read go in one round trip; the read must still see what the lock waited for). Both databases."""

from __future__ import annotations

import threading
import time

from sqlalchemy import Engine, text

from server.db.engine import write
from server.db.idempotency import once

SCOPE = "tests.twins"


def _until_waiting(engine: Engine, twin: threading.Thread) -> None:
    """Until the twin waits for the client id (PostgreSQL: a session waits on an advisory lock;
    SQLite: the twin queues for the one writer, a moment is enough to be sure it has started)."""
    if engine.dialect.name != "postgresql":
        twin.join(0.2)
        return
    for _ in range(200):
        with engine.connect() as conn:
            waiting = conn.execute(
                text(
                    "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                    "AND datname = current_database() AND query LIKE '%pg_advisory_xact_lock%'"
                )
            ).scalar_one()
        if waiting:
            return
        time.sleep(0.05)
    raise AssertionError("the twin never waited for the client id")


def test_a_twin_waiting_for_the_client_id_gets_the_first_answer(engine):
    entered, release = threading.Event(), threading.Event()
    answers: dict[str, object] = {}

    def original() -> None:
        with write(engine) as conn:

            def work() -> dict:
                entered.set()
                release.wait(10)  # the twin starts and waits while this one holds the id
                return {"made_by": "original"}

            answers["original"] = once(conn, "twin-0001", SCOPE, {"n": 1}, work)

    def twin() -> None:
        with write(engine) as conn:
            answers["twin"] = once(conn, "twin-0001", SCOPE, {"n": 1}, lambda: {"made_by": "twin"})

    first = threading.Thread(target=original)
    first.start()
    assert entered.wait(10)
    second = threading.Thread(target=twin)
    second.start()
    _until_waiting(engine, second)
    release.set()
    first.join(10)
    second.join(10)
    assert answers == {"original": ({"made_by": "original"}, 201), "twin": ({"made_by": "original"}, 201)}
