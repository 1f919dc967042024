"""Reversals of one transfer racing across real server workers (gunicorn, 4 workers), on SQLite
and PostgreSQL: eight operators' tools reverse the same grant at the same moment, each with its
own client id. One reversal is made; every other caller is told ``already_reversed`` (409), never
a 500 from the unique index on ``reverses_id``, nor ``idempotency_conflict``."""

from __future__ import annotations

import json
import uuid

import pytest
import requests
from mkp_testing import platform_process
from points_helpers import register_mykeys
from test_races import AT_ONCE, at_once, statuses

from server.db.engine import make_engine

pytestmark = pytest.mark.slow
ROUNDS = 4


def test_reversals_racing_with_different_client_ids_make_one_and_name_it(database_url, tmp_path):
    with platform_process(database_url, tmp_path, workers=4) as server:
        engine = make_engine(database_url)
        register_mykeys(engine, ("REVRACE1",))
        engine.dispose()
        operator = requests.Session()
        operator.headers["Authorization"] = f"Bearer {server.token}"
        base = server.url + "/v1"

        def post(path: str, body: dict) -> dict:
            reply = operator.post(base + path, json={"client_id": f"rr-{uuid.uuid4().hex[:12]}", **body})
            assert reply.status_code in (200, 201), reply.text
            return reply.json()

        post("/municipalities/142018/departments", {"code": "rev", "name": "取消課", "budget": 10**6})
        post("/departments/142018-rev/grant-kinds", {"code": "gift", "name": "贈与"})
        for round in range(ROUNDS):  # a race is a matter of luck: give it several chances
            grant = post(
                "/grants",
                {"department": "142018-rev", "mykey_id": "REVRACE1", "amount": 100, "grant_kind": "gift"},
            )
            url = f"{base}/transfers/{grant['id']}/reverse"
            bodies = [
                json.dumps({"client_id": f"rev-{round}-{n:04d}", "memo": "mistake"}).encode()
                for n in range(AT_ONCE)
            ]
            replies = at_once(
                lambda n, url=url, bodies=bodies: operator.post(
                    url, data=bodies[n], headers={"Content-Type": "application/json"}
                )
            )
            seen = statuses(replies)
            assert seen == [(201, None)] + [(409, "already_reversed")] * (AT_ONCE - 1), seen
            refused = [r.json()["error"]["message"] for r in replies if r.status_code == 409]
            assert all(f"transfer {grant['id']} was already reversed" in m for m in refused)
        balances = operator.get(base + "/mykeys/REVRACE1/balances").json()["balances"]
        assert sum(b["balance"] for b in balances) == 0
        assert operator.get(base + "/ledger/verify").json()["ok"]
        operator.close()
