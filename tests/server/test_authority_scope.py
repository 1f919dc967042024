"""A municipality's operator stays in its town: every operator endpoint, walked with Sapporo's
token and Yokosuka's objects, refuses (another town's object answers exactly as a missing one)
and changes nothing; and the reproduced attacks on a Yokosuka resident are refused."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from points_helpers import REASON, YOKOSUKA, error_of, grant, new_id, post
from sqlalchemy import select

from mkp_core import signing
from mkp_core.dates import jst_date
from server.db.engine import read, write
from server.db.tables import metadata
from server.points import holders, spending

SAPPORO = "011002"
TODAY = jst_date(datetime.now(UTC)).isoformat()
SOON = (datetime.now(UTC) + timedelta(hours=2)).isoformat()
LATER = (datetime.now(UTC) + timedelta(days=10)).isoformat()
MIGRATION_FILE = base64.b64encode("会員番号,残高\r\n789,1200\r\n".encode("cp932")).decode()
CSV = base64.b64encode(b"mykey_id,amount,grant_kind\nHANAKO23,5,childcare\n").decode()


def operator_endpoints(app: Flask) -> set[tuple[str, str]]:
    """(method, rule) of every endpoint an operator's bearer token opens."""
    guarded = {
        bp
        for bp, funcs in app.before_request_funcs.items()
        if any(f.__name__ == "authenticate_then_limit" for f in funcs)
    }
    return {
        (method, rule.rule)
        for rule in app.url_map.iter_rules()
        if rule.endpoint.rpartition(".")[0] in guarded
        for method in rule.methods - {"HEAD", "OPTIONS"}
    }


def snapshot(engine) -> dict[str, list[str]]:
    """Every row of every table, as text: "nothing changed" is this staying equal."""
    with read(engine) as conn:
        return {
            t.name: sorted(json.dumps(list(r), default=str) for r in conn.execute(select(t)))
            for t in metadata.sorted_tables
        }


@pytest.fixture
def yokosuka(client, engine, vouchers_town) -> dict[str, Any]:
    """Yokosuka's objects of every kind, made by the central operator: ids by name."""
    c = vouchers_town.central
    granted = grant(client, c, "HANAKO23", 1000)
    with write(engine) as conn:  # a resident's spend at the shop's counter
        holder = holders.find(conn, "HANAKO23")
        spent = spending.spend(conn, holder, spending.Spend(new_id("s"), "yokosuka-shop", 100), "terminal:t1")
    post(client, c, f"/v1/municipalities/{YOKOSUKA}/point-codes", {"suffix": "FEST2026", "name": "開国祭"})
    post(client, c, "/v1/events", {"point_code": "142018-FEST2026", "organiser": "yokosuka-library"})
    reward = {"code": "hanabi", "municipality": YOKOSUKA, "name": "花火", "price": 100, "stock": 5}
    post(client, c, "/v1/rewards", {**reward, "starts_at": TODAY + "T00:00:00+09:00", "ends_at": LATER})
    terminal = post(client, c, "/v1/terminals/enrollments", {"place": "yokosuka-museum", "name": "desk"})
    post(client, c, "/v1/places/yokosuka-museum/items", {"code": "ippan", "name": "一般", "price": 500})
    batch = post(client, c, "/v1/vouchers/batches", {"point_code": YOKOSUKA, "amount": 100, "count": 1})
    conntest = post(client, c, "/v1/conntests", {"starts_at": SOON, "municipality": YOKOSUKA})
    key = signing.generate_terminal_key()
    partner = {"partner_id": "ANA", "name": "ANA", "public_key": signing.public_key_pem(key).decode()}
    post(client, c, "/v1/partners", partner)
    coupons = post(client, c, "/v1/partners/ANA/coupons", {"count": 1, "points": 100})
    voucher_key = client.get("/v1/voucher-keys", headers=c).json["keys"][0]["key_id"]
    return {
        "grant": granted["id"],
        "spend": spent["id"],
        "terminal": terminal["terminal_id"],
        "serial": batch["vouchers"][0]["serial"],
        "conntest": conntest["id"],
        "coupon_batch": coupons["batch_id"],
        "coupon": coupons["codes"][0],
        "voucher_key": voucher_key,
    }


