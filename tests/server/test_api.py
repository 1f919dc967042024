"""The HTTP API as a caller sees it: one error shape, 4xx for every mistake, nothing changed."""

import pytest
from points_helpers import DEPARTMENT
from sqlalchemy import text

from server.db.engine import write
from server.db.migrate import head_revision

YOKOSUKA, SAPPORO = "142018", "011002"
ALICE = "HANAKO23"


def grant_body(client_id="grant-0001", **over):
    body = {
        "client_id": client_id,
        "department": DEPARTMENT,
        "mykey_id": ALICE,
        "amount": 1000,
        "grant_kind": "childcare",
    }
    body.update(over)
    return {k: v for k, v in body.items() if v is not ...}


def spend_body(client_id="spend-0001", **over):
    body = {"client_id": client_id, "mykey_id": ALICE, "place": "yokosuka-museum", "point_code": YOKOSUKA}
    return {**body, "amount": 400, "reason": "damaged card: paper form", **over}


def ledger_state(client, operators):
    """What a caller could observe of the ledger: counts and the first holder's balances."""
    report = client.get("/v1/ledger/verify", headers=operators.central).json
    held = client.get(f"/v1/mykeys/{ALICE}/balances", headers=operators.central).json["balances"]
    return (
        report["transfers"],
        report["accounts"],
        [(b["point_code"], b["balance"]) for b in held],
        report["ok"],
    )


def assert_error(response, status, code):
    assert response.status_code == status, response.json
    assert set(response.json) == {"error"}
    assert response.json["error"]["code"] == code
    assert response.json["error"]["message"]


def test_health_and_openapi(client):
    health = client.get("/healthz")
    assert health.status_code == 200 and health.json["status"] == "ok" and health.json["schema_version"]
    doc = client.get("/openapi.json").json
    assert {"/v1/grants", "/v1/spends", "/v1/municipalities", "/v1/ledger/verify"} <= set(doc["paths"])
    # The document is generated from the validating models: the amount's limits are in it.
    grant_schema = doc["components"]["schemas"]["GrantCreate"]["properties"]["amount"]
    assert grant_schema["exclusiveMinimum"] == 0 and grant_schema["maximum"] == 1_000_000_000


def test_health_is_unavailable_on_a_schema_this_server_was_not_written_for(client, engine):
    """A host whose database was upgraded by newer code (or not yet) leaves the load balancer."""
    set_revision = text("UPDATE alembic_version SET version_num = :revision")
    with write(engine) as conn:
        conn.execute(set_revision, {"revision": "0001"})
    try:
        health = client.get("/healthz")
    finally:
        with write(engine) as conn:
            conn.execute(set_revision, {"revision": head_revision()})
    assert health.status_code == 503
    assert (health.json["status"], health.json["schema_version"]) == ("wrong_schema", "0001")
    assert client.get("/healthz").json["status"] == "ok"


def test_grant_spend_balance_reverse(client, town):
    operators = town
    g = client.post("/v1/grants", json=grant_body(), headers=operators.yokosuka)
    assert g.status_code == 201 and g.json["amount"] == 1000 and g.json["credit"] == "mykey:1"
    s = client.post("/v1/spends", json=spend_body(), headers=operators.central)
    assert s.status_code == 201 and s.json["credit"] == "payee:yokosuka-museum"
    r = client.post(
        f"/v1/transfers/{s.json['id']}/reverse", json={"client_id": "rev-00001"}, headers=operators.central
    )
    assert r.status_code == 201 and r.json["reverses"] == s.json["id"]
    assert ledger_state(client, operators) == (3, 3, [(YOKOSUKA, 1000)], True)


def test_add_municipality_name_comes_from_the_list(client, operators):
    r = client.post(
        "/v1/municipalities", json={"client_id": "muni-0001", "code": "472018"}, headers=operators.central
    )
    assert r.status_code == 201
    assert (r.json["name"], r.json["prefecture"], r.json["point_code"]) == ("那覇市", "沖縄県", "472018")
    listed = client.get("/v1/municipalities", headers=operators.central).json["municipalities"]
    assert [m["code"] for m in listed] == ["011002", "142018", "472018"]
    replay = client.post(
        "/v1/municipalities", json={"client_id": "muni-0001", "code": "472018"}, headers=operators.central
    )
    assert replay.status_code == 201 and replay.json == r.json
    assert_error(
        client.post(
            "/v1/municipalities", json={"client_id": "muni-0001", "code": "262048"}, headers=operators.central
        ),
        409,
        "idempotency_conflict",
    )
    assert_error(
        client.post(
            "/v1/municipalities", json={"client_id": "muni-0002", "code": "472018"}, headers=operators.central
        ),
        409,
        "municipality_exists",
    )


