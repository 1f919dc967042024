"""Every bad input to municipal points, each a test: a clear code, nothing changed, `ledger verify` still passes.

The tests share one furnished town per database (a module fixture): refused requests change
nothing, so each test also proves that by comparing what a caller sees before and after.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from mkp_testing import migrate, postgres_url
from points_helpers import (
    DEPARTMENT,
    YOKOSUKA,
    error_of,
    furnish,
    new_id,
    observed,
    operators_for,
    post,
    try_spend,
)
from sqlalchemy import create_engine, text

from server.app import create_app
from server.config import ServerConfig
from server.db.engine import make_engine, write
from server.platform.operators.service import Operator
from server.points import rules
from server.points.departments import grants
from server.points.expiry_policy import ExpiryPolicy

PAST = datetime.now(UTC) - timedelta(days=10)


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def module_database(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('bad') / 'mkp.sqlite3'}"
        return
    base = request.getfixturevalue("postgres_database")
    schema = f"bad_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    yield postgres_url(base, schema=schema)
    with admin.connect() as conn:
        conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    admin.dispose()


@pytest.fixture(scope="module")
def town(module_database: str, tmp_path_factory: pytest.TempPathFactory):
    """The town, its rules (at most 3000 a spend; a week-old lot that expired), and holdings:
    HANAKO23 10,000 points, TAROU234 50, JIROU345 500 that expired."""
    engine = make_engine(module_database)
    migrate(engine)
    tmp = tmp_path_factory.mktemp("bad-app")
    app = create_app(
        ServerConfig(
            database_url=module_database,
            testing=True,
            terminal_ca_dir=str(tmp / "terminal-ca"),
            secrets_dir=str(tmp / "secrets"),
        )
    )
    client = app.test_client()
    ops = operators_for(engine)
    furnish(client, engine, ops.central)
    post(client, ops.central, f"/v1/departments/{DEPARTMENT}/budget", {"budget": 500_000}, 200)
    central = Operator(1, "central", None)

    def rule_and_grant(expiry: ExpiryPolicy, at: datetime, holder: str, amount: int) -> None:
        change = rules.RuleChange(at, ("shop", "museum"), ("tokyo-antenna",), expiry, 1, 3000, False)
        with write(engine) as conn:
            rules.add_rule(conn, central, YOKOSUKA, change, now=at)
            grants.grant(
                conn, central, DEPARTMENT, new_id("g"), grants.GrantAsked(holder, amount, "childcare"), at
            )

    rule_and_grant(ExpiryPolicy("days", 1), PAST, "JIROU345", 500)
    rule_and_grant(ExpiryPolicy(), PAST + timedelta(days=5), "HANAKO23", 10_000)
    with write(engine) as conn:
        grants.grant(conn, central, DEPARTMENT, new_id("g"), grants.GrantAsked("TAROU234", 50, "childcare"))
    seen = observed(client, ops.central)
    assert seen[-1] is True  # the ledger verifies
    yield client, ops, seen
    app.extensions["mkp.engine"].dispose()
    engine.dispose()


@pytest.fixture
def unchanged(town):
    """The test gets (client, operators); afterwards a caller must see exactly what the town showed
    when it was made (every test here is refused, so none may change anything), and it verifies."""
    client, ops, seen = town
    yield client, ops
    assert observed(client, ops.central) == seen


def refusal(response, status: int, code: str) -> None:
    assert error_of(response) == (status, code)


# --- spends ------------------------------------------------------------------------------------


# Amounts of 0, negative or fractional are refused before any rule is read: test_api.py's
# test_bad_amounts covers them for spends and grants alike.


def test_a_spend_above_the_rules_maximum(unchanged):
    client, ops = unchanged
    refusal(try_spend(client, ops.central, "HANAKO23", "yokosuka-shop", amount=3001), 422, "above_maximum")


def test_a_spend_over_the_balance(unchanged):
    client, ops = unchanged
    refused = try_spend(client, ops.central, "TAROU234", "yokosuka-shop", amount=51)
    refusal(refused, 409, "insufficient_points")
    # The holder is named by the MyKey ID people know, never by the ledger's own account row.
    assert refused.json["error"]["message"] == "MyKey ID TAROU234 holds 50 spendable points, 51 needed"


@pytest.mark.parametrize("place", ["yokosuka-library", "sapporo-shop"])
def test_a_spend_at_a_place_not_allowed(unchanged, place):
    client, ops = unchanged
    refused = try_spend(client, ops.central, "HANAKO23", place, amount=10, point_code=YOKOSUKA)
    refusal(refused, 403, "not_allowed_here")


def test_a_spend_of_expired_points(unchanged):
    client, ops = unchanged
    refused = try_spend(client, ops.central, "JIROU345", "yokosuka-shop", amount=100)
    refusal(refused, 409, "points_expired")
    assert refused.json["error"]["message"].startswith("MyKey ID JIROU345 can spend 0 points")


def test_a_spend_by_an_unknown_mykey_id(unchanged):
    client, ops = unchanged
    refusal(try_spend(client, ops.central, "NOBODY99", "yokosuka-shop", amount=10), 404, "unknown_mykey")


# --- grants ------------------------------------------------------------------------------------


def grant_body(**over):
    return {
        "client_id": new_id("g"),
        "department": DEPARTMENT,
        "mykey_id": "TAROU234",
        "amount": 100,
        "grant_kind": "childcare",
        **over,
    }


@pytest.mark.parametrize(
    "over,status,code",
    [
        ({"amount": 489_451}, 409, "over_budget"),  # 10,550 of 500,000 granted
        ({"grant_kind": "volunteer", "amount": 5001}, 422, "above_maximum"),
        ({"mykey_id": "NOBODY99"}, 404, "unknown_mykey"),
        ({"grant_kind": "sports"}, 404, "unknown_grant_kind"),
        ({"department": "142018-nosuch"}, 404, "unknown_department"),
        ({"department": "142019-kosodate"}, 422, "bad_check_digit"),
        ({"amount": 0}, 422, "invalid_amount"),
        ({"amount": 2.5}, 422, "invalid_amount"),
    ],
    ids=lambda v: str(v),
)
def test_a_bad_grant(unchanged, over, status, code):
    client, ops = unchanged
    refusal(client.post("/v1/grants", json=grant_body(**over), headers=ops.central), status, code)


def test_a_department_over_its_budget_in_a_file(unchanged):
    client, ops = unchanged
    rows = "municipality,mykey_id,amount,grant_kind\n" + "".join(
        f"142018,HANAKO23,{amount},childcare\n" for amount in (400_000, 89_000, 1000)
    )
    refused = upload(client, ops, rows.encode())
    refusal(refused, 422, "invalid_grant_file")
    assert [(d["line"], d["code"]) for d in refused.json["error"]["details"]] == [(4, "over_budget")]


# --- grant files -------------------------------------------------------------------------------


def upload(client, ops, data: bytes, dry_run: bool = False):
    body = {
        "client_id": new_id("b"),
        "department": DEPARTMENT,
        "file": base64.b64encode(data).decode(),
        "dry_run": dry_run,
    }
    return client.post("/v1/grant-batches", json=body, headers=ops.central)


HEADER = "municipality,mykey_id,amount,grant_kind,memo\n"
GOOD = "142018,HANAKO23,100,childcare,4月分\n"


@pytest.mark.parametrize(
    "data,line,code",
    [
        ((HEADER + GOOD + "142019,TAROU234,100,childcare,\n").encode(), 3, "bad_check_digit"),
        ((HEADER + GOOD + "011002,TAROU234,100,childcare,\n").encode(), 3, "municipality_mismatch"),
        ((HEADER + GOOD + "142018,NOBODY99,100,childcare,\n").encode(), 3, "unknown_mykey"),
        ((b"municipality,mykey_id,grant_kind\n142018,HANAKO23,childcare\n"), 1, "missing_column"),
        ((HEADER + GOOD + "142018,TAROU234,100,childcare,\n" + GOOD).encode(), 4, "duplicate_row"),
        (
            (HEADER + GOOD).encode() + "142018,TAROU234,100,childcare,５月分\n".encode("cp932"),
            3,
            "mixed_encoding",
        ),
        ((HEADER + GOOD + "142018,TAROU234,1.5,childcare,\n").encode(), 3, "invalid_amount"),
        ((HEADER + GOOD + "142018,TAROU234,100,sports,\n").encode(), 3, "unknown_grant_kind"),
    ],
    ids=[
        "bad-municipality-code",
        "other-municipality",
        "unknown-mykey",
        "missing-column",
        "duplicate-row",
        "mixed-encodings",
        "fraction",
        "unknown-kind",
    ],
)
def test_a_bad_grant_file(unchanged, data, line, code):
    client, ops = unchanged
    for dry_run in (True, False):
        refused = upload(client, ops, data, dry_run)
        refusal(refused, 422, "invalid_grant_file")
        details = refused.json["error"]["details"]
        assert [(d["line"], d["code"]) for d in details] == [(line, code)], details
        assert f"line {line}" in refused.json["error"]["message"]


@pytest.mark.slow  # a 5 MB file checked whole, twice (once per database)
def test_a_file_of_100000_rows_with_one_bad_row_at_the_end(unchanged):
    client, ops = unchanged
    body = "".join(f"142018,{('HANAKO23', 'TAROU234')[n % 2]},1,childcare,row {n}\n" for n in range(99_999))
    data = (HEADER + body + "142018,TAROU234,one,childcare,last\n").encode()
    refused = upload(client, ops, data)
    refusal(refused, 422, "invalid_grant_file")
    assert [(d["line"], d["code"]) for d in refused.json["error"]["details"]] == [(100_001, "invalid_amount")]
    assert refused.json["error"]["message"].startswith("the file: line 100001:")


# --- rules -------------------------------------------------------------------------------------


def test_a_rule_change_dated_in_the_past(unchanged):
    client, ops = unchanged
    yesterday = (datetime.now(UTC) - timedelta(days=1)).date().isoformat()
    body = {"client_id": new_id("r"), "effective_from": yesterday, "place_kinds": ["shop"]}
    refusal(
        client.post(f"/v1/point-codes/{YOKOSUKA}/rules", json=body, headers=ops.central), 422, "rule_in_past"
    )
    assert len(client.get(f"/v1/point-codes/{YOKOSUKA}/rules", headers=ops.central).json["versions"]) == 2


@pytest.mark.parametrize(
    "over,code",
    [
        ({"expiry": {"policy": "days"}}, "invalid_expiry"),
        ({"expiry": {"policy": "fixed", "last_day": "2020-02-30"}}, "invalid_date"),
        ({"place_kinds": ["casino"]}, "invalid_place_kind"),
        ({"places": ["nowhere-at-all"]}, "unknown_place"),
        ({"min_amount": 100, "max_amount": 10}, "invalid_limits"),
        ({"place_kinds": [], "places": []}, "nowhere_to_spend"),
    ],
    ids=lambda v: str(v),
)
def test_a_bad_rule(unchanged, over, code):
    client, ops = unchanged
    body = {"client_id": new_id("r"), **over}
    refused = client.post(f"/v1/point-codes/{YOKOSUKA}/rules", json=body, headers=ops.central)
    assert refused.status_code in (404, 422) and error_of(refused)[1] == code
    if code == "invalid_place_kind":  # the kinds there are, not a regular expression
        message = refused.json["error"]["message"]
        assert "shop, museum, library, office, facility, transport" in message and "^(" not in message
