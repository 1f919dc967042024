"""A withdrawn voucher key's unused vouchers: withdrawing reports them; void-unused voids
them all, their points going back where they came from, and lists the serials; each can then be
reprinted once under a good key for whoever brings the old paper. Both databases."""

from __future__ import annotations

import pytest
from points_helpers import YOKOSUKA, error_of, new_id, post
from voucher_offline_helpers import Desk, balance, exceptions, ledger_ok, vouchers

LIABILITY = f"voucher:{YOKOSUKA}"


@pytest.fixture
def vouchers_town(client, town):
    """Vouchers of 横須賀市 taken at shops only (not the conftest's shops and museums)."""
    post(
        client, town.central, f"/v1/point-codes/{YOKOSUKA}/rules", {"vouchers": True, "place_kinds": ["shop"]}
    )
    return town


def _key_of(client, headers, serial: str) -> str:
    return client.get(f"/v1/vouchers/{serial}", headers=headers).json["key_id"]


def test_withdraw_reports_void_unused_returns_the_points_and_lists_what_to_reprint(
    client, engine, vouchers_town
):
    central = vouchers_town.central
    used, kept, lost = vouchers(client, central, count=3, amount=500)
    unprinted = post(
        client, central, "/v1/vouchers/batches", {"point_code": YOKOSUKA, "amount": 200, "count": 1}, 201
    )["vouchers"][0]
    key_id = _key_of(client, central, used["serial"])
    shop = Desk(client, vouchers_town, "yokosuka-shop")
    queued = shop.entry(kept["text"])  # taken offline before the withdrawal
    assert shop.redeem_online(used["text"]).status_code == 201
    before = balance(engine, f"muni:{YOKOSUKA}")
    not_yet = client.post(
        f"/v1/voucher-keys/{key_id}/void-unused", json={"client_id": new_id()}, headers=central
    )
    assert error_of(not_yet) == (409, "voucher_key_not_withdrawn")
    withdrawn = post(client, central, f"/v1/voucher-keys/{key_id}/withdraw", {"reason": "leaked"}, 200)
    assert (withdrawn["outstanding"], withdrawn["outstanding_points"]) == (3, 1200)
    body = {"client_id": new_id("void")}
    voided = post(client, central, f"/v1/voucher-keys/{key_id}/void-unused", body, 200)
    assert (voided["voided"], voided["points_returned"]) == (3, 1200)
    assert sorted(voided["serials"]) == sorted(v["serial"] for v in (kept, lost, unprinted))
    assert balance(engine, LIABILITY) == 0 and balance(engine, f"muni:{YOKOSUKA}") == before + 1200
    assert post(client, central, f"/v1/voucher-keys/{key_id}/void-unused", body, 200) == voided  # a retry
    again = post(client, central, f"/v1/voucher-keys/{key_id}/void-unused", {}, 200)
    assert (again["voided"], again["serials"]) == (0, [])
    for v in (kept, lost):
        shown = client.get(f"/v1/vouchers/{v['serial']}", headers=central).json
        assert (shown["status"], shown["void_reason"]) == ("voided", "key_withdrawn")
    assert client.get(f"/v1/vouchers/{used['serial']}", headers=central).json["status"] == "redeemed"
    (late,) = shop.sync(queued)  # the offline one: an exception, not paid twice
    assert late["error"]["code"] in {"voucher_voided", "voucher_key_withdrawn"}
    assert exceptions(client, central)[0]["voucher"] == kept["serial"]
    ledger_ok(client, central)


def test_a_voided_voucher_of_a_withdrawn_key_is_reprinted_once(client, engine, vouchers_town):
    central = vouchers_town.central
    (old,) = vouchers(client, central, amount=700)
    key_id = _key_of(client, central, old["serial"])
    post(client, central, "/v1/voucher-keys/rotate", {}, 201)
    post(client, central, f"/v1/voucher-keys/{key_id}/withdraw", {}, 200)
    post(client, central, f"/v1/voucher-keys/{key_id}/void-unused", {}, 200)
    new = post(client, central, f"/v1/vouchers/{old['serial']}/reprint", {}, 201)
    assert new["replaces"] == old["serial"] and new["key_id"] != key_id
    assert balance(engine, LIABILITY) == 700  # paid again from the municipality, for the new paper
    twice = client.post(
        f"/v1/vouchers/{old['serial']}/reprint", json={"client_id": new_id()}, headers=central
    )
    assert error_of(twice) == (409, "voucher_voided")
    post(client, central, "/v1/vouchers/printed", {"serials": [new["vouchers"][0]["serial"]]}, 200)
    shop = Desk(client, vouchers_town, "yokosuka-shop")
    assert error_of(shop.redeem_online(old["text"])) == (422, "voucher_key_withdrawn")
    assert shop.redeem_online(new["vouchers"][0]["text"]).status_code == 201
    ledger_ok(client, central)


def test_void_unused_refuses_what_it_cannot_do(client, vouchers_town):
    central = vouchers_town.central
    (v,) = vouchers(client, central)
    key_id = _key_of(client, central, v["serial"])
    unknown = client.post(
        "/v1/voucher-keys/00000000/void-unused", json={"client_id": new_id()}, headers=central
    )
    assert error_of(unknown) == (404, "unknown_voucher_key")
    scoped = client.post(
        f"/v1/voucher-keys/{key_id}/void-unused", json={"client_id": new_id()}, headers=vouchers_town.yokosuka
    )
    assert error_of(scoped) == (403, "central_operator_only")
    bad = client.post("/v1/voucher-keys/nothex!/void-unused", json={"client_id": new_id()}, headers=central)
    assert bad.status_code in (404, 422)
    reprint_open = client.post(
        f"/v1/vouchers/{v['serial']}/reprint", json={"client_id": new_id()}, headers=central
    )
    assert reprint_open.status_code == 201  # an ordinary reprint still voids first
