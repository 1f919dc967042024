"""A check at commit (``require_at_commit``): the transaction is kept only if the check finds its
row at the very end, else rolled back and refused; on PostgreSQL the check, the transaction's last
rows and its COMMIT cost one round trip together. Both databases."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, insert, select

from mkp_core.errors import Unauthorized
from server.db.engine import insert_last, read, require_at_commit, write
from server.platform.tables import audit_log, terminal_nonces

ROW = {"key_id": "T0000001", "nonce": "n-1", "created": 1}
FOUND = "SELECT nonce FROM terminal_nonces WHERE nonce = ?"


def _entry(request_id: str) -> dict:
    return {
        "at": datetime.now(UTC),
        "actor": "operator:test",
        "municipality_code": None,
        "action": "test",
        "target": "POST /test",
        "request_id": request_id,
        "reason": None,
    }


def _kept(engine: Engine) -> tuple[int, int]:
    with read(engine) as conn:
        nonces = conn.execute(select(func.count()).select_from(terminal_nonces)).scalar_one()
        entries = conn.execute(select(func.count()).select_from(audit_log)).scalar_one()
        return nonces, entries


def _refused() -> Exception:
    return Unauthorized("unauthorized", "no such nonce")


def test_a_transaction_whose_check_finds_its_row_is_kept(engine):
    with write(engine) as conn:
        conn.execute(insert(terminal_nonces).values(**ROW))
        insert_last(conn, audit_log, _entry("r-1"))
        require_at_commit(conn, FOUND, ["n-1"], _refused)  # its own row: seen at the end
    assert _kept(engine) == (1, 1)


def test_a_transaction_whose_check_finds_nothing_is_refused_and_keeps_nothing(engine):
    with pytest.raises(Unauthorized):
        with write(engine) as conn:
            conn.execute(insert(terminal_nonces).values(**ROW))
            insert_last(conn, audit_log, _entry("r-1"))
            require_at_commit(conn, FOUND, ["n-1"], _refused)
            require_at_commit(conn, FOUND, ["n-2"], _refused)  # the second one fails
    assert _kept(engine) == (0, 0)
    with write(engine) as conn:  # the pooled connection is fit to write again
        conn.execute(insert(terminal_nonces).values(**ROW))
    assert _kept(engine) == (1, 0)


def test_the_check_the_rows_and_the_commit_wait_for_postgresql_once(engine, tmp_path: Path):
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite works in this process: no round trips")
    trace = tmp_path / "protocol.txt"
    with trace.open("w") as f:
        with write(engine) as conn:
            conn.execute(insert(terminal_nonces).values(**ROW))
            pgconn = conn.connection.driver_connection.pgconn
            pgconn.trace(f.fileno())  # from here to the end of the transaction
            insert_last(conn, audit_log, _entry("r-1"))
            require_at_commit(conn, FOUND, ["n-1"], _refused)
        pgconn.untrace()
    sent = [line.split("\t")[3].strip() for line in trace.read_text().splitlines() if "\tF\t" in line]
    assert sent.count("Sync") + sent.count("Query") == 1
    assert _kept(engine) == (1, 1)
