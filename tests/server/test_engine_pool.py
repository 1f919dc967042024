"""PostgreSQL's pooled connections: one dropped while it sat idle is replaced before anyone sees it."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from server.db import engine as engines
from server.db.engine import make_engine, read

pytestmark = pytest.mark.postgres


@pytest.fixture(params=[pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest):
    pool = request.getfixturevalue("postgres_schemas")
    schema, url = pool.take()
    yield url
    pool.give_back(schema)


def _backend_pid(engine) -> int:
    with read(engine) as conn:
        return int(conn.execute(text("SELECT pg_backend_pid()")).scalar_one())


def test_a_connection_dropped_while_idle_is_replaced_unseen(database_url, monkeypatch):
    engine = make_engine(database_url, pool_size=1, max_overflow=0)
    try:
        first = _backend_pid(engine)
        with make_engine(database_url).connect() as admin:
            admin.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": first})
            admin.commit()
        monkeypatch.setattr(engines, "IDLE_PING_SECONDS", 0.0)  # idle long enough to be pinged
        second = _backend_pid(engine)  # no error: the dead connection was swapped for a new one
        assert second != first
    finally:
        engine.dispose()