# (method, rule, path, body or query, status, code); a 200 is a list that must show none of
# Yokosuka's objects. ``{name}`` in a path or body is an id from the ``yokosuka`` fixture.
WALK: list[tuple[str, str, str, dict[str, Any] | None, int, str | None]] = [
    ("POST", "/v1/agreements", "", {"points_of": YOKOSUKA, "usable_in": SAPPORO, "by": YOKOSUKA}, 403, "out_of_scope"),
    ("GET", "/v1/agreements", "", None, 200, None),
    ("GET", "/v1/audit", f"/v1/audit?municipality={YOKOSUKA}", None, 403, "out_of_scope"),
    ("POST", "/v1/agreements/end", "", {"points_of": YOKOSUKA, "usable_in": SAPPORO, "by": YOKOSUKA}, 403, "out_of_scope"),
    ("POST", "/v1/conntests", "", {"starts_at": SOON, "municipality": YOKOSUKA}, 403, "out_of_scope"),
    ("GET", "/v1/conntests", "", None, 200, None),
    ("GET", "/v1/conntests/<test_id>", "/v1/conntests/{conntest}", None, 404, "unknown_conntest"),
    ("GET", "/v1/conntests/<test_id>/report", "/v1/conntests/{conntest}/report", None, 404, "unknown_conntest"),
    ("POST", "/v1/coupon-batches/<batch_id>/cancel", "/v1/coupon-batches/{coupon_batch}/cancel", {}, 403, "central_operator_only"),
    ("POST", "/v1/coupons/cancel", "", {"code": "{coupon}"}, 403, "central_operator_only"),
    ("POST", "/v1/crls", "", {"crl": "x"}, 403, "central_operator_only"),
    ("GET", "/v1/crls", "", None, 404, "no_crl"),  # J-LIS's CRL, no town's: none uploaded here
    ("GET", "/v1/departments/<department>", "/v1/departments/142018-kosodate", None, 404, "unknown_department"),
    ("POST", "/v1/departments/<department>/budget", "/v1/departments/142018-kosodate/budget", {"budget": 5}, 404, "unknown_department"),
    ("POST", "/v1/departments/<department>/grant-kinds", "/v1/departments/142018-kosodate/grant-kinds", {"code": "x", "name": "x"}, 404, "unknown_department"),
    ("POST", "/v1/events", "", {"point_code": "142018-FEST2026", "organiser": "yokosuka-library"}, 403, "out_of_scope"),
    ("GET", "/v1/events", "", None, 200, None),
    ("POST", "/v1/events/<point_code>/handover", "/v1/events/142018-FEST2026/handover", {}, 404, "unknown_event"),
    ("GET", "/v1/events/<point_code>/report", "/v1/events/142018-FEST2026/report", None, 404, "unknown_event"),
    ("POST", "/v1/events/<point_code>/supports", "/v1/events/142018-FEST2026/supports", {"mykey_id": "HANAKO23", "amount": 1, "reason": REASON}, 403, "out_of_scope"),
    ("POST", "/v1/grant-batches", "", {"department": "142018-kosodate", "file": CSV}, 404, "unknown_department"),
    ("POST", "/v1/grants", "", {"department": "142018-kosodate", "mykey_id": "HANAKO23", "amount": 5, "grant_kind": "childcare"}, 404, "unknown_department"),
    ("GET", "/v1/ledger/verify", "", None, 403, "central_operator_only"),
    ("POST", "/v1/migrations", "", {"service": "KQBUS", "file": MIGRATION_FILE, "claim_until": LATER[:10]}, 404, "unknown_service"),
    ("GET", "/v1/migrations/<service>", "/v1/migrations/KQBUS", None, 404, "unknown_service"),
    ("POST", "/v1/municipalities", "", {"code": "131016"}, 403, "central_operator_only"),
    ("GET", "/v1/municipalities", "", None, 200, None),
    ("GET", "/v1/municipalities/<code>", f"/v1/municipalities/{YOKOSUKA}", None, 403, "out_of_scope"),
    ("GET", "/v1/municipality-applications", "", None, 403, "central_operator_only"),
    ("POST", "/v1/municipality-applications/<int:application_id>/approve", "/v1/municipality-applications/1/approve", {}, 403, "central_operator_only"),
    ("POST", "/v1/municipality-applications/<int:application_id>/reject", "/v1/municipality-applications/1/reject", {}, 403, "central_operator_only"),
    ("POST", "/v1/municipalities/<code>/departments", f"/v1/municipalities/{YOKOSUKA}/departments", {"code": "kanko", "name": "x", "budget": 1}, 403, "out_of_scope"),
    ("GET", "/v1/municipalities/<code>/departments", f"/v1/municipalities/{YOKOSUKA}/departments", None, 403, "out_of_scope"),
    ("POST", "/v1/municipalities/<code>/point-codes", f"/v1/municipalities/{YOKOSUKA}/point-codes", {"suffix": "X", "name": "x"}, 403, "out_of_scope"),
    ("GET", "/v1/municipalities/<code>/point-codes", f"/v1/municipalities/{YOKOSUKA}/point-codes", None, 403, "out_of_scope"),
    ("GET", "/v1/mykeys/<mykey_id>", "/v1/mykeys/HANAKO23", None, 404, "unknown_mykey"),
    ("GET", "/v1/mykeys/<mykey_id>/balances", "/v1/mykeys/HANAKO23/balances", None, 404, "unknown_mykey"),
    ("GET", "/v1/mykeys/<mykey_id>/conversions", "/v1/mykeys/HANAKO23/conversions", None, 404, "unknown_mykey"),
    ("POST", "/v1/mykeys/<mykey_id>/renewal-codes", "/v1/mykeys/HANAKO23/renewal-codes", {}, 404, "unknown_mykey"),
    ("POST", "/v1/mykeys/<mykey_id>/resume", "/v1/mykeys/HANAKO23/resume", {}, 404, "unknown_mykey"),
    ("POST", "/v1/mykeys/<mykey_id>/suspend", "/v1/mykeys/HANAKO23/suspend", {"reason": "lost"}, 404, "unknown_mykey"),
    ("GET", "/v1/offline-exceptions", "/v1/offline-exceptions?place=yokosuka-museum", None, 404, "unknown_place"),
    ("POST", "/v1/partners", "", {"partner_id": "JAL", "name": "JAL", "public_key": "x"}, 403, "central_operator_only"),
    ("GET", "/v1/partners", "", None, 200, None),  # nationwide companies, no town's
    ("POST", "/v1/partners/<partner_id>/campaigns", "/v1/partners/ANA/campaigns", {"name": "x", "percent": 10, "starts_at": SOON, "ends_at": LATER, "budget": 10, "funded_by": "municipality", "municipality": YOKOSUKA}, 403, "out_of_scope"),
    ("GET", "/v1/partners/<partner_id>/campaigns", "/v1/partners/ANA/campaigns", None, 200, None),
    ("POST", "/v1/partners/<partner_id>/coupons", "/v1/partners/ANA/coupons", {"count": 1, "points": 1}, 403, "central_operator_only"),
    ("POST", "/v1/partners/<partner_id>/revoke", "/v1/partners/ANA/revoke", {}, 403, "central_operator_only"),
    ("POST", "/v1/places", "", {"place_id": "new-place", "name": "x", "kind": "shop", "municipality": YOKOSUKA}, 403, "out_of_scope"),
    ("GET", "/v1/places", "", None, 200, None),
    ("POST", "/v1/places/<place_id>/items", "/v1/places/yokosuka-museum/items", {"code": "x", "name": "x", "price": 1}, 404, "unknown_place"),
    ("GET", "/v1/places/<place_id>/items", "/v1/places/yokosuka-museum/items", None, 404, "unknown_place"),
    ("POST", "/v1/places/<place_id>/items/<code>/remove", "/v1/places/yokosuka-museum/items/ippan/remove", {}, 404, "unknown_place"),
    ("POST", "/v1/point-codes/<point_code>/rules", f"/v1/point-codes/{YOKOSUKA}/rules", {}, 403, "out_of_scope"),
    ("GET", "/v1/point-codes/<point_code>/rules", f"/v1/point-codes/{YOKOSUKA}/rules", None, 403, "out_of_scope"),
    ("POST", "/v1/points/expire", "", {"as_of": TODAY, "municipality": YOKOSUKA}, 403, "out_of_scope"),
    ("POST", "/v1/points/release-held", "", {"as_of": TODAY}, 403, "central_operator_only"),
    ("POST", "/v1/releases", "", {"manifest": "eA==", "signature": "eA==", "files": {"a": "eA=="}}, 403, "central_operator_only"),
    ("GET", "/v1/releases", "", None, 200, None),
    ("POST", "/v1/releases/<version>/withdraw", "/v1/releases/1.0.0/withdraw", {}, 403, "central_operator_only"),
    ("GET", "/v1/reports/grants", f"/v1/reports/grants?municipality={YOKOSUKA}&from_date={TODAY}&to_date={TODAY}", None, 403, "out_of_scope"),
    ("POST", "/v1/rewards", "", {"code": "x", "municipality": YOKOSUKA, "name": "x", "price": 1, "stock": 1, "starts_at": SOON, "ends_at": LATER}, 403, "out_of_scope"),
    ("GET", "/v1/rewards", "", None, 200, None),
    ("POST", "/v1/rewards/<code>/claims", "/v1/rewards/hanabi/claims", {"mykey_id": "HANAKO23", "reason": REASON}, 403, "out_of_scope"),
    ("GET", "/v1/rewards/<code>/claims", "/v1/rewards/hanabi/claims", None, 404, "unknown_reward"),
    ("POST", "/v1/services", "", {"code": "ZZ8", "name": "x", "kind": "shopping-street", "municipality": YOKOSUKA}, 403, "out_of_scope"),
    ("GET", "/v1/services", "", None, 200, None),
    ("POST", "/v1/settlement/close", "", {"period": "2026-01", "municipality": YOKOSUKA}, 403, "out_of_scope"),
    ("GET", "/v1/settlement/closes", "", None, 200, None),
    ("GET", "/v1/settlement/statements", f"/v1/settlement/statements?period=2026-01&municipality={YOKOSUKA}", None, 403, "out_of_scope"),
    ("POST", "/v1/staff-invitations", "", {"municipality": YOKOSUKA, "role": "viewer"}, 403, "out_of_scope"),
    ("POST", "/v1/spends", "", {"mykey_id": "HANAKO23", "place": "yokosuka-shop", "amount": 1, "reason": REASON}, 403, "out_of_scope"),
    ("POST", "/v1/spends/<int:transfer_id>/refund", "/v1/spends/{spend}/refund", {}, 404, "unknown_transfer"),
    ("GET", "/v1/terminal-status", "", None, 200, None),
    ("GET", "/v1/terminals", "", None, 200, None),
    ("GET", "/v1/terminals/<terminal_id>", "/v1/terminals/{terminal}", None, 404, "unknown_terminal"),
    ("POST", "/v1/terminals/<terminal_id>/revoke", "/v1/terminals/{terminal}/revoke", {}, 404, "unknown_terminal"),
    ("POST", "/v1/terminals/enrollments", "", {"place": "yokosuka-museum", "name": "x"}, 404, "unknown_place"),
    ("POST", "/v1/transfers/<int:transfer_id>/reverse", "/v1/transfers/{grant}/reverse", {}, 404, "unknown_transfer"),
    ("GET", "/v1/transit/<place_id>/daily", f"/v1/transit/keikyu-bus/daily?date={TODAY}", None, 404, "unknown_place"),
    ("POST", "/v1/transit/exchanges", "", {"mykey_id": "HANAKO23", "place": "keikyu-bus", "amount": 1, "reason": REASON}, 403, "out_of_scope"),
    ("GET", "/v1/voucher-keys", "", None, 403, "central_operator_only"),
    ("POST", "/v1/voucher-keys/<key_id>/void-unused", "/v1/voucher-keys/{voucher_key}/void-unused", {}, 403, "central_operator_only"),
    ("POST", "/v1/voucher-keys/<key_id>/withdraw", "/v1/voucher-keys/{voucher_key}/withdraw", {}, 403, "central_operator_only"),
    ("POST", "/v1/voucher-keys/rotate", "", {}, 403, "central_operator_only"),
    ("GET", "/v1/vouchers/<serial>", "/v1/vouchers/{serial}", None, 404, "unknown_voucher"),
    ("POST", "/v1/vouchers/<serial>/reprint", "/v1/vouchers/{serial}/reprint", {}, 404, "unknown_voucher"),
    ("POST", "/v1/vouchers/batches", "", {"point_code": YOKOSUKA, "amount": 1}, 403, "out_of_scope"),
    ("POST", "/v1/vouchers/phone-links", "", {"place": "yokosuka-shop"}, 404, "unknown_place"),
    ("POST", "/v1/vouchers/phone-links/revoke", "", {"place": "yokosuka-shop"}, 404, "unknown_place"),
    ("POST", "/v1/vouchers/printed", "", {"serials": ["{serial}"]}, 404, "unknown_voucher"),
    ("POST", "/v1/vouchers/void", "", {"serials": ["{serial}"]}, 404, "unknown_voucher"),
]  # fmt: skip