@pytest.mark.parametrize(
    "code,status,error",
    [
        ("999997", 404, "unknown_municipality"),  # well formed, check digit right, not a municipality
        ("142019", 422, "bad_check_digit"),
        ("14201", 422, "invalid_municipality_code"),
        ("abcdef", 422, "invalid_municipality_code"),
        (142018, 422, "invalid_municipality_code"),
    ],
)
def test_add_municipality_bad_codes(client, operators, code, status, error):
    before = client.get("/v1/municipalities", headers=operators.central).json
    r = client.post(
        "/v1/municipalities", json={"client_id": "muni-0001", "code": code}, headers=operators.central
    )
    assert_error(r, status, error)
    assert client.get("/v1/municipalities", headers=operators.central).json == before


def test_scoped_operator_cannot_add_municipalities(client, operators):
    r = client.post(
        "/v1/municipalities", json={"client_id": "muni-0001", "code": "472018"}, headers=operators.yokosuka
    )
    assert_error(r, 403, "central_operator_only")


@pytest.mark.parametrize(
    "amount,error",
    [
        (0, "invalid_amount"),
        (-1, "invalid_amount"),
        (1.5, "invalid_amount"),
        (100.0, "invalid_amount"),
        (10**9 + 1, "invalid_amount"),
        (10**30, "invalid_amount"),
        ("100", "invalid_amount"),
        (True, "invalid_amount"),
        (None, "invalid_amount"),
    ],
)
def test_bad_amounts(client, town, amount, error):
    operators = town
    client.post("/v1/grants", json=grant_body("seed-0001", amount=5), headers=operators.central)
    before = ledger_state(client, operators)
    assert_error(
        client.post("/v1/grants", json=grant_body(amount=amount), headers=operators.central), 422, error
    )
    spend = spend_body(amount=amount)
    # A spend may name an item instead of an amount: null is a missing amount there.
    spend_error = "missing_amount" if amount is None else error
    assert_error(client.post("/v1/spends", json=spend, headers=operators.central), 422, spend_error)
    assert ledger_state(client, operators) == before


@pytest.mark.parametrize("missing", ["client_id", "department", "mykey_id", "amount"])
def test_missing_fields(client, town, missing):
    operators = town
    r = client.post("/v1/grants", json=grant_body(**{missing: ...}), headers=operators.central)
    assert_error(r, 422, "missing_field")
    assert missing in r.json["error"]["message"]
    assert ledger_state(client, operators)[0] == 0


@pytest.mark.parametrize(
    "body,code",
    [
        (grant_body(extra=1), "unknown_field"),
        (grant_body(department="142019-kosodate"), "bad_check_digit"),
        (grant_body(department="999997-kosodate"), "unknown_department"),
        (grant_body(department="kosodate"), "invalid_department"),
        (grant_body(mykey_id=""), "mykey_id_too_short"),
        (grant_body(mykey_id="a" * 65), "mykey_id_too_long"),
        (grant_body(mykey_id="NOBODY99"), "unknown_mykey"),
        (grant_body(client_id="short"), "invalid_client_id"),
        (grant_body(grant_kind="Volunteer"), "invalid_grant_kind"),
        (grant_body(memo="x" * 201), "invalid_request"),
        ([1, 2], "invalid_body"),
        ("not json at all", "invalid_json"),
    ],
)
def test_bad_grant_bodies(client, town, body, code):
    operators = town
    before = ledger_state(client, operators)
    if isinstance(body, str):
        r = client.post(
            "/v1/grants", data=body, headers={**operators.central, "Content-Type": "application/json"}
        )
    else:
        r = client.post("/v1/grants", json=body, headers=operators.central)
    assert r.status_code in (404, 422)
    assert r.json["error"]["code"] == code
    assert ledger_state(client, operators) == before


def test_insufficient_points_changes_nothing(client, town):
    operators = town
    client.post("/v1/grants", json=grant_body(amount=100), headers=operators.central)
    before = ledger_state(client, operators)
    r = client.post("/v1/spends", json=spend_body(amount=101), headers=operators.central)
    assert_error(r, 409, "insufficient_points")
    assert "100" in r.json["error"]["message"]
    assert ledger_state(client, operators) == before


def test_replayed_id_with_other_body(client, town):
    operators = town
    first = client.post("/v1/grants", json=grant_body(amount=100), headers=operators.central)
    again = client.post("/v1/grants", json=grant_body(amount=100), headers=operators.central)
    assert again.status_code == 201 and again.json == first.json
    before = ledger_state(client, operators)
    assert_error(
        client.post("/v1/grants", json=grant_body(amount=999), headers=operators.central),
        409,
        "idempotency_conflict",
    )
    assert ledger_state(client, operators) == before


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer mkp_op_wrong"},
        {"Authorization": "Basic abc"},
        {"Authorization": "Bearer "},
        {"Authorization": "Bearer " + "x" * 5000},
    ],
)
def test_wrong_or_missing_token(client, town, headers):
    operators = town
    assert_error(client.post("/v1/grants", json=grant_body(), headers=headers), 401, "unauthorized")
    assert_error(client.get(f"/v1/mykeys/{ALICE}/balances", headers=headers), 401, "unauthorized")
    assert ledger_state(client, operators)[0] == 0


