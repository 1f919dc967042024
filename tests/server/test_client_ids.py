"""Client ids belong to the caller that sent them: an operator's, a terminal's, a partner's or a
holder's card's id never collides with another caller's or with the ids the server makes for its own bookings
(``srv/conversion:7``); a partner's orders are keyed by partner and order. Both databases."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import pytest
from partners_helpers import add_partner, end_holds, holder_post, new_holder, release, signed_by
from partners_helpers import link as link_member
from points_helpers import DEPARTMENT, YOKOSUKA, error_of, grant, post
from sqlalchemy import select, text
from terminal_helpers import signed

from mkp_core import cardproof, dates
from server.db.engine import read, write
from server.db.tables import idempotency
from server.ledger.accounts import balances
from server.ledger.tables import transfers
from server.partners.tables import conversions
from server.platform.mykey import service_links
from server.platform.operators.service import Operator
from server.points import holders
from server.vouchers.tables import vouchers

CENTRAL = Operator(0, "central", None)


def _balance(engine, owner: str) -> int:
    with read(engine) as conn:
        return balances(conn, owner).get(YOKOSUKA, 0)


def _wallet(engine, mykey_id: str) -> str:
    with read(engine) as conn:
        return holders.find(conn, mykey_id).wallet


def _grant_as(client, headers, client_id: str, mykey_id: str = "HANAKO23", amount: int = 1) -> dict:
    """An operator's own booking, under a client id of its choosing."""
    return grant(client, headers, mykey_id, amount, client_id=client_id)


def _verify_ok(client, headers) -> None:
    report = client.get("/v1/ledger/verify", headers=headers).json
    assert report["ok"], report["breaches"]


# --- one caller's id is not another's ------------------------------------------------------------


def test_the_same_client_id_from_two_operators_is_two_requests(client, engine, town):
    """Two operators that happen to pick one client id: each gets its own grant, and a retry by
    either gets that operator's first answer, showing the id it sent."""
    first = _grant_as(client, town.central, "shared-id-0001", amount=7)
    other = _grant_as(client, town.yokosuka, "shared-id-0001", amount=9)
    again = _grant_as(client, town.central, "shared-id-0001", amount=7)
    assert first["client_id"] == other["client_id"] == "shared-id-0001"
    assert first["id"] != other["id"] and again == first
    assert _balance(engine, _wallet(engine, "HANAKO23")) == 16
    r = client.post(
        "/v1/grants",
        json={
            "client_id": "shared-id-0001",
            "department": DEPARTMENT,
            "mykey_id": "HANAKO23",
            "amount": 8,
            "grant_kind": "childcare",
        },
        headers=town.yokosuka,
    )
    assert error_of(r) == (409, "idempotency_conflict")
    assert "shared-id-0001" in r.json["error"]["message"] and "op:" not in r.json["error"]["message"]
    _verify_ok(client, town.central)


def test_the_same_client_id_from_two_holders_cards_is_two_requests(mykey):
    """Two residents at home whose apps pick one client id: each card's request is its own."""
    first, second = new_holder(mykey), new_holder(mykey)
    answers = [
        holder_post(
            mykey,
            holder.card,
            cardproof.HOME,
            "/v1/holder/home",
            {"client_id": "home-id-0001", "municipality": "011002"},
            cardproof.home_action("011002"),
        )
        for holder in (first, second)
    ]
    assert [(a.status_code, a.json.get("home_municipality")) for a in answers] == [(200, "011002")] * 2
    assert answers[0].json["mykey_id"] != answers[1].json["mykey_id"]


# --- the server's own ids ------------------------------------------------------------------------


@pytest.fixture
def ana(mykey, town):
    """A partner, on the points town (whose operators grant)."""
    return add_partner(mykey, "ANA")


def _next_conversion_id(engine) -> int:
    with read(engine) as conn:
        return int(conn.execute(select(conversions.c.id).order_by(conversions.c.id.desc())).scalars().first())


def test_an_operator_booking_conversion_ids_blocks_no_conversion_nor_its_release(mykey, town, ana, engine):
    """An operator books ``conversion:<next>`` and ``release:<id>`` as its own client ids before
    the partner's conversion and its release: both still happen."""
    holder = new_holder(mykey)
    link_member(mykey, holder, ana, "ANA-0001")
    assert ana.convert("order-0001", "ANA-0001", 100).status_code == 201
    upcoming = _next_conversion_id(engine) + 1
    _grant_as(mykey.client, town.central, f"conversion:{upcoming}")
    _grant_as(mykey.client, town.central, f"premium:{upcoming}")
    r = ana.convert("order-0002", "ANA-0001", 300)
    assert r.status_code == 201, r.json
    assert r.json["conversion_id"] == upcoming
    for conversion in (upcoming - 1, upcoming):
        _grant_as(mykey.client, town.central, f"release:{conversion}")
    end_holds(mykey)
    report = release(mykey, datetime.now(UTC).isoformat())
    assert (report["conversions"], report["points"]) == (2, 400)
    assert _balance(engine, _wallet(engine, holder.mykey_id)) == 400
    _verify_ok(mykey.client, town.central)


def test_an_operator_booking_a_vouchers_redemption_id_blocks_no_redemption(client, engine, vouchers_town):
    """``vrd-<serial>`` booked first by an operator: the shop still redeems the voucher."""
    from test_vouchers_api import _issue, _printed, _redeem, _terminal

    central = vouchers_town.central
    batch = _issue(client, central)
    _printed(client, central, batch)
    with read(engine) as conn:
        (serial,) = conn.execute(select(vouchers.c.serial)).scalars()
    _grant_as(client, central, f"vrd-{serial}")
    shop = _terminal(client, vouchers_town, "yokosuka-shop")
    r = _redeem(client, shop, voucher=batch["vouchers"][0]["text"])
    assert r.status_code == 201, r.json
    assert _balance(engine, "payee:yokosuka-shop") == 500
    _verify_ok(client, central)


