"""Migration 0015 on a database that kept an offline entry dated year 1 (PostgreSQL held it as
1 BC, and every operator's exceptions list then failed): the unusable time is cleared, the
refusal kept, the list answers again. Both databases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from sqlalchemy import insert, text

from server.counter import service
from server.counter.tables import offline_entries
from server.db import migrate
from server.db.engine import make_engine, read, write


def test_upgrade_clears_kept_times_no_list_can_show(empty_database_url):
    old = make_engine(empty_database_url)
    migrate.upgrade(old, "0014")
    now = datetime.now(UTC)
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
                "VALUES ('yokosuka-shop', '横須賀の店', 'shop', '142018', CURRENT_TIMESTAMP)"
            )
        )
        conn.execute(
            text(
                "INSERT INTO terminals (id, place_id, name, status, created_at) "
                "VALUES ('t0123456789ab', 'yokosuka-shop', 'counter 1', 'active', CURRENT_TIMESTAMP)"
            )
        )
        row = {
            "terminal_id": "t0123456789ab",
            "seq": 1,
            "place_id": "yokosuka-shop",
            "received_at": now,
            "status": "refused",
            "code": "insufficient_points",
            "kind": "spend",
        }
        year_one = datetime(1, 1, 1, 5, tzinfo=timezone(timedelta(hours=9)))
        conn.execute(
            insert(offline_entries),
            [
                {**row, "client_id": "entry-year-one", "taken_at": year_one},
                {**row, "client_id": "entry-today", "seq": 2, "taken_at": now},
            ],
        )
    assert migrate.upgrade(old) == migrate.head_revision()
    with read(old) as conn:
        listed = {e["client_id"]: e for e in service.exceptions(conn)}
    assert listed["entry-year-one"]["taken_at"] is None
    assert listed["entry-year-one"]["code"] == "insufficient_points"
    assert listed["entry-today"]["taken_at"] == now
    old.dispose()