def test_scoped_token_acts_only_in_its_municipality(client, town):
    operators = town
    ok = client.post("/v1/grants", json=grant_body(), headers=operators.yokosuka)
    assert ok.status_code == 201
    elsewhere = client.post("/v1/grants", json=grant_body("grant-0002"), headers=operators.sapporo)
    assert_error(elsewhere, 404, "unknown_department")  # another town's department: as if missing
    spend = spend_body(amount=1)
    assert_error(client.post("/v1/spends", json=spend, headers=operators.sapporo), 403, "out_of_scope")
    assert_error(
        client.post(
            f"/v1/transfers/{ok.json['id']}/reverse",
            json={"client_id": "rev-00001"},
            headers=operators.sapporo,
        ),
        404,
        "unknown_transfer",
    )
    assert_error(client.get("/v1/ledger/verify", headers=operators.yokosuka), 403, "central_operator_only")
    # Sapporo's desk does not see Yokosuka's residents.
    assert_error(client.get(f"/v1/mykeys/{ALICE}/balances", headers=operators.sapporo), 404, "unknown_mykey")
    assert ledger_state(client, operators)[:3] == (1, 2, [(YOKOSUKA, 1000)])


def test_unknown_routes_and_methods_use_the_error_shape(client, operators):
    assert_error(client.get("/v1/nothing-here", headers=operators.central), 404, "not_found")
    assert_error(client.delete("/v1/grants", headers=operators.central), 405, "method_not_allowed")
    assert_error(
        client.post("/v1/transfers/99/reverse", json={"client_id": "rev-00001"}, headers=operators.central),
        404,
        "unknown_transfer",
    )


def test_oversized_body_is_refused(client, operators):
    r = client.post(
        "/v1/grants", data="x" * 100_000, headers={**operators.central, "Content-Type": "application/json"}
    )
    assert_error(r, 413, "too_large")


def test_event_point_codes_are_kept_apart(client, town):
    operators = town
    body = {"client_id": "pc-0000001", "suffix": "FEST2026", "name": "よこすか開国祭"}
    r = client.post("/v1/municipalities/142018/point-codes", json=body, headers=operators.yokosuka)
    assert r.status_code == 201 and (r.json["code"], r.json["kind"]) == ("142018-FEST2026", "event")
    assert (
        client.post("/v1/municipalities/142018/point-codes", json=body, headers=operators.yokosuka).json
        == r.json
    )
    assert_error(
        client.post(
            "/v1/municipalities/142018/point-codes",
            json={**body, "client_id": "pc-0000002"},
            headers=operators.yokosuka,
        ),
        409,
        "point_code_exists",
    )
    assert_error(
        client.post(
            "/v1/municipalities/011002/point-codes",
            json={**body, "client_id": "pc-0000003"},
            headers=operators.yokosuka,
        ),
        403,
        "out_of_scope",
    )
    for bad in ("fest", "", "A" * 17, "FEST-1"):
        r = client.post(
            "/v1/municipalities/142018/point-codes",
            json={**body, "client_id": "pc-0000004", "suffix": bad},
            headers=operators.yokosuka,
        )
        assert r.status_code == 422
    festival = {"client_id": "dept-00001", "code": "kanko", "name": "観光課", "budget": 1000}
    client.post(
        "/v1/municipalities/142018/departments",
        json={**festival, "point_code": "142018-FEST2026"},
        headers=operators.yokosuka,
    )
    kind = {"client_id": "kind-00001", "code": "visit", "name": "来場"}
    client.post("/v1/departments/142018-kanko/grant-kinds", json=kind, headers=operators.yokosuka)
    client.post(
        "/v1/grants",
        json=grant_body(department="142018-kanko", grant_kind="visit", amount=50),
        headers=operators.yokosuka,
    )
    client.post("/v1/grants", json=grant_body("grant-0002", amount=20), headers=operators.yokosuka)
    assert ledger_state(client, operators)[2] == [("142018", 20), ("142018-FEST2026", 50)]
    codes = client.get("/v1/municipalities/142018/point-codes", headers=operators.yokosuka).json[
        "point_codes"
    ]
    assert [c["code"] for c in codes] == ["142018", "142018-FEST2026"]
    spend = spend_body(point_code="142018-FEST2026", amount=51)
    assert_error(client.post("/v1/spends", json=spend, headers=operators.central), 409, "insufficient_points")


@pytest.mark.parametrize("text", ["a\x00b", "line\nbreak", "tab\there", "\x7f", "\x85"])
def test_control_characters_in_text_are_refused(client, town, text):
    operators = town
    place = {
        "client_id": "place-0001",
        "place_id": "shop-1",
        "name": text,
        "kind": "shop",
        "municipality": "142018",
    }
    assert_error(client.post("/v1/places", json=place, headers=operators.central), 422, "invalid_text")
    assert_error(
        client.post("/v1/grants", json=grant_body(memo=text), headers=operators.central), 422, "invalid_text"
    )
    assert "shop-1" not in {
        p["id"] for p in client.get("/v1/places", headers=operators.central).json["places"]
    }
    assert ledger_state(client, operators)[0] == 0
