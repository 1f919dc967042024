"""My Page's tests: passwords hashed with argon2id at its cheapest (the real cost is ~0.4 s a
hash), and hanako, a resident with points, an event, a reward, a linked service and a partner,
signed up and logged in as ``browser``."""

from __future__ import annotations

import pytest
from argon2 import PasswordHasher
from mykey_helpers import MyKeyWorld
from mypage_helpers import Resident, Visitor, activation_code
from partners_helpers import add_partner
from points_helpers import festival_resident
from sqlalchemy import Engine

from server.logins import accounts


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
    world = mykey
    card, mykey_id = festival_resident(world, town.central, engine)
    add_partner(world, "ANA", name="全日本空輸")
    return Resident(world, card, mykey_id)


@pytest.fixture
def browser(mykey: MyKeyWorld, hanako: Resident, kiosk) -> Visitor:
    """hanako, signed up with a code from the kiosk and logged in."""
    visitor = Visitor(mykey.app)
    done = visitor.sign_up(activation_code(mykey, kiosk, hanako.card), "hanako.y")
    assert done.status_code == 302 and done.headers["Location"] == "/mypage/", done.text
    return visitor