def test_a_terminal_booking_a_vouchers_redemption_id_blocks_no_redemption(mykey, vouchers_town, engine):
    """A counter spends a card's points under client id ``vrd-<serial>`` before the voucher of that
    serial is redeemed at a shop: the voucher is still redeemed."""
    from test_counter_api import Counter
    from voucher_offline_helpers import Desk
    from voucher_offline_helpers import vouchers as printed_vouchers

    terminal = mykey.terminal(None)
    ping = signed(mykey.client, terminal.key, terminal.terminal_id, "/v1/terminal/ping")
    counter = Counter(mykey, terminal, ping.json["place"])
    card = mykey.card()
    grant(mykey.client, vouchers_town.central, mykey.register(card)["mykey_id"], 1000)
    (voucher,) = printed_vouchers(mykey.client, vouchers_town.central)
    with read(engine) as conn:
        (serial,) = conn.execute(select(vouchers.c.serial)).scalars()
    spent = counter.post("/spend", counter.spend_body(card, 100, client_id=f"vrd-{serial}"))
    assert spent.status_code == 201 and spent.json["client_id"] == f"vrd-{serial}"
    r = Desk(mykey.client, vouchers_town, "yokosuka-shop").redeem_online(voucher["text"])
    assert r.status_code == 201, r.json
    assert _balance(engine, "payee:yokosuka-shop") == 500
    _verify_ok(mykey.client, vouchers_town.central)


def test_an_operator_booking_a_migration_credit_id_blocks_no_credit(client, engine, town):
    """``migrate-<balance>`` booked first by an operator: the member's migrated balance is still
    credited when they link their number."""
    with write(engine) as conn:
        service_links.add_service(conn, CENTRAL, "A1", "中央商店街", "shopping-street", YOKOSUKA, False)
    data = "会員番号,残高\r\n789,1200\r\n".encode("cp932")
    last_day = (dates.jst_date(datetime.now(UTC)) + timedelta(days=90)).isoformat()
    body = {"service": "A1", "file": base64.b64encode(data).decode(), "claim_until": last_day}
    post(client, town.central, "/v1/migrations", body, 201)
    with read(engine) as conn:
        (balance_id,) = conn.execute(text("SELECT id FROM migration_balances")).scalars()
    _grant_as(client, town.central, f"migrate-{balance_id:08d}", mykey_id="TAROU234")
    with write(engine) as conn:
        service_links.link(conn, holders.find(conn, "HANAKO23"), "A1", "789")
    assert _balance(engine, _wallet(engine, "HANAKO23")) == 1200
    _verify_ok(client, town.central)


# --- a partner's orders --------------------------------------------------------------------------


def test_an_operator_sending_a_partners_order_key_blocks_no_order(mykey, town, ana, engine):
    """An operator's client id ``partner:ANA:order-7`` (the key ANA's order 7 had) first."""
    holder = new_holder(mykey)
    link_member(mykey, holder, ana, "ANA-0007")
    _grant_as(mykey.client, town.central, "partner:ANA:order-7")
    r = ana.convert("order-7", "ANA-0007", 700)
    assert r.status_code == 201, r.json
    assert ana.convert("order-7", "ANA-0007", 700).json == r.json  # its own retry: the first answer
    other = ana.convert("order-7", "ANA-0007", 800)
    assert error_of(other) == (409, "idempotency_conflict")
    assert "order-7" in other.json["error"]["message"] and "p:ANA" not in other.json["error"]["message"]
    with read(engine) as conn:
        keys = set(conn.execute(select(idempotency.c.client_id)).scalars())
    assert "p:ANA/order/order-7" in keys


def test_a_partners_client_id_equal_to_another_partners_order_key_does_not_collide(mykey, town, ana):
    """JAL asks for coupons under client id ``partner:ANA:order-8``; ANA's order 8 still converts."""
    jal = add_partner(mykey, "JAL")
    holder = new_holder(mykey)
    link_member(mykey, holder, ana, "ANA-0008")
    body = {"client_id": "partner:ANA:order-8", "count": 1, "points": 100}
    coupons = signed_by(mykey.client, jal.auth, "/partner/v1/coupons", body)
    assert coupons.status_code == 201, coupons.json
    r = ana.convert("order-8", "ANA-0008", 800)
    assert r.status_code == 201, r.json
    jal_order = jal.convert("order-8", "nobody", 800)  # JAL's own order 8 is JAL's: no prior answer
    assert error_of(jal_order) == (404, error_of(jal_order)[1])


def test_server_made_ids_are_stored_apart_from_every_callers(mykey, town, ana, engine):
    """What the ledger keeps: the server's ids under ``srv/``, an operator's under its own name."""
    holder = new_holder(mykey)
    link_member(mykey, holder, ana, "ANA-0009")
    made = ana.convert("order-9", "ANA-0009", 900).json
    shown = _grant_as(mykey.client, town.central, "my-own-grant-1")
    assert shown["client_id"] == "my-own-grant-1"
    with read(engine) as conn:
        keys = set(conn.execute(select(transfers.c.client_id)).scalars())
    assert f"srv/conversion:{made['conversion_id']}" in keys
    assert any(k.startswith("op:") and k.endswith("/my-own-grant-1") for k in keys)
