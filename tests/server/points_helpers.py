"""Helpers for the points tests: MyKey IDs without cards, a furnished town, what a caller can see.

The town (``furnish``): 横須賀市 and 札幌市 (added by the ``operators`` fixture) and 千代田区;
places in Yokosuka (a museum, a shop, a library, a bus company's office), Yokosuka's antenna shop
in Tokyo (a place of 千代田区) and a shop in Sapporo; Yokosuka's 子育て支援課 with a budget and
two grant kinds; and the MyKey IDs of :data:`HOLDERS`, residents of Yokosuka.
"""

from __future__ import annotations

import hashlib
import itertools
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

from sqlalchemy import Engine

from server.db.engine import write
from server.platform.municipalities.service import add_municipality
from server.platform.mykey import registry, service_links
from server.platform.mykey.cards import Card
from server.platform.operators.service import Operator, create_operator

YOKOSUKA, SAPPORO, CHIYODA = "142018", "011002", "131016"
DEPARTMENT = "142018-kosodate"
BUDGET = 100_000
HOLDERS = ("HANAKO23", "TAROU234", "JIROU345")
PLACES = [
    ("yokosuka-museum", "横須賀美術館", "museum", YOKOSUKA, None),
    ("yokosuka-shop", "どぶ板商店", "shop", YOKOSUKA, None),
    ("yokosuka-library", "横須賀市立図書館", "library", YOKOSUKA, None),
    ("keikyu-bus", "京急バス 横須賀営業所", "transport", YOKOSUKA, "KQBUS"),
    ("tokyo-antenna", "横須賀アンテナショップ 有楽町", "shop", CHIYODA, None),
    ("sapporo-shop", "狸小路商店", "shop", SAPPORO, None),
]
_ids = itertools.count(1)


def operators_for(engine: Engine) -> SimpleNamespace:
    """横須賀市 and 札幌市 on the platform, and operator headers: central, and one scoped to each."""
    with write(engine) as conn:
        central = create_operator(conn, "central")
        add_municipality(conn, YOKOSUKA)
        add_municipality(conn, SAPPORO)
        yokosuka = create_operator(conn, "yokosuka-desk", YOKOSUKA)
        sapporo = create_operator(conn, "sapporo-desk", SAPPORO)
    return SimpleNamespace(
        **{
            name: {"Authorization": f"Bearer {token}"}
            for name, token in (("central", central), ("yokosuka", yokosuka), ("sapporo", sapporo))
        }
    )


def new_id(prefix: str = "c") -> str:
    """A fresh client id."""
    return f"{prefix}-{next(_ids):08d}"


def register_mykeys(engine: Engine, ids: tuple[str, ...] = HOLDERS, home: str | None = YOKOSUKA) -> None:
    """MyKey IDs as registration would leave them, without cards (a made-up certificate each);
    residents of ``home`` (Yokosuka's desk reaches them, Sapporo's does not)."""
    with write(engine) as conn:
        for mykey_id in ids:
            digest = hashlib.sha256(mykey_id.encode()).hexdigest()
            card = Card(
                sha256=digest,
                issuer_fingerprint="0" * 64,
                serial=digest[:16].upper(),
                not_after=datetime.now(UTC) + timedelta(days=3650),
            )
            registry.register(conn, card, mykey_id, home, 1)


def post(client, headers, path: str, body: dict[str, Any], status: int | tuple[int, ...] = (200, 201)):
    """POST with a fresh client id; the JSON reply, which must have ``status``."""
    r = client.post(path, json={"client_id": new_id(), **body}, headers=headers)
    wanted = status if isinstance(status, tuple) else (status,)
    assert r.status_code in wanted, (path, r.status_code, r.json)
    return r.json