#: What a Yokosuka object's id is in a list's reply (a Sapporo list must show none of them).
LISTED = ("yokosuka-", "142018-FEST2026", "hanabi", "KQBUS", "142018-kosodate")


def filled(template: Any, ids: dict[str, Any]) -> Any:
    text = json.dumps(template, ensure_ascii=False)
    for name, value in ids.items():
        text = text.replace("{" + name + "}", str(value))
    return json.loads(text)


def call(client, method: str, path: str, body: dict | None, headers: dict):
    if method == "GET":
        return client.get(path, headers=headers)
    return client.post(path, json={"client_id": new_id("walk"), **(body or {})}, headers=headers)


def test_every_operator_endpoint_is_walked(app):
    assert {(m, rule) for m, rule, *_ in WALK} == operator_endpoints(app)


def test_another_towns_token_is_refused_everywhere_and_changes_nothing(client, engine, town, yokosuka):
    """Sapporo's desk, given every Yokosuka id there is, reaches nothing and changes nothing."""
    before = snapshot(engine)
    for method, rule, path, body, status, code in WALK:
        url = filled(path or rule, yokosuka)
        r = call(client, method, url, filled(body, yokosuka) if body else body, town.sapporo)
        if status == 200:
            assert r.status_code == 200, (rule, r.json)
            assert not any(listed in r.get_data(as_text=True) for listed in LISTED), (rule, r.json)
        else:
            assert error_of(r) == (status, code), (method, rule, r.json)
    assert snapshot(engine) == before


