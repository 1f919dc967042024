"""An operator's spend over HTTP waits for PostgreSQL as few times as it can: on a server every
round trip is a wait for another process (on a busy machine, for a core), most of a spend's latency.

Counted from the protocol itself (libpq's trace of every connection the request takes from the
pool): each ``Sync`` or simple ``Query`` sent is a wait for the server's answer."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from points_helpers import REASON, YOKOSUKA, grant, new_id
from sqlalchemy import event


@contextmanager
def waits(app: Any, trace: Path) -> Iterator[list[int]]:
    """Count the round trips of the requests made inside (the count is filled in at the end)."""
    engine = app.extensions["mkp.engine"]
    counted: list[int] = []
    with trace.open("w") as f:

        def start(dbapi_conn: Any, _record: Any, _proxy: Any) -> None:
            dbapi_conn.pgconn.trace(f.fileno())

        def stop(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.pgconn.untrace()

        event.listen(engine, "checkout", start)
        event.listen(engine, "checkin", stop)
        try:
            yield counted
        finally:
            event.remove(engine, "checkout", start)
            event.remove(engine, "checkin", stop)
    sent = [line.split("\t")[3].strip() for line in trace.read_text().splitlines() if "\tF\t" in line]
    counted.append(sent.count("Sync") + sent.count("Query"))


def _spend(client, headers, amount: int):
    body = {
        "client_id": new_id("s"),
        "mykey_id": "HANAKO23",
        "place": "yokosuka-shop",
        "point_code": YOKOSUKA,
        "amount": amount,
        "reason": REASON,
    }
    return client.post("/v1/spends", json=body, headers=headers)


def test_an_operators_spend_waits_for_postgresql_six_times(client, town, app, tmp_path):
    """BEGIN (psycopg syncs it alone); the holder, the client id held with its stored answer and
    the rules' version; the ledger's three (the booking hold with the point codes, the accounts'
    lock with the lots, the client-id probe and the new id, the writes with the read of the lots
    the spend took, for its receipt); the stored answer, the audit entry and the token's check
    with the COMMIT.
    Thirteen before."""
    if app.extensions["mkp.engine"].dialect.name != "postgresql":
        pytest.skip("SQLite works in this process: no round trips")
    grant(client, town.central, "HANAKO23", 500)
    assert _spend(client, town.central, 1).status_code == 201  # token remembered, shop's account open
    with waits(app, tmp_path / "protocol.txt") as counted:
        spent = _spend(client, town.central, 2)
    assert spent.status_code == 201, spent.json
    assert [lot["amount"] for lot in spent.json["lots"]] == [2]
    assert counted == [6]
    balances = client.get("/v1/mykeys/HANAKO23/balances", headers=town.central).json["balances"]
    assert [b["balance"] for b in balances] == [497]
