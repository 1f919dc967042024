"""The audit trail as an operator reads it: every change an operator or partner made, who, what,
which town, the request id and the reason; refused requests, reads and terminals leave nothing;
a town's operator sees its own town only; the rows cannot be edited. Both databases."""

from __future__ import annotations

import contextlib

import pytest
from partners_helpers import add_partner, link, new_holder
from points_helpers import DEPARTMENT, grant, new_id
from sqlalchemy import delete, event, update
from sqlalchemy.exc import DBAPIError, OperationalError

from mkp_core.client import ApiError
from server.db.engine import write, wrote
from server.platform.tables import audit_log


def trail(client, headers, **query) -> list[dict]:
    r = client.get("/v1/audit", query_string=query, headers=headers)
    assert r.status_code == 200, r.json
    return r.json["entries"]


def test_a_change_names_who_what_the_town_and_the_request(client, town):
    r = client.post(
        "/v1/grants",
        json={
            "client_id": new_id(),
            "department": DEPARTMENT,
            "mykey_id": "HANAKO23",
            "amount": 500,
            "grant_kind": "childcare",
        },
        headers={**town.central, "X-Request-Id": "audit-request-0001"},
    )
    assert r.status_code == 201, r.json
    [entry] = trail(client, town.central)
    assert entry["actor"] == "operator:central"
    assert entry["municipality"] == "142018"  # named by the department the grant came from
    assert entry["target"] == "POST /v1/grants"
    assert entry["action"] == "departments.grant"
    assert entry["request_id"] == "audit-request-0001"
    assert entry["reason"] is None


def test_refused_requests_and_reads_leave_no_entry(client, town):
    unknown = {"department": DEPARTMENT, "mykey_id": "NOBODY99", "amount": 500, "grant_kind": "childcare"}
    assert (
        client.post("/v1/grants", json={"client_id": new_id(), **unknown}, headers=town.central).status_code
        == 404
    )
    too_much = {"department": DEPARTMENT, "mykey_id": "HANAKO23", "amount": 10**8, "grant_kind": "childcare"}
    assert (
        client.post("/v1/grants", json={"client_id": new_id(), **too_much}, headers=town.central).status_code
        >= 400
    )
    assert client.get("/v1/mykeys/HANAKO23/balances", headers=town.central).status_code == 200
    assert trail(client, town.central) == []


def test_the_reason_given_is_kept(client, operators, enrolled):
    terminal_id, _, _ = enrolled
    r = client.post(
        f"/v1/terminals/{terminal_id}/revoke",
        json={"client_id": new_id(), "reason": "stolen from the counter"},
        headers=operators.central,
    )
    assert r.status_code == 200, r.json
    [revoke, *_] = trail(client, operators.central)
    assert revoke["target"] == f"POST /v1/terminals/{terminal_id}/revoke"
    assert revoke["reason"] == "stolen from the counter"


def test_a_town_sees_its_own_trail_only(client, town):
    grant(client, town.yokosuka, "HANAKO23", 300)
    grant(client, town.central, "TAROU234", 200)
    ours = trail(client, town.yokosuka)
    assert [e["actor"] for e in ours] == ["operator:central", "operator:yokosuka-desk"]
    assert trail(client, town.sapporo) == []
    r = client.get("/v1/audit", query_string={"municipality": "142018"}, headers=town.sapporo)
    assert r.status_code == 403 and r.json["error"]["code"] == "out_of_scope"
    assert len(trail(client, town.central)) == 2
    assert trail(client, town.central, municipality="011002") == []


def test_pages_follow_each_other_newest_first(client, town):
    for amount in (101, 102, 103):
        grant(client, town.central, "HANAKO23", amount)
    first = client.get("/v1/audit", query_string={"limit": 2}, headers=town.central).json
    assert len(first["entries"]) == 2 and first["next_before_id"] is not None
    rest = trail(client, town.central, limit=2, before_id=first["next_before_id"])
    ids = [e["id"] for e in first["entries"] + rest]
    assert ids == sorted(ids, reverse=True) and len(set(ids)) == 3
    assert trail(client, town.central, since="2099-01-01") == []


