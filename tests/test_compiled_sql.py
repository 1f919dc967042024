"""The test run's one cache of compiled SQL (tests/compiled_sql.py): a statement compiled for one
engine serves every other engine of its dialect's kind, and none of another kind."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from mkp_testing import SchemaPool, sqlite_database
from sqlalchemy import Engine, literal, select
from sqlalchemy.engine.interfaces import CacheStats

from server.db.engine import make_engine


def _run(engine: Engine, label: str) -> tuple[CacheStats, int]:
    """``SELECT 7 AS <label>`` on ``engine``: whether its compiled SQL came from the cache, and the answer."""
    with engine.connect() as conn:
        result = conn.execute(select(literal(7).label(label)))
        return result.context.cache_hit, result.scalar_one()


def test_a_statement_compiled_once_serves_every_engine_of_its_kind(
    request: pytest.FixtureRequest, database_url: str, tmp_path: Path
) -> None:
    """Two databases of the fixtures: SQLite files, or PostgreSQL schemas (another search path)."""
    if database_url.startswith("sqlite"):
        (tmp_path / "other").mkdir()
        other = sqlite_database(tmp_path / "other")
    else:
        pool: SchemaPool = request.getfixturevalue("postgres_schemas")
        schema, other = pool.take()
        request.addfinalizer(lambda: pool.give_back(schema))
    label = f"seven_{uuid.uuid4().hex}"  # a statement no other test ran
    first, second = make_engine(database_url), make_engine(other)
    try:
        assert _run(first, label) == (first.dialect.CACHE_MISS, 7)
        assert _run(second, label) == (second.dialect.CACHE_HIT, 7)
    finally:
        first.dispose()
        second.dispose()


def test_an_engine_whose_dialect_compiles_otherwise_compiles_its_own(tmp_path: Path) -> None:
    label = f"seven_{uuid.uuid4().hex}"
    plain = make_engine(f"sqlite:///{tmp_path / 'a.sqlite3'}")
    named = make_engine(f"sqlite:///{tmp_path / 'b.sqlite3'}", paramstyle="named")
    try:
        assert _run(plain, label) == (plain.dialect.CACHE_MISS, 7)
        assert _run(named, label) == (named.dialect.CACHE_MISS, 7)
        assert _run(named, label) == (named.dialect.CACHE_HIT, 7)
    finally:
        plain.dispose()
        named.dispose()