#: A 404 of another town's object and of a missing one, side by side: (path or body, the id, a missing id).
TWINS = [
    ("GET", "/v1/departments/142018-kosodate", None, "142018-kosodate", "142018-nowhere"),
    ("GET", "/v1/events/142018-FEST2026/report", None, "142018-FEST2026", "142018-NOFEST"),
    ("GET", "/v1/rewards/hanabi/claims", None, "hanabi", "no-hanabi"),
    ("GET", "/v1/places/yokosuka-museum/items", None, "yokosuka-museum", "nowhere-museum"),
    ("GET", "/v1/terminals/{terminal}", None, "{terminal}", "t000000000000"),
    ("GET", "/v1/conntests/{conntest}", None, "{conntest}", "999999"),
    ("GET", "/v1/mykeys/HANAKO23", None, "HANAKO23", "ZZZZZZZZ"),
    ("GET", "/v1/mykeys/HANAKO23/balances", None, "HANAKO23", "ZZZZZZZZ"),
    ("POST", "/v1/mykeys/HANAKO23/renewal-codes", {}, "HANAKO23", "ZZZZZZZZ"),
    ("POST", "/v1/transfers/{grant}/reverse", {}, "{grant}", "999999"),
    ("POST", "/v1/spends/{spend}/refund", {}, "{spend}", "999999"),
    ("GET", "/v1/migrations/KQBUS", None, "KQBUS", "ZZ9"),
    ("POST", "/v1/grants", {"department": "142018-kosodate", "mykey_id": "HANAKO23", "amount": 5, "grant_kind": "childcare"}, "142018-kosodate", "142018-nowhere"),
]  # fmt: skip


