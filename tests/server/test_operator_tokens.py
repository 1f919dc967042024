"""Operator tokens remembered by a server process: never trusted without the database's word.

A process remembers each operator it has read, by the token's hash, and confirms the token on
every request. Revocations here are made the way another worker or host makes them (the service,
in a transaction of its own, which this process is not told of): the token's very next request is
refused with 401, whatever it asked, and changes nothing. Both databases.
"""

from __future__ import annotations

from points_helpers import DEPARTMENT, REASON, grant, new_id, try_spend

from server.db.engine import read, write
from server.platform.operators import auth
from server.platform.operators.service import hash_token, revoke_operator
from server.platform.tables import audit_log


def _engine(app):
    return app.extensions["mkp.engine"]


def _revoke(app, name: str) -> None:
    with write(_engine(app)) as conn:
        assert revoke_operator(conn, name)


def _balance(client, headers, mykey_id: str) -> int:
    r = client.get(f"/v1/mykeys/{mykey_id}/balances", headers=headers)
    assert r.status_code == 200, r.json
    return sum(b["balance"] for b in r.json["balances"])


def _audit_entries(app) -> int:
    with read(_engine(app)) as conn:
        return len(conn.execute(audit_log.select()).all())


def _refused(response) -> bool:
    return response.status_code == 401 and response.json["error"]["code"] == "unauthorized"


def test_a_revoked_token_changes_nothing_at_its_next_write(client, town, app):
    grant(client, town.central, "HANAKO23", 500)
    assert _balance(client, town.central, "HANAKO23") == 500  # the token is remembered now
    entries = _audit_entries(app)
    _revoke(app, "central")
    spent = try_spend(client, town.central, "HANAKO23", "yokosuka-shop", amount=100)
    assert _refused(spent), spent.json
    granted = client.post(
        "/v1/grants",
        json={
            "client_id": new_id(),
            "department": DEPARTMENT,
            "mykey_id": "HANAKO23",
            "amount": 5,
            "grant_kind": "childcare",
        },
        headers=town.central,
    )
    assert _refused(granted), granted.json
    assert _balance(client, town.yokosuka, "HANAKO23") == 500  # neither the spend nor the grant
    assert _audit_entries(app) == entries


def test_a_revoked_token_reads_nothing(client, town, app):
    assert client.get("/v1/mykeys/HANAKO23/balances", headers=town.yokosuka).status_code == 200
    _revoke(app, "yokosuka-desk")
    r = client.get("/v1/mykeys/HANAKO23/balances", headers=town.yokosuka)
    assert _refused(r) and "balances" not in r.json
    assert client.get("/v1/mykeys/HANAKO23/balances", headers=town.central).status_code == 200


def test_a_revoked_token_hears_401_not_the_refusal_its_request_would_get(client, town, app):
    assert _balance(client, town.central, "HANAKO23") == 0
    _revoke(app, "central")
    nowhere = try_spend(client, town.central, "HANAKO23", "no-such-place", amount=1)
    assert _refused(nowhere), nowhere.json  # not 404 unknown_place
    r = client.get("/v1/mykeys/NOBODY99/balances", headers=town.central)
    assert _refused(r), r.json  # not 404 unknown_mykey


def test_a_revoked_token_does_not_get_its_first_reply_again(client, town, app):
    grant(client, town.central, "HANAKO23", 500)
    body = {"client_id": new_id("s"), "mykey_id": "HANAKO23", "place": "yokosuka-shop", "amount": 100}
    first = client.post("/v1/spends", json={**body, "reason": REASON}, headers=town.central)
    assert first.status_code == 201, first.json
    _revoke(app, "central")
    again = client.post("/v1/spends", json={**body, "reason": REASON}, headers=town.central)
    assert _refused(again), again.json  # a retry answered from the stored reply writes nothing


def test_a_refused_token_is_forgotten_and_stays_refused(client, town, app):
    assert client.get("/v1/municipalities", headers=town.sapporo).status_code == 200
    digest = hash_token(town.sapporo["Authorization"].removeprefix("Bearer "))
    assert auth.OPERATOR_TOKENS.get(digest) is not None
    _revoke(app, "sapporo-desk")
    for _ in range(2):
        assert _refused(client.get("/v1/municipalities", headers=town.sapporo))
        assert auth.OPERATOR_TOKENS.get(digest) is None


def test_a_process_keeps_hashes_of_tokens_never_the_tokens(client, town):
    assert client.get("/v1/municipalities", headers=town.central).status_code == 200
    token = town.central["Authorization"].removeprefix("Bearer ")
    kept = repr(auth.OPERATOR_TOKENS._operators)
    assert hash_token(token) in kept and token not in kept and token.removeprefix("mkp_op_") not in kept
