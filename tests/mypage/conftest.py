"""My Page's tests: passwords hashed with argon2id at its cheapest (the real cost is ~0.4 s a
hash), and hanako, a resident with points, an event, a reward, a linked service and a partner."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from argon2 import PasswordHasher
from mykey_helpers import MyKeyWorld
from mypage_helpers import FEST, Resident
from partners_helpers import add_partner
from points_helpers import YOKOSUKA, grant, post
from sqlalchemy import Engine

from server.db.engine import write
from server.logins import accounts
from server.platform.mykey import registry, service_links


@pytest.fixture(autouse=True)
def cheap_argon2(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(accounts, "HASHER", PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))


@pytest.fixture
def kiosk(mykey: MyKeyWorld):
    return mykey.terminal(None)


@pytest.fixture
def hanako(mykey: MyKeyWorld, town, kiosk, engine: Engine) -> Resident:
    """A Yokosuka resident with 1,000 of 横須賀市's points and 500 of the festival's, a PASMO
    linked at the bus company; the festival's pool, a reward and ANA's coupons are open."""
    world, c = mykey, town.central
    card = world.card()
    mykey_id = world.register(card, home=YOKOSUKA)["mykey_id"]
    grant(world.client, c, mykey_id, 1000)
    post(
        world.client,
        c,
        f"/v1/municipalities/{YOKOSUKA}/point-codes",
        {"suffix": "FEST2026", "name": "開国祭"},
    )
    department = {"code": "kanko", "name": "観光課", "budget": 10_000, "point_code": FEST}
    post(world.client, c, f"/v1/municipalities/{YOKOSUKA}/departments", department)
    post(world.client, c, "/v1/departments/142018-kanko/grant-kinds", {"code": "visit", "name": "来場"})
    post(
        world.client,
        c,
        "/v1/grants",
        {"department": "142018-kanko", "mykey_id": mykey_id, "amount": 500, "grant_kind": "visit"},
    )
    post(world.client, c, "/v1/events", {"point_code": FEST, "organiser": "yokosuka-library"})
    now = datetime.now(UTC)
    reward = {
        "code": "hanabi",
        "municipality": YOKOSUKA,
        "name": "花火大会の観覧席",
        "price": 300,
        "stock": 5,
    }
    window = {
        "starts_at": (now - timedelta(hours=1)).isoformat(),
        "ends_at": (now + timedelta(days=1)).isoformat(),
    }
    post(world.client, c, "/v1/rewards", {**reward, **window})
    with write(engine) as conn:
        service_links.link(conn, registry.find(conn, mykey_id), "KQBUS", "PASMO-0042")
    add_partner(world, "ANA", name="全日本空輸")
    return Resident(world, card, mykey_id)
