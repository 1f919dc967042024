"""Partner points in tests: a partner with its key, its signed requests, a linked holder."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import requests
from mykey_helpers import Card, MyKeyWorld
from sqlalchemy import update
from terminal_helpers import error_code

from mkp_core import cardproof, coupon, signing
from mkp_core.errors import MkpError
from server import ledger
from server.db.engine import read, write
from server.partners.tables import conversions

YOKOSUKA = "142018"
#: A well-formed link code that no request gave (for calls judged before the code is).
NO_CODE = coupon.pretty("2" * 16 + coupon.check_char("2" * 16))
SAPPORO = "011002"


def new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def signed_by(client, auth: requests.auth.AuthBase, path: str, body: dict | None, method: str = "POST"):
    """Sign with a real requests auth (partner or terminal), then send through the app."""
    req = requests.Request(method, "http://localhost" + path, json=body, auth=auth).prepare()
    return client.open(path, method=method, headers=dict(req.headers), data=req.body or b"")


def order_body(order_id: str, member: str, amount: Any, destination: str | None = None) -> dict:
    body = {"order_id": order_id, "member": member, "amount": amount}
    if destination is not None:
        body["destination"] = destination
    return body


@dataclass
class PartnerCo:
    """A partner company as its own server sees itself: its id and private key."""

    world: MyKeyWorld
    partner_id: str
    key: Any

    @property
    def auth(self) -> requests.auth.AuthBase:
        return signing.partner_auth(self.partner_id, self.key)

    def post(self, path: str, body: dict) -> Any:
        return signed_by(self.world.client, self.auth, path, body)

    def post_with(self, client: Any, path: str, body: dict) -> Any:
        """:meth:`post` through ``client`` (a thread's own test client)."""
        return signed_by(client, self.auth, path, body)

    def convert(self, order_id: str, member: str, amount: int, **extra: Any) -> Any:
        return self.post(
            "/partner/v1/conversions", {"order_id": order_id, "member": member, "amount": amount, **extra}
        )

    def convert_batch(self, *orders: tuple) -> Any:
        """One signed batch of (order id, member, amount[, destination]) orders."""
        return self.post("/partner/v1/conversions/batch", {"orders": [order_body(*o) for o in orders]})

    def confirm(self, member: str, link_code: str) -> Any:
        """The member gave the partner ``link_code`` in the partner's own site: the partner confirms."""
        return self.post("/partner/v1/links/confirm", {"member": member, "link_code": link_code})


@dataclass
class Holder:
    card: Card
    mykey_id: str
    members: dict[str, str] = field(default_factory=dict)


def add_partner(world: MyKeyWorld, partner_id: str = "ANA", **extra: Any) -> PartnerCo:
    key = signing.generate_terminal_key()
    body = {
        "client_id": new_id("partner"),
        "partner_id": partner_id,
        "name": extra.pop("name", f"partner {partner_id}"),
        "public_key": signing.public_key_pem(key).decode(),
        **extra,
    }
    r = world.client.post("/v1/partners", json=body, headers=world.operators.central)
    assert r.status_code == 201, r.json
    return PartnerCo(world, partner_id, key)


def holder_post(world: MyKeyWorld, card: Card, purpose: str, path: str, body: dict, action=None) -> Any:
    """A holder's card-proven request (a fresh challenge for ``purpose``)."""
    proof = card.proof(purpose, world.challenge(purpose), action)
    return world.client.post(path, json={**body, "proof": proof})


def new_holder(world: MyKeyWorld, home: str | None = YOKOSUKA) -> Holder:
    card = world.card()
    mykey_id = world.holder.register(card.open, None, home)["mykey_id"]
    return Holder(card, mykey_id)


def link(world: MyKeyWorld, holder: Holder, partner: PartnerCo, member: str, confirm: bool = True) -> Any:
    r = holder_post(
        world,
        holder.card,
        cardproof.PARTNER_LINK,
        "/v1/holder/partner-links",
        {"client_id": new_id("link"), "partner": partner.partner_id, "member": member},
        cardproof.partner_link_action(partner.partner_id, member),
    )
    assert r.status_code == 201, r.json
    if confirm:
        c = partner.confirm(member, r.json["link_code"])
        assert c.status_code == 200, c.json
        assert c.json["status"] == "active"
    holder.members[partner.partner_id] = member
    return r


def redeem(world: MyKeyWorld, holder: Holder, code: str, destination: str | None = None) -> Any:
    body = {"client_id": new_id("redeem"), "code": code}
    if destination:
        body["destination"] = destination
    return holder_post(
        world,
        holder.card,
        cardproof.COUPON,
        "/v1/holder/coupons/redeem",
        body,
        cardproof.coupon_action(code, destination),
    )


def pending(world: MyKeyWorld, holder: Holder) -> dict:
    r = holder_post(world, holder.card, cardproof.CONVERSIONS, "/v1/holder/conversions", {})
    assert r.status_code == 200, r.json
    return r.json


def release(world: MyKeyWorld, as_of: str | None = None) -> dict:
    """``mkp-admin points release-held --as-of`` (default: now)."""
    r = world.client.post(
        "/v1/points/release-held",
        json={"client_id": new_id("release"), "as_of": as_of or datetime.now(UTC).isoformat()},
        headers=world.operators.central,
    )
    assert r.status_code == 201, r.json
    return r.json


def end_holds(world: MyKeyWorld) -> None:
    """The holds end, as they would days later: every conversion on hold is due now."""
    with write(world.app.extensions["mkp.engine"]) as conn:
        conn.execute(
            update(conversions).where(conversions.c.released_at.is_(None)).values(due_at=datetime.now(UTC))
        )


def balances(world: MyKeyWorld, owner: str) -> dict[str, int]:
    with read(world.app.extensions["mkp.engine"]) as conn:
        return ledger.balances(conn, owner)


def verified(world: MyKeyWorld) -> None:
    """The ledger keeps every invariant (what each bad-input test ends with)."""
    r = world.client.get("/v1/ledger/verify", headers=world.operators.central)
    assert r.status_code == 200 and r.json["ok"], r.json


AT_ONCE = 8


def race(work: Callable[[int], object], at_once: int = AT_ONCE) -> list[object]:
    """``work(i)`` in ``at_once`` threads released together: each result, or the code it was refused with."""
    results: list[object] = [None] * at_once
    start = threading.Barrier(at_once)

    def run(i: int) -> None:
        start.wait()
        try:
            results[i] = work(i)
        except MkpError as e:
            results[i] = e.code

    threads = [threading.Thread(target=run, args=(i,)) for i in range(at_once)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


__all__ = ["error_code"]
