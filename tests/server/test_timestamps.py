"""A time given with any offset is kept as the same instant on both databases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from sqlalchemy import insert, select

from server.db.engine import read, write
from server.platform.tables import audit_log

JST = timezone(timedelta(hours=9))


def test_a_time_in_jst_is_kept_as_the_same_instant(engine):
    at = datetime(2026, 12, 7, 18, 30, tzinfo=JST)
    with write(engine) as conn:
        conn.execute(
            insert(audit_log).values(
                at=at, actor="operator:central", action="x", target="POST /x", request_id="r1"
            )
        )
    with read(engine) as conn:
        kept = conn.execute(select(audit_log.c.at)).scalar_one()
    assert kept == at and kept.tzinfo is not None
    assert kept.astimezone(UTC) == datetime(2026, 12, 7, 9, 30, tzinfo=UTC)
