"""What a write transaction counts as its change (``wrote``): the audit trail writes an entry for a
request whose transaction changed a row, and for no other. Both databases."""

from __future__ import annotations

from sqlalchemy import insert, update

from server.db.engine import insert_if_new, uncounted, write, wrote
from server.platform.tables import terminal_nonces

ROW = {"key_id": "T0000001", "nonce": "n-1", "created": 1}


def test_a_write_with_returning_is_a_change_on_either_database(engine):
    with write(engine) as conn:
        assert not wrote(conn)
        conn.execute(insert(terminal_nonces).values(**ROW).returning(terminal_nonces.c.nonce)).all()
        assert wrote(conn)
    with write(engine) as conn:
        conn.execute(
            update(terminal_nonces)
            .where(terminal_nonces.c.nonce == "n-1")
            .values(created=2)
            .returning(terminal_nonces.c.created)
        ).all()
        assert wrote(conn)


def test_a_write_that_changes_nothing_is_no_change(engine):
    with write(engine) as conn:
        conn.execute(update(terminal_nonces).where(terminal_nonces.c.nonce == "none").values(created=2))
        assert not wrote(conn)


def test_uncounted_rows_are_kept_but_are_no_change(engine):
    with write(engine) as conn:
        with uncounted(conn):
            assert insert_if_new(conn, terminal_nonces, ROW)
        assert not wrote(conn)
        conn.execute(insert(terminal_nonces).values(**{**ROW, "nonce": "n-2"}))
        with uncounted(conn):
            assert not insert_if_new(conn, terminal_nonces, ROW)  # seen: still kept as it was
        assert wrote(conn)  # what was counted before stays counted
    with write(engine) as conn:
        assert not insert_if_new(conn, terminal_nonces, ROW)  # the uncounted row was committed