@pytest.mark.parametrize(
    "query",
    [{"limit": 0}, {"limit": 1001}, {"since": "yesterday"}, {"municipality": "142019"}, {"before_id": -1}],
)
def test_a_bad_query_is_one_clear_refusal(client, town, query):
    r = client.get("/v1/audit", query_string=query, headers=town.central)
    assert r.status_code == 422 and r.json["error"]["message"]


def test_a_partner_change_is_recorded_under_the_partner(mykey):
    ana = add_partner(mykey, "ANA", name="全日本空輸")
    assert (
        ana.post("/partner/v1/coupons", {"client_id": new_id("b"), "count": 2, "points": 500}).status_code
        == 201
    )
    entries = [(e["actor"], e["target"]) for e in trail(mykey.client, mykey.operators.central)]
    assert entries[:2] == [
        ("partner:ANA", "POST /partner/v1/coupons"),
        ("operator:central", "POST /v1/partners"),
    ]


def test_a_partner_order_sent_again_leaves_one_entry(mykey):
    """A partner's retry of an order (a new signature, so a new nonce kept) is answered from the
    first reply: it changed nothing and leaves no entry, on both databases alike."""
    ana = add_partner(mykey, "ANA", name="全日本空輸")
    holder = new_holder(mykey)
    link(mykey, holder, ana, "ANA-0001")
    first = ana.convert("order-0001", "ANA-0001", 1000)
    again = ana.convert("order-0001", "ANA-0001", 1000)
    assert first.status_code == again.status_code == 201 and first.json == again.json
    conversions = [e for e in trail(mykey.client, mykey.operators.central) if "conversions" in e["target"]]
    assert [(e["actor"], e["target"]) for e in conversions] == [
        ("partner:ANA", "POST /partner/v1/conversions")
    ]


def test_terminal_and_resident_requests_are_not_in_the_trail(mykey):
    """A card tap's proof is the card's own signature; a MyKey lookup leaves no trace anywhere."""
    service = mykey.service("A1")
    terminal = mykey.terminal(service["code"])
    card = mykey.card()
    mykey.register(card)
    before = trail(mykey.client, mykey.operators.central)
    with contextlib.suppress(ApiError):  # no link to A1 yet: refused, and still no trace
        terminal.lookups.lookup(card.open)
    mykey.client.post("/v1/mykey/challenges", json={"purpose": "show"})
    assert trail(mykey.client, mykey.operators.central) == before


def test_the_trail_cannot_be_edited(client, town, engine):
    grant(client, town.central, "HANAKO23", 300)
    for statement in (update(audit_log).values(reason="nothing happened"), delete(audit_log)):
        with pytest.raises(DBAPIError), write(engine) as conn:
            conn.execute(statement)
    assert len(trail(client, town.central)) == 1


def test_a_retry_answered_from_its_first_reply_leaves_no_second_entry(client, town):
    body = {
        "client_id": new_id(),
        "department": DEPARTMENT,
        "mykey_id": "HANAKO23",
        "amount": 500,
        "grant_kind": "childcare",
    }
    first = client.post("/v1/grants", json=body, headers=town.central)
    again = client.post("/v1/grants", json=body, headers=town.central)
    assert first.status_code == again.status_code == 201 and first.json == again.json
    assert len(trail(client, town.central)) == 1


class LostRace(Exception):
    sqlstate = "40001"  # what PostgreSQL says of a serialization failure: the request retries


def test_a_change_whose_commit_failed_and_was_retried_keeps_its_entry(client, town):
    """The entry is written in the change's own transaction, just before its commit; a commit that
    fails takes the entry with it, and the request's retry must write it again."""
    engine = client.application.extensions["mkp.engine"]
    failed: list[bool] = []

    def fail_once(conn) -> None:
        if not failed and wrote(conn):  # the grant's transaction (reads commit too)
            failed.append(True)
            raise OperationalError("COMMIT", {}, LostRace())

    event.listen(engine, "commit", fail_once)
    try:
        body = {"department": DEPARTMENT, "mykey_id": "HANAKO23", "amount": 500, "grant_kind": "childcare"}
        r = client.post("/v1/grants", json={"client_id": new_id(), **body}, headers=town.central)
    finally:
        event.remove(engine, "commit", fail_once)
    assert failed and r.status_code == 201, r.json
    [entry] = trail(client, town.central)
    assert entry["target"] == "POST /v1/grants" and entry["actor"] == "operator:central"