def test_another_towns_object_answers_word_for_word_as_a_missing_one(client, town, yokosuka):
    for method, path, body, theirs, missing in TWINS:
        theirs = filled(theirs, yokosuka)
        url = filled(path, yokosuka)
        hidden = call(client, method, url, filled(body, yokosuka) if body else body, town.sapporo)
        twin_body = json.loads(json.dumps(filled(body, yokosuka)).replace(theirs, missing)) if body else body
        head, _, tail = url.rpartition(theirs)  # the id, not a "1" of "/v1"
        absent = call(
            client, method, head + missing + tail if theirs in url else url, twin_body, town.central
        )
        assert hidden.status_code == absent.status_code == 404, (path, hidden.json, absent.json)
        shown, gone = hidden.json["error"], absent.json["error"]
        assert set(shown) == set(gone) and shown["code"] == gone["code"], path
        assert shown["message"].replace(theirs, "X") == gone["message"].replace(missing, "X"), path


def test_a_town_still_reaches_its_own_residents_and_objects(client, town, yokosuka):
    y = town.yokosuka
    assert client.get("/v1/mykeys/HANAKO23", headers=y).json["mykey_id"] == "HANAKO23"
    assert client.get("/v1/mykeys/HANAKO23/balances", headers=y).json["balances"][0]["balance"] == 900
    assert client.get(f"/v1/terminals/{yokosuka['terminal']}", headers=y).status_code == 200
    assert client.get("/v1/places/yokosuka-museum/items", headers=y).status_code == 200
    assert client.get("/v1/events/142018-FEST2026/report", headers=y).status_code == 200
    refunded = client.post(f"/v1/spends/{yokosuka['spend']}/refund", json={"client_id": new_id()}, headers=y)
    assert refunded.status_code == 201, refunded.json
    code = client.post("/v1/mykeys/HANAKO23/renewal-codes", json={"client_id": new_id()}, headers=y)
    assert code.status_code == 201 and code.json["code"]
