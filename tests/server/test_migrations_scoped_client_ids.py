"""Migration 0013 on a database with answers kept before client ids were scoped: the answers whose
owner is known move to that owner's key (a partner's order, a terminal's or an operator's
transfer, a terminal's offline entry), the rest stay as they were, the ledger's own rows are not
touched, and the widened columns take the longest scoped key. Both databases."""

from __future__ import annotations

from sqlalchemy import text

from server.db import migrate
from server.db.engine import make_engine, read, write

ROWS = [
    "INSERT INTO municipalities (code, name, prefecture, kana, kind, created_at) "
    "VALUES ('142018', '横須賀市', '神奈川県', 'ヨコスカシ', 'city', CURRENT_TIMESTAMP)",
    "INSERT INTO point_codes (code, municipality_code, name, kind, created_at) "
    "VALUES ('142018', '142018', '横須賀市ポイント', 'general', CURRENT_TIMESTAMP)",
    "INSERT INTO operators (id, name, token_hash, created_at) VALUES (5, 'central', 'x', CURRENT_TIMESTAMP)",
    "INSERT INTO places (id, name, kind, municipality_code, created_at) "
    "VALUES ('yokosuka-shop', 'どぶ板商店', 'shop', '142018', CURRENT_TIMESTAMP)",
    "INSERT INTO terminals (id, place_id, name, status, created_at) "
    "VALUES ('t0123456789ab', 'yokosuka-shop', 'counter 1', 'active', CURRENT_TIMESTAMP)",
    "INSERT INTO accounts (id, owner, point_code, kind, debits_posted, credits_posted, created_at) "
    "VALUES (1, 'muni:142018', '142018', 'municipality', 20, 0, CURRENT_TIMESTAMP)",
    "INSERT INTO accounts (id, owner, point_code, kind, debits_posted, credits_posted, created_at) "
    "VALUES (2, 'payee:yokosuka-shop', '142018', 'payee', 0, 20, CURRENT_TIMESTAMP)",
    "INSERT INTO transfers (id, client_id, body_hash, kind, point_code, debit_account_id, "
    "credit_account_id, amount, actor, created_at) VALUES (1, 'spend-00000001', 'h', 'spend', '142018', "
    "1, 2, 10, 'terminal:t0123456789ab', CURRENT_TIMESTAMP)",
    "INSERT INTO transfers (id, client_id, body_hash, kind, point_code, debit_account_id, "
    "credit_account_id, amount, actor, created_at) VALUES (2, 'grant-00000001', 'h', 'grant', '142018', "
    "1, 2, 10, 'operator:central', CURRENT_TIMESTAMP)",
    "INSERT INTO offline_entries (client_id, terminal_id, seq, received_at, status, transfer_id) "
    "VALUES ('spend-00000001', 't0123456789ab', 1, CURRENT_TIMESTAMP, 'accepted', 1)",
]
ANSWERS = ["partner:ANA:order-7", "spend-00000001", "grant-00000001", "place-00000001"]


def test_answers_move_to_their_owners_keys_and_the_ledger_keeps_its_own(empty_database_url):
    engine = make_engine(empty_database_url)
    migrate.upgrade(engine, "0012")
    with write(engine) as conn:
        for row in ROWS:
            conn.execute(text(row))
        for key in ANSWERS:
            conn.execute(
                text(
                    "INSERT INTO idempotency (client_id, body_hash, status, response, created_at) "
                    "VALUES (:key, 'h', 201, '{}', CURRENT_TIMESTAMP)"
                ),
                {"key": key},
            )
    migrate.upgrade(engine, "0013")
    with read(engine) as conn:
        answers = set(conn.execute(text("SELECT client_id FROM idempotency")).scalars())
        ledger = set(conn.execute(text("SELECT client_id FROM transfers")).scalars())
        entries = set(conn.execute(text("SELECT client_id FROM offline_entries")).scalars())
    assert answers == {
        "p:ANA/order/order-7",
        "t:t0123456789ab/spend-00000001",
        "op:5/grant-00000001",
        "place-00000001",  # no known owner: history
    }
    assert ledger == {"spend-00000001", "grant-00000001"}  # append-only: never rewritten
    assert entries == {"t:t0123456789ab/spend-00000001"}
    longest = f"t:t0123456789ab/unverified:{'0' * 32}/{'x' * 64}"
    with write(engine) as conn:
        conn.execute(
            text(
                "INSERT INTO offline_entries (client_id, terminal_id, seq, received_at, status) "
                "VALUES (:key, 't0123456789ab', 2, CURRENT_TIMESTAMP, 'refused')"
            ),
            {"key": longest},
        )
        conn.execute(
            text(
                "INSERT INTO idempotency (client_id, body_hash, status, response, created_at) "
                "VALUES (:key, 'h', 201, '{}', CURRENT_TIMESTAMP)"
            ),
            {"key": f"c:{'0' * 64}/{'x' * 64}"},  # a card's key, the longest
        )
    engine.dispose()
