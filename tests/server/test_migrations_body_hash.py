"""Migration 0023: transfers stored with a body hash before it still answer their retries, those
stored after keep none where the row says the body, and a downgrade gives every row its hash
back. Both databases."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from server import ledger
from server.db import migrate
from server.db.engine import make_engine, read, write

EXPIRY = datetime(2030, 3, 31, 15, tzinfo=UTC)
ACCOUNT = "(SELECT id FROM accounts WHERE owner = '{}')"
ROWS = [
    "INSERT INTO municipalities (code, name, prefecture, kana, kind, created_at) "
    "VALUES ('142018', '横須賀市', '神奈川県', 'ヨコスカシ', 'city', CURRENT_TIMESTAMP)",
    "INSERT INTO point_codes (code, municipality_code, name, kind, created_at) "
    "VALUES ('142018', '142018', '横須賀市ポイント', 'general', CURRENT_TIMESTAMP)",
    "INSERT INTO accounts (owner, point_code, kind, debits_posted, credits_posted, created_at) "
    "VALUES ('muni:142018', '142018', 'budget', 10, 0, CURRENT_TIMESTAMP)",
    "INSERT INTO accounts (owner, point_code, kind, debits_posted, credits_posted, created_at) "
    "VALUES ('holder:alice', '142018', 'wallet', 0, 10, CURRENT_TIMESTAMP)",
    "INSERT INTO transfers (client_id, body_hash, kind, point_code, debit_account_id, credit_account_id, "
    "amount, memo, actor, created_at) VALUES ('op:1/grant-0001', :hash, 'grant', '142018', "
    f"{ACCOUNT.format('muni:142018')}, {ACCOUNT.format('holder:alice')}, 10, '清掃活動', "
    "'operator:central', CURRENT_TIMESTAMP)",
    "INSERT INTO lots (account_id, transfer_id, expires_at, amount, remaining) "
    f"SELECT {ACCOUNT.format('holder:alice')}, id, :expiry, 10, 10 FROM transfers",
]


def grant(client_id, amount=10, memo="清掃活動", holder="alice"):
    return ledger.TransferRequest(
        client_id, "142018", "muni:142018", f"holder:{holder}", amount, "grant", memo, expires_at=EXPIRY
    )


def post(engine, request):
    with write(engine) as conn:
        (result,) = ledger.create_transfers(conn, [request], "operator:central")
    return result


def stored_hashes(engine):
    with read(engine) as conn:
        return dict(conn.execute(text("SELECT client_id, body_hash FROM transfers ORDER BY id")).all())


@pytest.fixture
def upgraded(empty_database_url):
    """A database with a grant stored at 0022, with its hash, then upgraded to the head."""
    engine = make_engine(empty_database_url)
    migrate.upgrade(engine, "0022")
    expiry = EXPIRY if engine.dialect.name == "postgresql" else EXPIRY.strftime("%Y-%m-%d %H:%M:%S.%f")
    with write(engine) as conn:
        for row in ROWS:
            conn.execute(text(row), {"hash": grant("op:1/grant-0001").body_hash(), "expiry": expiry})
    assert migrate.upgrade(engine) == migrate.head_revision()
    yield engine
    engine.dispose()


def test_a_transfer_stored_with_its_hash_still_answers_its_retries(upgraded):
    with read(upgraded) as conn:
        stored = ledger.get_transfer(conn, conn.execute(text("SELECT id FROM transfers")).scalar_one())
    assert post(upgraded, grant("op:1/grant-0001")) == stored
    refused = post(upgraded, grant("op:1/grant-0001", memo="清掃活動 5月"))
    assert isinstance(refused, ledger.IdempotencyConflict)
    with read(upgraded) as conn:
        assert ledger.balances(conn, "holder:alice") == {"142018": 10}


def downgrade(engine, revision):
    """alembic's downgrade, with the connection handed in as ``server.db.migrate`` hands it."""
    cfg = Config()
    cfg.set_main_option("script_location", str(migrate.MIGRATIONS))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, revision)


def test_a_downgrade_gives_every_transfer_the_hash_of_its_body(upgraded):
    to_wallet = grant("op:1/grant-0002", amount=7, holder="bob")
    to_shop = ledger.TransferRequest("op:1/grant-0003", "142018", "muni:142018", "payee:x", 3, "grant")
    posted = [post(upgraded, to_wallet), post(upgraded, to_shop)]
    assert stored_hashes(upgraded)["op:1/grant-0002"] is None  # its row says its body
    downgrade(upgraded, "0022")
    assert stored_hashes(upgraded) == {
        "op:1/grant-0001": grant("op:1/grant-0001").body_hash(),
        "op:1/grant-0002": to_wallet.body_hash(),
        "op:1/grant-0003": to_shop.body_hash(),
    }
    with pytest.raises(DBAPIError, match="append-only"), write(upgraded) as conn:
        conn.execute(text("UPDATE transfers SET amount = 1"))
    assert migrate.upgrade(upgraded) == migrate.head_revision()
    assert [post(upgraded, to_wallet), post(upgraded, to_shop)] == posted
