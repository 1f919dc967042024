"""Migrations build exactly the schema the code uses, and an upgrade keeps the data."""

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text

from server import ledger
from server.db import migrate
from server.db.engine import make_engine, read, write
from server.db.tables import metadata


def test_migrated_schema_matches_the_tables(engine):
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    assert diff == []


def test_upgrade_is_repeatable_and_keeps_data(engine, operators, database_url):
    with write(engine) as conn:
        ledger.transfer(
            conn, ledger.TransferRequest("grant-0001", "142018", "muni:142018", "holder:a", 5, "grant"), "t"
        )
    again = make_engine(database_url)
    assert migrate.upgrade(again) == migrate.head_revision()
    with read(again) as conn:
        assert ledger.balances(conn, "holder:a") == {"142018": 5}
    again.dispose()


def test_empty_database_has_no_revision(empty_database_url):
    fresh = make_engine(empty_database_url)
    assert migrate.current_revision(fresh) is None
    migrate.upgrade(fresh)
    with fresh.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM transfers")).scalar_one() == 0
    fresh.dispose()


def test_upgrade_to_mykey_keeps_places_and_their_terminals(empty_database_url):
    """0004 adds places.service_code; on SQLite a table copy would have dropped the places that
    terminals refer to (refused by the foreign keys): the column is added in place."""
    old = make_engine(empty_database_url)
    migrate.upgrade(old, "0003")
    with write(old) as conn:
        conn.execute(
            text(
                "INSERT INTO municipalities (code, name, prefecture, kana, kind, created_at) "
                "VALUES ('142018', '横須賀市', '神奈川県', 'ヨコスカシ', 'city', CURRENT_TIMESTAMP)"
            )
        )
        conn.execute(
            text(
                "INSERT INTO places (id, name, kind, municipality_code, created_at) "
                "VALUES ('yokosuka-museum', '横須賀美術館', 'museum', '142018', CURRENT_TIMESTAMP)"
            )
        )
        conn.execute(
            text(
                "INSERT INTO terminals (id, place_id, name, status, created_at) "
                "VALUES ('t0123456789ab', 'yokosuka-museum', 'counter 1', 'pending', CURRENT_TIMESTAMP)"
            )
        )
    assert migrate.upgrade(old) == migrate.head_revision()
    with read(old) as conn:
        place = conn.execute(text("SELECT id, service_code FROM places")).one()
        assert tuple(place) == ("yokosuka-museum", None)
        assert conn.execute(text("SELECT place_id FROM terminals")).scalar_one() == "yokosuka-museum"
    old.dispose()
