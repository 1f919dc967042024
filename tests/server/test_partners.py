"""Partner points: partners and their credentials, rates, member links, online
conversions through holding, the release, the home municipality. Both databases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from partners_helpers import (
    NO_CODE,
    YOKOSUKA,
    add_partner,
    balances,
    end_holds,
    holder_post,
    link,
    new_holder,
    new_id,
    pending,
    release,
    signed_by,
    verified,
)
from sqlalchemy import select, update
from terminal_helpers import error_code

from mkp_core import cardproof, dates, signing
from server.db.engine import read, write
from server.ledger.tables import accounts, lots, transfers
from server.partners.tables import partners
from server.platform.mykey import registry


def _number(mykey, mykey_id: str) -> int:
    with read(mykey.app.extensions["mkp.engine"]) as conn:
        return registry.find(conn, mykey_id).number


def _transfers(mykey, kind: str) -> list:
    """Transfers of ``kind`` as (debit owner, credit owner, amount, point code)."""
    debit, credit = accounts.alias(), accounts.alias()
    query = (
        select(
            debit.c.owner.label("debit"),
            credit.c.owner.label("credit"),
            transfers.c.amount,
            transfers.c.point_code,
        )
        .join(debit, debit.c.id == transfers.c.debit_account_id)
        .join(credit, credit.c.id == transfers.c.credit_account_id)
        .where(transfers.c.kind == kind)
        .order_by(transfers.c.id)
    )
    with read(mykey.app.extensions["mkp.engine"]) as conn:
        return conn.execute(query).all()


@pytest.fixture
def ana(mykey):
    return add_partner(mykey, "ANA", name="全日本空輸")


# --- partners and their credentials ------------------------------------------------------------


def test_partner_listed_and_revoked_at_once(mykey, ana):
    listed = mykey.client.get("/v1/partners", headers=mykey.operators.central).json["partners"]
    assert [
        (p["partner_id"], p["name"], p["rate_from"], p["rate_to"], p["hold_days"], p["status"])
        for p in listed
    ] == [("ANA", "全日本空輸", 1, 1, 14, "active")]
    assert listed[0]["key_id"] == "partner:ANA"
    assert (
        ana.confirm("nobody", NO_CODE).status_code == 404
    )  # signed and accepted: only the member is unknown

    r = mykey.client.post(
        "/v1/partners/ANA/revoke", json={"client_id": new_id("revoke")}, headers=mykey.operators.central
    )
    assert r.status_code == 200 and r.json["status"] == "revoked"
    assert error_code(ana.confirm("nobody", NO_CODE)) == (401, "revoked_key")


def test_a_revoked_or_replaced_key_counts_at_once_after_requests_that_passed(mykey, ana):
    """The server keeps a partner's key once read: revoking it, or a key replaced in the database,
    still counts on the very next request, whatever else is wrong with that request."""
    jal, dal = add_partner(mykey, "JAL"), add_partner(mykey, "DAL")
    huge = {"member": "x" * 100_000, "link_code": NO_CODE}
    for partner in (ana, jal, dal):  # signed and accepted (the member is unknown): each key known
        assert partner.confirm("nobody", NO_CODE).status_code == 404
    assert error_code(ana.post("/partner/v1/conversions", {"order_id": "o-1"}))[0] == 422
    assert error_code(jal.post("/partner/v1/links/confirm", huge)) == (413, "too_large")

    replacement = signing.generate_terminal_key()
    with write(mykey.app.extensions["mkp.engine"]) as conn:
        conn.execute(
            update(partners)
            .where(partners.c.id == "ANA")
            .values(public_key_pem=signing.public_key_pem(replacement).decode())
        )
    assert error_code(ana.confirm("nobody", NO_CODE)) == (401, "bad_signature")
    ana.key = replacement
    assert ana.confirm("nobody", NO_CODE).status_code == 404

    for partner_id in ("ANA", "JAL", "DAL"):
        r = mykey.client.post(
            f"/v1/partners/{partner_id}/revoke",
            json={"client_id": new_id("revoke")},
            headers=mykey.operators.central,
        )
        assert r.status_code == 200
    # Each partner's first request since: what would have been refused for its body is refused
    # for the key, as it was before any key was kept.
    assert error_code(ana.post("/partner/v1/conversions", {"order_id": "o-1"})) == (401, "revoked_key")
    assert error_code(jal.post("/partner/v1/links/confirm", huge)) == (401, "revoked_key")
    assert error_code(dal.convert("o-1", "nobody", 1000)) == (401, "revoked_key")
    for partner in (ana, jal, dal):
        assert error_code(partner.confirm("nobody", NO_CODE)) == (401, "revoked_key")


def test_partner_refusals(mykey, ana):
    body = {
        "client_id": new_id("p"),
        "partner_id": "ANA",
        "name": "x",
        "public_key": signing.public_key_pem(ana.key).decode(),
    }
    assert error_code(mykey.client.post("/v1/partners", json=body, headers=mykey.operators.central)) == (
        409,
        "partner_exists",
    )
    bad_key = {
        **body,
        "client_id": new_id("p"),
        "partner_id": "JAL",
        "public_key": "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n",
    }
    assert error_code(mykey.client.post("/v1/partners", json=bad_key, headers=mykey.operators.central)) == (
        422,
        "invalid_public_key",
    )
    scoped = {**body, "client_id": new_id("p"), "partner_id": "JAL"}
    assert error_code(mykey.client.post("/v1/partners", json=scoped, headers=mykey.operators.yokosuka)) == (
        403,
        "central_operator_only",
    )
    lower = {**body, "client_id": new_id("p"), "partner_id": "ana"}
    assert (
        error_code(mykey.client.post("/v1/partners", json=lower, headers=mykey.operators.central))[0] == 422
    )


def test_credentials_are_not_interchangeable(mykey, ana):
    """An operator token and a terminal signature get nowhere on the partner API; a partner's
    signature gets nowhere on the terminal and operator APIs."""
    body = {"order_id": "o-1", "member": "m1", "amount": 100}
    token = mykey.client.post("/partner/v1/conversions", json=body, headers=mykey.operators.central)
    assert error_code(token) == (401, "wrong_credential")
    terminal = mykey.terminal(None)
    as_terminal = signed_by(
        mykey.client,
        signing.TerminalAuth(terminal.terminal_id, terminal.key),
        "/partner/v1/conversions",
        body,
    )
    assert error_code(as_terminal) == (401, "missing_signature")
    # The terminal's key under a partner's tag and a partner's key id: not the partner's key.
    forged = signed_by(
        mykey.client, signing.partner_auth("ANA", terminal.key), "/partner/v1/conversions", body
    )
    assert error_code(forged) == (401, "bad_signature")
    nothing = mykey.client.post("/partner/v1/conversions", json=body)
    assert error_code(nothing) == (401, "missing_signature")

    on_terminal_api = signed_by(mykey.client, ana.auth, "/v1/terminal/ping", None, method="GET")
    assert error_code(on_terminal_api) == (401, "missing_signature")
    on_operator_api = signed_by(mykey.client, ana.auth, "/v1/partners", None, method="GET")
    assert on_operator_api.status_code == 401
    assert _transfers(mykey, "convert") == []


def test_a_partner_nonce_is_taken_once(mykey, ana):
    """Kept in the conversion's own transaction: an accepted request's nonce is refused again; a
    refused request keeps none (sent again, it is judged again, and orders are idempotent anyway)."""
    link(mykey, new_holder(mykey), ana, "A-1")
    auth = signing.partner_auth("ANA", ana.key, nonce_factory=lambda: "same-nonce-1")
    body = {"order_id": "o-1", "member": "A-1", "amount": 100}
    assert signed_by(mykey.client, auth, "/partner/v1/conversions", body).status_code == 201
    again = signed_by(mykey.client, auth, "/partner/v1/conversions", body)
    assert error_code(again) == (401, "replayed_nonce")
    other = signing.partner_auth("ANA", ana.key, nonce_factory=lambda: "same-nonce-2")
    unlinked = {"order_id": "o-2", "member": "A-404", "amount": 100}
    assert (
        error_code(signed_by(mykey.client, other, "/partner/v1/conversions", unlinked))[1]
        == "member_not_linked"
    )
    assert (
        error_code(signed_by(mykey.client, other, "/partner/v1/conversions", unlinked))[1]
        == "member_not_linked"
    )
    assert len(_transfers(mykey, "convert")) == 1


# --- online linkage and conversions ------------------------------------------------------------


def test_conversion_waits_in_holding_then_reaches_the_wallet(mykey, ana):
    holder = new_holder(mykey)
    link(mykey, holder, ana, "ANA-0001")
    r = ana.convert("order-0001", "ANA-0001", 10_000)
    assert r.status_code == 201, r.json
    conversion = r.json
    assert (conversion["points"], conversion["premium"], conversion["point_code"]) == (10_000, 0, YOKOSUKA)
    due = datetime.fromisoformat(conversion["due_at"])
    assert timedelta(days=13, hours=23) < due - datetime.now(UTC) <= timedelta(days=14)

    n = _number(mykey, holder.mykey_id)
    assert balances(mykey, f"holding:{n}") == {YOKOSUKA: 10_000}
    assert balances(mykey, "partner:ANA") == {YOKOSUKA: -10_000}
    assert balances(mykey, f"mykey:{n}") == {}
    (convert,) = _transfers(mykey, "convert")
    assert (convert.debit, convert.credit, convert.amount) == ("partner:ANA", f"holding:{n}", 10_000)
    seen = pending(mykey, holder)
    assert [(c["points"], c["due_at"]) for c in seen["conversions"]] == [(10_000, conversion["due_at"])]

    today = dates.jst_date(datetime.now(UTC)).isoformat()
    assert release(mykey, today)["conversions"] == 0  # not due yet
    end_holds(mykey)
    now = datetime.now(UTC)
    done = release(mykey, now.isoformat())
    assert (done["conversions"], done["points"], done["holders"], done["refused"]) == (1, 10_000, 1, [])
    assert release(mykey)["conversions"] == 0  # run twice: the second moves nothing
    assert balances(mykey, f"mykey:{n}") == {YOKOSUKA: 10_000}
    assert balances(mykey, f"holding:{n}") == {YOKOSUKA: 0}
    (moved,) = _transfers(mykey, "release")
    assert (moved.debit, moved.credit, moved.amount) == (f"holding:{n}", f"mykey:{n}", 10_000)
    assert pending(mykey, holder)["conversions"] == []
    verified(mykey)


def test_released_points_expire_by_the_rules(mykey, ana):
    r = mykey.client.post(
        f"/v1/point-codes/{YOKOSUKA}/rules",
        json={"client_id": new_id("rule"), "expiry": {"policy": "days", "count": 30}},
        headers=mykey.operators.central,
    )
    assert r.status_code == 201, r.json
    holder = new_holder(mykey)
    link(mykey, holder, ana, "ANA-0002")
    assert ana.convert("order-1", "ANA-0002", 300).status_code == 201
    end_holds(mykey)
    due = datetime.now(UTC)  # the hold ended: the lot's 30 days count from then
    release(mykey)
    n = _number(mykey, holder.mykey_id)
    with read(mykey.app.extensions["mkp.engine"]) as conn:
        (lot,) = conn.execute(select(lots.c.expires_at, lots.c.remaining)).all()
    assert lot.remaining == 300
    assert lot.expires_at is not None and abs(lot.expires_at - (due + timedelta(days=30))) < timedelta(days=1)
    assert balances(mykey, f"mykey:{n}") == {YOKOSUKA: 300}


def test_rate_in_whole_units_only(mykey):
    jal = add_partner(mykey, "JAL", rate_from=500, rate_to=100, hold_days=3)
    holder = new_holder(mykey)
    link(mykey, holder, jal, "J-1")
    ok = jal.convert("jal-1", "J-1", 1500)
    assert ok.status_code == 201 and ok.json["points"] == 300 and ok.json["partner_amount"] == 1500
    assert timedelta(days=2, hours=23) < datetime.fromisoformat(ok.json["due_at"]) - datetime.now(UTC)
    assert error_code(jal.convert("jal-2", "J-1", 501)) == (422, "amount_not_whole_units")
    assert error_code(jal.convert("jal-3", "J-1", 0)) == (422, "invalid_amount")
    assert error_code(jal.convert("jal-4", "J-1", 10.0)) == (422, "invalid_amount")  # type: ignore[arg-type]
    assert len(_transfers(mykey, "convert")) == 1
    verified(mykey)


def test_order_id_is_the_idempotency_key_per_partner(mykey, ana):
    jal = add_partner(mykey, "JAL")
    holder = new_holder(mykey)
    link(mykey, holder, ana, "A-1")
    link(mykey, holder, jal, "J-1")
    first = ana.convert("order-7", "A-1", 1000)
    again = ana.convert("order-7", "A-1", 1000)
    assert first.status_code == again.status_code == 201 and again.json == first.json
    assert error_code(ana.convert("order-7", "A-1", 2000)) == (409, "idempotency_conflict")
    # Another partner's order 7 is its own order: no collision with ANA's.
    other = jal.convert("order-7", "J-1", 2000)
    assert other.status_code == 201 and other.json["conversion_id"] != first.json["conversion_id"]
    n = _number(mykey, holder.mykey_id)
    assert balances(mykey, f"holding:{n}") == {YOKOSUKA: 3000}
    assert balances(mykey, "partner:ANA") == {YOKOSUKA: -1000}
    verified(mykey)


def test_unlinked_and_unconfirmed_members(mykey, ana):
    holder = new_holder(mykey)
    assert error_code(ana.convert("o-1", "A-404", 100)) == (404, "member_not_linked")
    code = link(mykey, holder, ana, "A-1", confirm=False).json["link_code"]
    assert error_code(ana.convert("o-2", "A-1", 100)) == (409, "link_not_confirmed")
    assert ana.confirm("A-1", code).json["status"] == "active"
    assert ana.confirm("A-1", code).json["status"] == "active"  # again: changes nothing
    # The refused orders changed nothing: their ids are free for a real order.
    assert ana.convert("o-1", "A-1", 100).status_code == 201
    assert len(_transfers(mykey, "convert")) == 1
    verified(mykey)


def _ask_link(mykey, holder, member: str, consented_to: str | None = None):
    """The holder asks, with the card, to link ANA member ``member`` (the card consenting to
    ``consented_to``, by default the same member)."""
    return holder_post(
        mykey,
        holder.card,
        cardproof.PARTNER_LINK,
        "/v1/holder/partner-links",
        {"client_id": new_id("l"), "partner": "ANA", "member": member},
        cardproof.partner_link_action("ANA", consented_to or member),
    )


def test_link_refusals(mykey, ana):
    one, two = new_holder(mykey), new_holder(mykey)
    link(mykey, one, ana, "A-1")
    assert error_code(_ask_link(mykey, two, "A-1")) == (409, "member_taken")
    assert error_code(_ask_link(mykey, one, "A-2")) == (409, "partner_already_linked")
    unsigned = _ask_link(mykey, two, "A-9", consented_to="A-1")  # the card consented to another member
    assert error_code(unsigned) == (401, "bad_card_signature")


def test_destination_event_code_home_and_none(mykey, ana):
    r = mykey.client.post(
        f"/v1/municipalities/{YOKOSUKA}/point-codes",
        json={"client_id": new_id("pc"), "suffix": "FEST2026", "name": "よこすか開国祭"},
        headers=mykey.operators.central,
    )
    assert r.status_code == 201, r.json
    homeless = new_holder(mykey, home=None)
    link(mykey, homeless, ana, "A-1")
    assert error_code(ana.convert("o-1", "A-1", 100)) == (422, "no_destination")
    assert (
        ana.convert("o-2", "A-1", 100, destination="142018-FEST2026").json["point_code"] == "142018-FEST2026"
    )
    assert error_code(ana.convert("o-3", "A-1", 100, destination="131016")) == (404, "unknown_point_code")

    home = holder_post(
        mykey,
        homeless.card,
        cardproof.HOME,
        "/v1/holder/home",
        {"client_id": new_id("home"), "municipality": "011002"},
        cardproof.home_action("011002"),
    )
    assert home.status_code == 200 and home.json["home_municipality"] == "011002"
    assert ana.convert("o-4", "A-1", 100).json["point_code"] == "011002"
    seen = pending(mykey, homeless)
    assert seen["home_municipality"] == "011002"
    assert sorted(c["point_code"] for c in seen["conversions"]) == ["011002", "142018-FEST2026"]
    admin = mykey.client.get(f"/v1/mykeys/{homeless.mykey_id}/conversions", headers=mykey.operators.central)
    assert admin.status_code == 200 and len(admin.json["conversions"]) == 2
    scoped = mykey.client.get(f"/v1/mykeys/{homeless.mykey_id}/conversions", headers=mykey.operators.sapporo)
    assert [c["point_code"] for c in scoped.json["conversions"]] == ["011002"]
    verified(mykey)
