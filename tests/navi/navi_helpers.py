"""A town for Point Navi's tests: 横須賀市 on the platform with everything Navi shows, 札幌市 on it
with nothing but its points, and a partner with two campaigns.

横須賀市: places with addresses (a museum, a shop, a library), its points' rules (shops and
museums, six months past the month of the credit, at most 5,000 a spend, vouchers) listing its
antenna shop in 千代田区, an agreement that lets its points into 札幌市, an open festival, a
reward, and a campaign it funds itself. The partner ANA converts 500 miles into 100 points after
14 days, with a campaign of its own. Made with the domain functions in one transaction, once per
test process and database (:data:`NAVI_TOWN`), and copied into each test's database.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from mkp_testing import Seed, copy_seed
from sqlalchemy import Engine

from mkp_core import signing
from server.db.engine import write
from server.partners import premiums, registry
from server.platform.municipalities.service import add_municipality, add_point_code
from server.platform.operators.service import Operator
from server.platform.places.service import add_place
from server.points import agreements
from server.points.events.service import add_event
from server.points.expiry_policy import ExpiryPolicy
from server.points.rewards.service import add_reward
from server.points.rules import RuleChange, add_rule

YOKOSUKA, SAPPORO, CHIYODA = "142018", "011002", "131016"
CENTRAL = Operator(0, "central", None)
PLACES = [
    ("yokosuka-museum", "横須賀美術館", "museum", YOKOSUKA, "鴨居4-1"),
    ("dobuita-shop", "どぶ板通り商店", "shop", YOKOSUKA, "本町2-1"),
    ("yokosuka-library", "横須賀市立中央図書館", "library", YOKOSUKA, None),
    ("kaikokusai", "よこすか開国祭実行委員会", "facility", YOKOSUKA, None),
    ("tokyo-antenna", "横須賀アンテナショップ 有楽町", "shop", CHIYODA, "有楽町2-10-1"),
]


def furnish_town(engine: Engine) -> None:
    """The town of the module docstring."""
    now = datetime.now(UTC)
    with write(engine) as conn:
        for code in (YOKOSUKA, SAPPORO, CHIYODA):
            add_municipality(conn, code)
        for place_id, name, kind, municipality, street in PLACES:
            add_place(conn, CENTRAL, place_id, name, kind, municipality, street)
        rule = RuleChange(
            None, ["shop", "museum"], ["tokyo-antenna"], ExpiryPolicy("month_end", 6), 1, 5000, True
        )
        add_rule(conn, CENTRAL, YOKOSUKA, rule)
        for by in (YOKOSUKA, SAPPORO):
            agreements.record(conn, CENTRAL, YOKOSUKA, SAPPORO, by)
        add_point_code(conn, YOKOSUKA, "FEST2026", "よこすか開国祭")
        add_event(conn, CENTRAL, "142018-FEST2026", "kaikokusai")
        offer = {"name": "花火大会 観覧席", "description": "海辺の特等席", "price": 500, "stock": 3,
                 "per_holder": 1, "starts_at": now, "ends_at": now + timedelta(days=30),
                 "place": "yokosuka-museum"}  # fmt: skip
        add_reward(conn, CENTRAL, "hanabi-seat", YOKOSUKA, offer)
        key = signing.public_key_pem(signing.generate_terminal_key()).decode()
        ana = registry.add(conn, CENTRAL, "ANA", "全日本空輸", key, rate=(500, 100), hold_days=14)
        month = (now, now + timedelta(days=30))
        premiums.add(conn, CENTRAL, ana, premiums.CampaignTerms("春の応援", *month, 100_000, percent=10))
        premiums.add(
            conn,
            CENTRAL,
            ana,
            premiums.CampaignTerms(
                "横須賀市の上乗せ", *month, 50_000, fixed=200, cap_per_holder=1000,
                funded_by="municipality", municipality=YOKOSUKA,
            ),
        )  # fmt: skip


#: furnish_town's rows, written once per test process and database kind: a test's copy takes 7 ms
#: of CPU on SQLite, writing them took 47 ms.
NAVI_TOWN = Seed("navi-town", furnish_town)


def furnished(request: pytest.FixtureRequest, engine: Engine) -> None:
    """The town's rows copied into ``engine``'s database (migrated and empty, of either kind)."""
    copy_seed(engine, NAVI_TOWN, lambda: request.getfixturevalue("postgres_schemas"))
