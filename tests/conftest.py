"""Fixtures that start real things: databases (SQLite file, PostgreSQL schema), servers, operators.

Server tests take ``database_url``, which runs them once on SQLite and once on PostgreSQL
(when MKP_TEST_POSTGRES_URL is set; skipped with a reason otherwise).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import quote

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine, create_engine, text

from drivers.card.virtual.pcscd import PcscDaemon, PcscdUnavailable, vpcd_slots
from server.app import create_app
from server.config import ServerConfig
from server.db.engine import make_engine, write
from server.db.migrate import upgrade
from server.municipalities.service import add_municipality
from server.operators.service import create_operator

POSTGRES_ENV = "MKP_TEST_POSTGRES_URL"


# --- the card reader stack: one pcscd with vpcd, shared by every test that inserts a card ------


@pytest.fixture
def vpcd_lock() -> Iterator[None]:
    """vpcd has two slots per machine: a test holds them while it inserts cards (other test runs,
    the demo and the benchmark take turns with it)."""
    try:
        with vpcd_slots():
            yield
    except TimeoutError as e:
        pytest.fail(str(e))


@pytest.fixture(scope="session")
def pcscd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PcscDaemon]:
    """A running pcscd that has loaded the vpcd driver (started here only if none runs)."""
    try:
        daemon = PcscDaemon.ensure(tmp_path_factory.mktemp("pcscd") / "pcscd.log")
    except PcscdUnavailable as e:
        pytest.skip(str(e))
    yield daemon
    daemon.stop()


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str]:
    """A throwaway PostgreSQL database for this test session; each test gets a schema in it."""
    admin_url = os.environ.get(POSTGRES_ENV)
    if not admin_url:
        pytest.skip(f"{POSTGRES_ENV} is not set: PostgreSQL half of the server tests skipped")
    admin_url = admin_url.replace("postgresql://", "postgresql+psycopg://", 1)
    name = f"mkp_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    base = admin_url.rsplit("/", 1)[0] + "/" + name
    yield base
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _postgres_schema_url(base: str) -> tuple[str, str]:
    schema = f"t_{uuid.uuid4().hex[:12]}"
    with create_engine(base, isolation_level="AUTOCOMMIT").connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    return schema, f"{base}?options={quote(f'-csearch_path={schema}')}"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path) -> Iterator[str]:
    """An empty database: a SQLite file, or a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'mkp.sqlite3'}"
        return
    base = request.getfixturevalue("postgres_database")
    schema, url = _postgres_schema_url(base)
    yield url
    with create_engine(base, isolation_level="AUTOCOMMIT").connect() as conn:
        conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    """A migrated database."""
    engine = make_engine(database_url)
    upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def app(engine: Engine, database_url: str, tmp_path) -> Iterator[Flask]:
    app = create_app(
        ServerConfig(database_url=database_url, testing=True, terminal_ca_dir=str(tmp_path / "terminal-ca"))
    )
    yield app
    app.extensions["mkp.engine"].dispose()


@dataclass
class Operators:
    central: dict[str, str]
    yokosuka: dict[str, str]
    sapporo: dict[str, str]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def operators(engine: Engine) -> Operators:
    """横須賀市 and 札幌市 on the platform; a central token and one scoped to each city."""
    with write(engine) as conn:
        central = create_operator(conn, "central")
        add_municipality(conn, "142018")
        add_municipality(conn, "011002")
        yokosuka = create_operator(conn, "yokosuka-desk", "142018")
        sapporo = create_operator(conn, "sapporo-desk", "011002")
    return Operators(bearer(central), bearer(yokosuka), bearer(sapporo))


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()
