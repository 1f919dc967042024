"""Fixtures of the server app in-process: a migrated database, the app, operators, a place, a terminal.

The server's tests (tests/server) and mkp-admin's (tests/mkp_admin, which drive the real app
through the CLI) both use them: tests/conftest.py registers this module as a pytest plugin, and
setup.cfg's pytest ``pythonpath`` puts tests/server (these fixtures and their helpers) on sys.path.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from flask import Flask
from flask.testing import FlaskClient
from mkp_testing import SEED, SEEDED, Seed, migrate, served_in_process, server_files
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
    server_files(tmp_path)  # its keys and terminal CA, copied
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


def _write_operators(engine: Engine) -> Operators:
    with write(engine) as conn:
        central = create_operator(conn, "central")
        add_municipality(conn, "142018")
        add_municipality(conn, "011002")
        yokosuka = create_operator(conn, "yokosuka-desk", "142018")
        sapporo = create_operator(conn, "sapporo-desk", "011002")
    return Operators(bearer(central), bearer(yokosuka), bearer(sapporo))


def _write_town(engine: Engine) -> Operators:
    from points_helpers import furnish

    operators = _write_operators(engine)
    furnish(None, engine, operators.central)
    return operators


#: The rows of ``operators``, and of ``town`` (which builds on them): a test whose database comes
#: from tests/conftest.py's ``database_url`` gets them copied in (see ``pytest_collection_modifyitems``).
OPERATORS = Seed("operators", _write_operators)
TOWN = Seed("town", _write_town)


def _from_here(item: pytest.Item, *names: str) -> bool:
    """Whether each of ``names`` is in the item's fixtures and is this module's fixture (not a
    folder's or a module's own of that name). pytest keeps that in the item's private
    ``_fixtureinfo``: a pytest without it marks no test, and the fixtures write their rows."""
    definitions = getattr(getattr(item, "_fixtureinfo", None), "name2fixturedefs", {})
    return all(
        name in definitions and getattr(definitions[name][-1].func, "__module__", None) == __name__
        for name in names
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Each test set up with this module's ``town`` (or only its ``operators``) starts from a copy
    of those rows, written once per process and database instead of once per test (a thirtieth
    of a second for the town, a hundredth for the operators); the fixtures then only hand over
    the tokens. The database fixture copies them in (``SEED``); one of a folder's own is left alone."""
    for item in items:
        if _from_here(item, "town", "operators", "engine"):
            item.stash[SEED] = TOWN
        elif _from_here(item, "operators", "engine"):
            item.stash[SEED] = OPERATORS


def _seeded(request: pytest.FixtureRequest, *seeds: Seed) -> Operators | None:
    """The operators of the rows the test's database was handed, if they are one of ``seeds``'."""
    seeded = request.node.stash.get(SEEDED, None)
    if seeded is None or seeded[0] not in seeds:
        return None
    return copy.deepcopy(seeded[1])  # a test may change its headers


@pytest.fixture
def operators(request: pytest.FixtureRequest, engine: Engine) -> Operators:
    """横須賀市 and 札幌市 on the platform; a central token and one scoped to each city."""
    return _seeded(request, OPERATORS, TOWN) or _write_operators(engine)


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
def town(request: pytest.FixtureRequest, client, engine, operators):
    """The points tests' town (tests/server/points_helpers.py): places, a department, MyKey IDs."""
    from points_helpers import furnish

    if _seeded(request, TOWN) is None:
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