def furnish(client, engine: Engine, central: dict[str, str]) -> None:
    """The town of the module docstring (横須賀市 and 札幌市 must be on the platform already).

    Made with the domain functions in one transaction (the API's own tests exercise the
    endpoints): it is every points test's set-up, so it has to be quick."""
    from server.platform.mykey import service_links
    from server.platform.places.service import add_place
    from server.points.departments import service as departments

    op = Operator(0, "central", None)
    with write(engine) as conn:
        add_municipality(conn, CHIYODA)
        service_links.add_service(conn, op, "KQBUS", "京急バス", "transport", YOKOSUKA, False)
        for place_id, name, kind, municipality, service in PLACES:
            add_place(conn, op, place_id, name, kind, municipality, None, service)
        departments.add_department(conn, op, YOKOSUKA, "kosodate", "子育て支援課", BUDGET)
        departments.add_grant_kind(conn, op, DEPARTMENT, "volunteer", "子育てボランティア", 5000)
        departments.add_grant_kind(conn, op, DEPARTMENT, "childcare", "子育て応援", None)
    register_mykeys(engine)


def grant(client, headers, mykey_id: str, amount: int, kind: str = "childcare", **extra) -> dict:
    body = {"department": DEPARTMENT, "mykey_id": mykey_id, "amount": amount, "grant_kind": kind, **extra}
    return post(client, headers, "/v1/grants", body, 201)


#: Why a test's central operator spends for a resident (operators spend only as a correction).
REASON = "damaged card: paper form signed at the town hall"


def try_spend(client, headers, mykey_id: str, place: str, **extra):
    """The raw reply to a spend (for refusals): a correction by the operator of ``headers``."""
    body = {"client_id": new_id("s"), "mykey_id": mykey_id, "place": place, "reason": REASON, **extra}
    return client.post("/v1/spends", json=body, headers=headers)


def spend(client, headers, mykey_id: str, place: str, **extra) -> dict:
    r = try_spend(client, headers, mykey_id, place, **extra)
    assert r.status_code == 201, r.json
    return r.json


def balances(client, headers, mykey_id: str) -> dict[str, dict]:
    data = client.get(f"/v1/mykeys/{mykey_id}/balances", headers=headers).json
    return {b["point_code"]: b for b in data["balances"]}


def observed(client, central: dict[str, str]) -> tuple:
    """What a caller can see of the ledger: counts, every holder's balances, and that it verifies."""
    report = client.get("/v1/ledger/verify", headers=central).json
    held = tuple(
        tuple(
            sorted((code, b["balance"], b["spendable"]) for code, b in balances(client, central, h).items())
        )
        for h in HOLDERS
    )
    return report["transfers"], report["accounts"], report["lots"], held, report["ok"]


def error_of(response) -> tuple[int, str]:
    assert set(response.json) == {"error"}, response.json
    assert response.json["error"]["message"]
    return response.status_code, response.json["error"]["code"]


def festival_resident(world: Any, central: dict[str, str], engine: Engine) -> tuple[Any, str]:
    """A Yokosuka resident (a new card of ``world``) with 1,000 of 横須賀市's points and 500 of the
    festival's (142018-FEST2026), a PASMO linked at the bus company; the festival's pool and a
    reward (hanabi, 300 points, 5 seats) are open. The card and its MyKey ID."""
    card = world.card()
    mykey_id = world.register(card, home=YOKOSUKA)["mykey_id"]
    grant(world.client, central, mykey_id, 1000)
    post(
        world.client,
        central,
        f"/v1/municipalities/{YOKOSUKA}/point-codes",
        {"suffix": "FEST2026", "name": "開国祭"},
    )
    festival = f"{YOKOSUKA}-FEST2026"
    department = {"code": "kanko", "name": "観光課", "budget": 10_000, "point_code": festival}
    post(world.client, central, f"/v1/municipalities/{YOKOSUKA}/departments", department)
    post(world.client, central, "/v1/departments/142018-kanko/grant-kinds", {"code": "visit", "name": "来場"})
    visit = {"department": "142018-kanko", "mykey_id": mykey_id, "amount": 500, "grant_kind": "visit"}
    post(world.client, central, "/v1/grants", visit)
    post(world.client, central, "/v1/events", {"point_code": festival, "organiser": "yokosuka-library"})
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
    post(world.client, central, "/v1/rewards", {**reward, **window})
    with write(engine) as conn:
        service_links.link(conn, registry.find(conn, mykey_id), "KQBUS", "PASMO-0042")
    return card, mykey_id
