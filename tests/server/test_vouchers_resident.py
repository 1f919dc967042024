"""A resident turns points into a voucher at a street-office terminal, with their card:
the card consents to the voucher, the wallet pays from its earliest-expiring lots, the voucher
expires no later than them, and a failed print gives the very lots back."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from terminal_helpers import error_code

from mkp_core import cardproof
from mkp_core.dates import last_valid_day
from server import ledger
from server.db.engine import read, write
from server.ledger.lots import open_lots
from server.ledger.tables import accounts
from server.platform.mykey import registry

YOKOSUKA = "142018"


@pytest.fixture
def office(mykey):
    """A holder with two lots of 横須賀市 points (one expiring in 10 days, one in 100), vouchers
    allowed, and a street-office terminal."""
    card = mykey.card()
    mykey_id = mykey.register(card)["mykey_id"]
    r = mykey.client.post(
        f"/v1/point-codes/{YOKOSUKA}/rules",
        json={"client_id": "rule-vouchers", "vouchers": True},
        headers=mykey.operators.central,
    )
    assert r.status_code == 201, r.json
    engine = mykey.app.extensions["mkp.engine"]
    now = datetime.now(UTC)
    with write(engine) as conn:
        holder = registry.find(conn, mykey_id)
        for n, days in ((1, 100), (2, 10)):
            ledger.transfer(
                conn,
                ledger.TransferRequest(
                    f"grant-lot-{n}",
                    YOKOSUKA,
                    f"muni:{YOKOSUKA}",
                    holder.wallet,
                    1000,
                    "grant",
                    expires_at=now + timedelta(days=days),
                ),  # fmt: skip
                "test",
            )
    return card, holder, mykey.terminal(None), engine


def _issue(mykey, terminal, card, amount, client_id, signed_amount=None):
    challenge = terminal.post(
        mykey.client, "/v1/terminal/mykey/challenges", {"purpose": cardproof.VOUCHER}
    ).json
    action = cardproof.voucher_action(client_id, signed_amount or amount, None)
    proof = card.proof(cardproof.VOUCHER, challenge["challenge"], action)
    body = {"client_id": client_id, "amount": amount, "proof": proof}
    return terminal.post(mykey.client, "/v1/terminal/vouchers/issue", body)


def _lots(engine, holder):
    with read(engine) as conn:
        account = conn.execute(
            select(accounts.c.id).where(accounts.c.owner == holder.wallet, accounts.c.point_code == YOKOSUKA)
        ).scalar_one()
        return [amount for _, amount in open_lots(conn, [account])[account]]


def test_a_card_holder_gets_a_voucher_from_the_earliest_lots(mykey, office):
    card, holder, terminal, engine = office
    r = _issue(mykey, terminal, card, 1500, "resident-voucher-1")
    assert r.status_code == 201, r.json
    voucher = r.json["vouchers"][0]
    assert r.json["source"] == holder.wallet and voucher["amount"] == 1500
    assert _lots(engine, holder) == [500]  # the lot expiring in 10 days went first, then 500 of the other
    soonest = datetime.now(UTC) + timedelta(days=10)
    assert voucher["last_day"] <= last_valid_day(soonest).isoformat()
    printed = terminal.post(
        mykey.client,
        "/v1/terminal/vouchers/printed",
        {"client_id": "printed-0001", "serials": [voucher["serial"]]},
    )
    assert printed.status_code == 200, printed.json


def test_a_failed_print_gives_the_very_lots_back(mykey, office):
    card, holder, terminal, engine = office
    voucher = _issue(mykey, terminal, card, 1200, "resident-voucher-2").json["vouchers"][0]
    assert sorted(_lots(engine, holder)) == [800]
    void = {"client_id": "void-0001", "serials": [voucher["serial"]], "reason": "print_failed"}
    r = terminal.post(mykey.client, "/v1/terminal/vouchers/void", void)
    assert r.status_code == 200 and r.json["points_returned"] == 1200, r.json
    assert sorted(_lots(engine, holder)) == [1000, 1000]
    other = mykey.terminal(None)
    assert error_code(
        other.post(mykey.client, "/v1/terminal/vouchers/void", {**void, "client_id": "void-0002"})
    ) == (
        403,
        "not_your_voucher",
    )
    report = mykey.client.get("/v1/ledger/verify", headers=mykey.operators.central).json
    assert report["ok"], report["breaches"]


def test_the_card_consents_to_this_amount_only(mykey, office):
    card, holder, terminal, engine = office
    r = _issue(mykey, terminal, card, 1500, "resident-voucher-3", signed_amount=100)
    assert error_code(r) == (401, "bad_card_signature")
    assert sorted(_lots(engine, holder)) == [1000, 1000]
    too_much = _issue(mykey, terminal, card, 2500, "resident-voucher-4")
    assert error_code(too_much) == (409, "insufficient_points")
    assert sorted(_lots(engine, holder)) == [1000, 1000]
