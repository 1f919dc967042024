"""The PostgreSQL schemas a test process hands its tests one after another (tests/mkp_testing.py's
SchemaPool): a schema given back is emptied for the next test, which must see what a new one
would show it, its rows gone and its ids counted from the start again (tests compare ids and
rows with what a fresh server writes)."""

from __future__ import annotations

import pytest
from mkp_testing import SchemaPool
from sqlalchemy import text

from server.db.engine import make_engine, read, write
from server.platform.operators.service import create_operator


def _operators_written(url: str) -> list[tuple[int, str]]:
    """Two operators written into the schema of ``url``, after a third whose transaction was rolled
    back (its id taken from the sequence all the same): the operators' ids and names, as stored."""
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            create_operator(conn, "rolled back")
            conn.rollback()
        with write(engine) as conn:
            create_operator(conn, "central")
            create_operator(conn, "desk")
        with read(engine) as conn:
            return [
                (int(i), str(n)) for i, n in conn.execute(text("SELECT id, name FROM operators ORDER BY id"))
            ]
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_a_schema_given_back_comes_again_empty_with_its_ids_from_the_start(
    postgres_schemas: SchemaPool,
) -> None:
    schema, url = postgres_schemas.take()
    try:
        first = _operators_written(url)
    finally:
        postgres_schemas.give_back(schema)
    again, url = postgres_schemas.take()  # the same schema, given back last
    try:
        assert again == schema
        assert _operators_written(url) == first == [(2, "central"), (3, "desk")]
    finally:
        postgres_schemas.give_back(again)
