"""Fixtures of the server app in-process: a migrated database, the app, operators, a place, a terminal.

The server's tests (tests/server) and mkp-admin's (tests/mkp_admin, which drive the real app
through the CLI) both use them: tests/conftest.py registers this module as a pytest plugin, and
setup.cfg's pytest ``pythonpath`` puts tests/server (these fixtures and their helpers) on sys.path.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from flask import Flask
from flask.testing import FlaskClient
from mkp_testing import migrate, served_in_process
from mykey_helpers import KeyPool, MyKeyWorld, configure
from sqlalchemy import Engine
from terminal_helpers import csr_for, new_code

from drivers.card.virtual.ca import TestCA
from mkp_core import signing
from server.app import create_app
from server.config import ServerConfig
from server.db.engine import make_engine, write
from server.platform.municipalities.service import add_municipality
from server.platform.operators.service import create_operator


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    """The database (migrated, no rows yet)."""
    engine = make_engine(database_url)
    migrate(engine)  # a module's own database_url may hand an empty database
    yield engine
    engine.dispose()


@pytest.fixture
def app(engine: Engine, database_url: str, tmp_path) -> Iterator[Flask]:
    app = create_app(
        ServerConfig(
            database_url=database_url,
            testing=True,
            terminal_ca_dir=str(tmp_path / "terminal-ca"),
            secrets_dir=str(tmp_path / "secrets"),
        )
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


@pytest.fixture
def place(client, operators):
    r = client.post(
        "/v1/places",
        json={
            "client_id": "place-0001",
            "place_id": "yokosuka-museum",
            "name": "横須賀美術館",
            "kind": "museum",
            "municipality": "142018",
        },
        headers=operators.central,
    )
    assert r.status_code == 201, r.json
    return r.json


@pytest.fixture
def enrolled(client, operators, place):
    key = signing.generate_terminal_key()
    code = new_code(client, operators)["code"]
    r = client.post("/v1/enroll", json={"code": code, "csr": csr_for(key)})
    assert r.status_code == 201, r.json
    return r.json["terminal_id"], key, code


# --- MyKey: a test JPKI CA as the anchor, a current CRL, virtual cards, terminals -----------------


@pytest.fixture(scope="session")
def jpki_ca(tmp_path_factory: pytest.TempPathFactory) -> TestCA:
    """One JPKI-shaped test CA for the session (its CRL lists what any test revoked)."""
    return TestCA.init(tmp_path_factory.mktemp("jpki") / "ca")


@pytest.fixture(scope="session")
def card_keys() -> KeyPool:
    return KeyPool()


@pytest.fixture
def mykey(app: Flask, client: FlaskClient, operators: Operators, jpki_ca: TestCA, card_keys: KeyPool):
    """The server trusting the test CA, with its current CRL uploaded; holders and terminals."""
    configure(app, jpki_ca)
    with served_in_process(app) as url:
        world = MyKeyWorld(app, client, operators, jpki_ca, url, card_keys)
        world.upload_crl()
        with world.sessions:
            yield world


@pytest.fixture
def town(client, engine, operators):
    """The points tests' town (tests/server/points_helpers.py): places, a department, MyKey IDs."""
    from points_helpers import furnish

    furnish(client, engine, operators.central)
    return operators


@pytest.fixture
def vouchers_town(client, town):
    """The points town with 横須賀市's points allowed as vouchers (shops and museums)."""
    from points_helpers import YOKOSUKA, post

    post(
        client,
        town.central,
        f"/v1/point-codes/{YOKOSUKA}/rules",
        {"vouchers": True, "place_kinds": ["shop", "museum"]},
    )
    return town
