"""Municipal points over the HTTP API as operators and shops use them (in-process, both databases):
rules and agreements deciding where points go, picking the code, price lists, suspended IDs,
event pools, special rewards, the transit exchange."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from points_helpers import (
    DEPARTMENT,
    REASON,
    SAPPORO,
    YOKOSUKA,
    balances,
    error_of,
    grant,
    new_id,
    observed,
    post,
    spend,
    try_spend,
)

from mkp_core.dates import jst_date
from server.db.engine import write
from server.platform.mykey import registry, service_links


def rule(client, headers, code=YOKOSUKA, status=201, **body):
    r = client.post(f"/v1/point-codes/{code}/rules", json={"client_id": new_id("r"), **body}, headers=headers)
    assert r.status_code == status, r.json
    return r.json


def test_rules_decide_where_points_may_be_spent(client, town):
    c = town.central
    grant(client, c, "HANAKO23", 5000)
    # No rule recorded: every place of Yokosuka, nowhere else.
    spend(client, c, "HANAKO23", "yokosuka-shop", amount=10)
    for place in ("tokyo-antenna", "sapporo-shop"):
        assert error_of(try_spend(client, c, "HANAKO23", place, amount=10)) == (403, "not_allowed_here")
    # Museums of Yokosuka, and the antenna shop in Tokyo, listed by name.
    rule(client, c, place_kinds=["museum"], places=["tokyo-antenna"], max_amount=3000)
    spend(client, c, "HANAKO23", "yokosuka-museum", amount=10)
    spend(client, c, "HANAKO23", "tokyo-antenna", amount=10)
    assert error_of(try_spend(client, c, "HANAKO23", "yokosuka-shop", amount=10)) == (403, "not_allowed_here")
    # A change from tomorrow is recorded, and does not apply yet.
    tomorrow = (datetime.now(UTC) + timedelta(days=2)).date().isoformat()
    rule(client, c, place_kinds=["shop"], effective_from=tomorrow)
    listed = client.get(f"/v1/point-codes/{YOKOSUKA}/rules", headers=c).json
    assert listed["in_force"]["place_kinds"] == ["museum"] and listed["in_force"]["places"] == [
        "tokyo-antenna"
    ]
    assert [v["place_kinds"] for v in listed["versions"]] == [["museum"], ["shop"]]
    assert observed(client, c)[-1] is True


def test_points_of_one_city_in_another_need_both_to_agree(client, town):
    c = town.central
    grant(client, c, "HANAKO23", 1000)

    def at_sapporo():
        return try_spend(client, c, "HANAKO23", "sapporo-shop", amount=100, point_code=YOKOSUKA)

    assert error_of(at_sapporo()) == (403, "not_allowed_here")
    sides = {"points_of": YOKOSUKA, "usable_in": SAPPORO}
    wrong_side = client.post(
        "/v1/agreements", json={"client_id": new_id(), **sides, "by": SAPPORO}, headers=town.yokosuka
    )
    assert error_of(wrong_side) == (403, "out_of_scope")
    first = post(client, town.yokosuka, "/v1/agreements", {**sides, "by": YOKOSUKA}, 200)
    assert first["in_force"] is False and error_of(at_sapporo()) == (403, "not_allowed_here")
    second = post(client, town.sapporo, "/v1/agreements", {**sides, "by": SAPPORO}, 200)
    assert second["in_force"] is True
    assert at_sapporo().status_code == 201
    post(client, town.sapporo, "/v1/agreements/end", {**sides, "by": SAPPORO}, 200)
    assert error_of(at_sapporo()) == (403, "not_allowed_here")
    assert balances(client, c, "HANAKO23")[YOKOSUKA]["balance"] == 900


def test_the_code_expiring_first_is_picked_when_none_is_named(client, town):
    c = town.central
    post(
        client,
        c,
        f"/v1/municipalities/{YOKOSUKA}/point-codes",
        {"suffix": "FEST2026", "name": "よこすか開国祭"},
    )
    post(
        client,
        c,
        f"/v1/municipalities/{YOKOSUKA}/departments",
        {"code": "kanko", "name": "観光課", "budget": 10_000, "point_code": "142018-FEST2026"},
    )
    post(client, c, "/v1/departments/142018-kanko/grant-kinds", {"code": "visit", "name": "来場"})
    rule(client, c, code="142018-FEST2026", expiry={"policy": "days", "count": 7})
    grant(client, c, "HANAKO23", 1000)  # never expires
    post(
        client,
        c,
        "/v1/grants",
        {"department": "142018-kanko", "mykey_id": "HANAKO23", "amount": 300, "grant_kind": "visit"},
        201,
    )
    first = spend(client, c, "HANAKO23", "yokosuka-shop", amount=200)
    assert first["point_code"] == "142018-FEST2026"  # the festival's points expire in a week
    second = spend(client, c, "HANAKO23", "yokosuka-shop", amount=150)
    assert second["point_code"] == YOKOSUKA  # 100 festival points left: not enough for 150
    named = spend(client, c, "HANAKO23", "yokosuka-shop", amount=50, point_code=YOKOSUKA)
    assert named["point_code"] == YOKOSUKA
    held = balances(client, c, "HANAKO23")
    assert (held["142018-FEST2026"]["spendable"], held[YOKOSUKA]["spendable"]) == (100, 800)
    assert held["142018-FEST2026"]["next_expiry"]["amount"] == 100


def test_a_spend_may_name_an_item_of_the_price_list(client, town):
    c = town.central
    grant(client, c, "HANAKO23", 2000)
    post(client, c, "/v1/places/yokosuka-museum/items", {"code": "ippan", "name": "一般", "price": 500}, 200)
    prices = post(
        client, c, "/v1/places/yokosuka-museum/items", {"code": "koukou", "name": "高校生", "price": 300}, 200
    )
    assert [(i["name"], i["price"]) for i in prices["items"]] == [("一般", 500), ("高校生", 300)]
    paid = spend(client, c, "HANAKO23", "yokosuka-museum", item="ippan", quantity=2)
    assert (paid["amount"], paid["memo"], paid["item"]["name"]) == (1000, f"correction: {REASON}", "一般")
    mismatch = try_spend(client, c, "HANAKO23", "yokosuka-museum", item="koukou", amount=200)
    assert error_of(mismatch) == (422, "amount_mismatch")
    assert error_of(try_spend(client, c, "HANAKO23", "yokosuka-museum", item="senior")) == (
        404,
        "unknown_item",
    )
    post(client, c, "/v1/places/yokosuka-museum/items/koukou/remove", {}, 200)
    assert [i["code"] for i in client.get("/v1/places/yokosuka-museum/items", headers=c).json["items"]] == [
        "ippan"
    ]
    assert balances(client, c, "HANAKO23")[YOKOSUKA]["balance"] == 1000


def test_a_suspended_id_gets_points_but_cannot_spend_them(client, engine, town):
    c = town.central
    grant(client, c, "TAROU234", 500)
    with write(engine) as conn:
        registry.suspend(conn, registry.find(conn, "TAROU234"), "operator:central", "lost")
    grant(client, c, "TAROU234", 500)  # grants are fine
    assert error_of(try_spend(client, c, "TAROU234", "yokosuka-shop", amount=10)) == (403, "mykey_suspended")
    assert balances(client, c, "TAROU234")[YOKOSUKA]["balance"] == 1000


def test_an_event_pool_is_supported_reported_and_handed_over(client, town):
    c = town.central
    post(
        client, c, f"/v1/municipalities/{YOKOSUKA}/point-codes", {"suffix": "UNIFEST", "name": "横須賀大学祭"}
    )
    post(
        client,
        c,
        f"/v1/municipalities/{YOKOSUKA}/departments",
        {"code": "kyoiku", "name": "教育委員会", "budget": 10_000, "point_code": "142018-UNIFEST"},
    )
    post(client, c, "/v1/departments/142018-kyoiku/grant-kinds", {"code": "alumni", "name": "同窓会"})
    for holder, amount in (("HANAKO23", 800), ("TAROU234", 500)):
        post(
            client,
            c,
            "/v1/grants",
            {"department": "142018-kyoiku", "mykey_id": holder, "amount": amount, "grant_kind": "alumni"},
            201,
        )
    event = post(
        client, c, "/v1/events", {"point_code": "142018-UNIFEST", "organiser": "yokosuka-library"}, 201
    )
    assert (event["status"], event["pool_balance"]) == ("open", 0)
    url = "/v1/events/142018-UNIFEST"
    post(
        client,
        c,
        url + "/supports",
        {"mykey_id": "HANAKO23", "amount": 300, "nickname": "はなこ", "reason": REASON},
        201,
    )
    post(client, c, url + "/supports", {"mykey_id": "HANAKO23", "amount": 200, "reason": REASON}, 201)
    post(client, c, url + "/supports", {"mykey_id": "TAROU234", "amount": 400, "reason": REASON}, 201)
    report = client.get(url + "/report", headers=c).json
    assert [(s["mykey_id"], s["nickname"], s["amount"], s["supports"]) for s in report["supporters"]] == [
        ("HANAKO23", "はなこ", 500, 2),
        ("TAROU234", None, 400, 1),
    ]
    assert (report["total"], report["pool_balance"]) == (900, 900)
    done = post(client, c, url + "/handover", {}, 201)
    assert (done["status"], done["handover"]["amount"], done["handover"]["credit"]) == (
        "handed_over",
        900,
        "payee:yokosuka-library",
    )
    late = client.post(
        url + "/supports",
        json={"client_id": new_id(), "mykey_id": "TAROU234", "amount": 10, "reason": REASON},
        headers=c,
    )
    assert error_of(late) == (409, "event_closed")
    assert observed(client, c)[-1] is True


def test_a_special_reward_is_claimed_atomically_with_a_number(client, town):
    c = town.central
    grant(client, c, "HANAKO23", 5000)
    grant(client, c, "TAROU234", 5000)
    now = datetime.now(UTC)
    offer = {
        "code": "hanabi-2027",
        "municipality": YOKOSUKA,
        "name": "花火大会 観覧席",
        "price": 2000,
        "stock": 2,
        "per_holder": 1,
        "starts_at": (now - timedelta(hours=1)).isoformat(),
        "ends_at": (now + timedelta(days=30)).isoformat(),
    }
    post(client, c, "/v1/rewards", offer, 201)
    url = "/v1/rewards/hanabi-2027/claims"
    first = post(client, c, url, {"mykey_id": "HANAKO23", "reason": REASON}, 201)
    assert (first["claim_number"], first["points"]) == ("HANABI-2027-00001", 2000)
    again = client.post(
        url, json={"client_id": new_id(), "mykey_id": "HANAKO23", "reason": REASON}, headers=c
    )
    assert error_of(again) == (409, "claim_limit")
    post(client, c, url, {"mykey_id": "TAROU234", "reason": REASON}, 201)
    grant(client, c, "JIROU345", 5000)
    sold_out = client.post(
        url, json={"client_id": new_id(), "mykey_id": "JIROU345", "reason": REASON}, headers=c
    )
    assert error_of(sold_out) == (409, "sold_out")
    listed = client.get(url, headers=c).json
    assert [(x["claim_number"], x["mykey_id"]) for x in listed["claims"]] == [
        ("HANABI-2027-00001", "HANAKO23"),
        ("HANABI-2027-00002", "TAROU234"),
    ]
    public = client.get("/v1/public/rewards").json["rewards"]  # no token: the Point Navi page
    assert [(r["code"], r["left"]) for r in public] == [("hanabi-2027", 0)] and "claims" not in public[0]
    later = {**offer, "code": "mikoshi-2027", "starts_at": (now + timedelta(days=1)).isoformat()}
    post(client, c, "/v1/rewards", later, 201)
    early = client.post(
        "/v1/rewards/mikoshi-2027/claims",
        json={"client_id": new_id(), "mykey_id": "JIROU345", "reason": REASON},
        headers=c,
    )
    assert error_of(early) == (409, "reward_not_started")
    assert balances(client, c, "JIROU345")[YOKOSUKA]["balance"] == 5000


def test_points_go_to_a_linked_transit_card(client, engine, town):
    c = town.central
    grant(client, c, "HANAKO23", 3000)
    body = {"mykey_id": "HANAKO23", "place": "keikyu-bus", "amount": 1000, "reason": REASON}
    unlinked = client.post("/v1/transit/exchanges", json={"client_id": new_id(), **body}, headers=c)
    assert error_of(unlinked) == (404, "not_linked")
    with write(engine) as conn:
        service_links.link(conn, registry.find(conn, "HANAKO23"), "KQBUS", "PASMO-0042")
    done = post(client, c, "/v1/transit/exchanges", body, 201)
    assert (done["card_number"], done["kind"], done["memo"]) == (
        "PASMO-0042",
        "transit",
        "transit card PASMO-0042",
    )
    post(client, c, f"/v1/spends/{done['id']}/refund", {}, 201)  # refunded the same day: not on the list
    post(client, c, "/v1/transit/exchanges", {**body, "amount": 700}, 201)
    elsewhere = client.post(
        "/v1/transit/exchanges", json={"client_id": new_id(), **body, "place": "yokosuka-shop"}, headers=c
    )
    assert error_of(elsewhere) == (409, "not_a_transit_place")
    today = jst_date(datetime.now(UTC)).isoformat()
    daily = client.get(f"/v1/transit/keikyu-bus/daily?date={today}", headers=c).json
    assert [(x["card_number"], x["points"]) for x in daily["exchanges"]] == [("PASMO-0042", 700)]
    assert daily["total"] == 700 and balances(client, c, "HANAKO23")[YOKOSUKA]["balance"] == 2300


def test_scoped_operators_act_for_their_own_points_only(client, town):
    grant(client, town.yokosuka, "HANAKO23", 1000)
    elsewhere = client.post(
        "/v1/grants",
        json={
            "client_id": new_id(),
            "department": DEPARTMENT,
            "mykey_id": "HANAKO23",
            "amount": 5,
            "grant_kind": "childcare",
        },
        headers=town.sapporo,
    )
    assert error_of(elsewhere) == (404, "unknown_department")  # another town's: as if missing
    named = try_spend(client, town.sapporo, "HANAKO23", "yokosuka-shop", amount=5, point_code=YOKOSUKA)
    assert error_of(named) == (403, "out_of_scope")  # a scoped operator never spends for a resident
    picked = try_spend(client, town.sapporo, "HANAKO23", "yokosuka-shop", amount=5)
    assert error_of(picked) == (403, "out_of_scope")
    seen = client.get("/v1/mykeys/HANAKO23/balances", headers=town.sapporo)
    assert error_of(seen) == (404, "unknown_mykey")  # Yokosuka's resident
    assert error_of(
        client.post(f"/v1/point-codes/{YOKOSUKA}/rules", json={"client_id": new_id()}, headers=town.sapporo)
    ) == (403, "out_of_scope")


def test_every_points_operation_is_in_the_openapi_document(client):
    paths = set(client.get("/openapi.json").json["paths"])
    assert {
        "/v1/grants",
        "/v1/grant-batches",
        "/v1/spends",
        "/v1/spends/{transfer_id}/refund",
        "/v1/mykeys/{mykey_id}/balances",
        "/v1/points/expire",
        "/v1/point-codes/{point_code}/rules",
        "/v1/agreements",
        "/v1/municipalities/{code}/departments",
        "/v1/departments/{department}/budget",
        "/v1/departments/{department}/grant-kinds",
        "/v1/reports/grants",
        "/v1/places/{place_id}/items",
        "/v1/events",
        "/v1/events/{point_code}/supports",
        "/v1/events/{point_code}/report",
        "/v1/events/{point_code}/handover",
        "/v1/rewards",
        "/v1/rewards/{code}/claims",
        "/v1/public/rewards",
        "/v1/transit/exchanges",
        "/v1/transit/{place_id}/daily",
    } <= paths


def test_a_grant_file_retried_gets_its_first_answer_and_a_rerun_changes_nothing(client, town):
    import base64

    c = town.central
    data = "municipality,mykey_id,amount,grant_kind\n142018,HANAKO23,100,childcare\n142018,TAROU234,200,childcare\n"
    body = {
        "client_id": "batch-000001",
        "department": DEPARTMENT,
        "file": base64.b64encode(data.encode()).decode(),
    }
    first = client.post("/v1/grant-batches", json=body, headers=c)
    retried = client.post("/v1/grant-batches", json=body, headers=c)
    assert first.status_code == retried.status_code == 201 and first.json == retried.json
    assert (first.json["applied"], first.json["already_applied"], first.json["points"]) == (True, False, 300)
    rerun = client.post("/v1/grant-batches", json={**body, "client_id": "batch-000002"}, headers=c)
    assert (
        rerun.status_code == 200
        and rerun.json["already_applied"]
        and rerun.json["batch_id"] == first.json["batch_id"]
    )
    other = client.post(
        "/v1/grant-batches", json={**body, "client_id": "batch-000003", "filename": "x.csv"}, headers=c
    )
    assert other.status_code == 200 and other.json["already_applied"]
    dry = client.post(
        "/v1/grant-batches", json={**body, "client_id": "batch-000004", "dry_run": True}, headers=c
    )
    assert dry.status_code == 200 and dry.json["already_applied"]  # a dry run says it was applied already
    assert balances(client, c, "TAROU234")[YOKOSUKA]["balance"] == 200


def test_a_refused_spend_carries_the_figure_a_counter_names(client, town):
    c = town.central
    grant(client, c, "HANAKO23", 500)
    rule(client, c, max_amount=300)
    over = try_spend(client, c, "HANAKO23", "yokosuka-shop", amount=400, point_code=YOKOSUKA)
    assert error_of(over) == (422, "above_maximum") and over.json["error"]["details"] == [{"max_amount": 300}]
    spend(client, c, "HANAKO23", "yokosuka-shop", amount=300, point_code=YOKOSUKA)
    short = try_spend(client, c, "HANAKO23", "yokosuka-shop", amount=250, point_code=YOKOSUKA)
    assert error_of(short)[1] == "insufficient_points"
    assert short.json["error"]["details"] == [{"balance": 200}]
