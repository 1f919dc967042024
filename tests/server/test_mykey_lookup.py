"""Services, service-ID links and the lookup: each terminal learns its own service's ID, nothing else,
and nothing is recorded."""

from __future__ import annotations

import logging

import pytest
from mkp_testing import tables_snapshot
from terminal_helpers import error_code

from mkp_core import cardproof
from mkp_core.client import ApiError


@pytest.fixture
def street(mykey):
    """Shopping street A1 and library A2 (whose staff confirm links), a terminal at each, a holder."""
    mykey.service("A1", "shopping-street", name="中央商店街")
    mykey.service("A2", "library", confirm=True, name="中央図書館")
    card = mykey.card()
    holder = mykey.register(card)
    return {
        "card": card,
        "mykey_id": holder["mykey_id"],
        "a1": mykey.terminal("A1"),
        "a2": mykey.terminal("A2"),
    }


def refused(call) -> str:
    with pytest.raises(ApiError) as e:
        call()
    return e.value.code


def test_each_terminal_gets_its_own_service_id(mykey, street):
    card = street["card"]
    assert mykey.holder.link(card.open, "A1", "789")["status"] == "active"
    assert mykey.holder.link(card.open, "A2", "280212")["status"] == "pending"  # the library confirms
    assert street["a1"].lookups.lookup(card.open) == {"service": "A1", "service_id": "789"}
    assert refused(lambda: street["a2"].lookups.lookup(card.open)) == "link_pending"
    confirmed = street["a2"].lookups.confirm_link(card.open)
    assert confirmed["status"] == "active" and confirmed["local_id"] == "280212"
    assert street["a2"].lookups.lookup(card.open) == {"service": "A2", "service_id": "280212"}


def test_a_card_without_a_link_to_this_service(mykey, street):
    mykey.holder.link(street["card"].open, "A1", "789")
    assert refused(lambda: street["a2"].lookups.lookup(street["card"].open)) == "not_linked"


def test_a_card_with_no_mykey_id(mykey, street):
    assert refused(lambda: street["a1"].lookups.lookup(mykey.card().open)) == "not_registered"


def test_the_point_cloud_is_told_the_mykey_id(mykey, street):
    mykey.service("MKP-CLOUD", "point-cloud", name="自治体ポイント管理クラウド")
    cloud = mykey.terminal("MKP-CLOUD")
    answer = cloud.lookups.lookup(street["card"].open)
    assert answer == {"service": "MKP-CLOUD", "service_id": street["mykey_id"]}


def test_only_a_central_operator_adds_the_point_cloud(mykey):
    r = mykey.client.post(
        "/v1/services",
        json={
            "client_id": "svc-cloud-1",
            "code": "CLOUD",
            "name": "x",
            "kind": "point-cloud",
            "municipality": "142018",
        },
        headers=mykey.operators.yokosuka,
    )
    assert error_code(r) == (403, "central_operator_only")


def test_a_terminal_of_no_service(mykey, street):
    lonely = mykey.terminal(None)
    assert refused(lambda: lonely.lookups.lookup(street["card"].open)) == "no_service"


def test_unlink_and_relink(mykey, street):
    card = street["card"]
    mykey.holder.link(card.open, "A1", "789")
    assert mykey.holder.unlink(card.open, "A1")["status"] == "removed"
    assert refused(lambda: street["a1"].lookups.lookup(card.open)) == "not_linked"
    mykey.holder.link(card.open, "A1", "790")
    assert street["a1"].lookups.lookup(card.open)["service_id"] == "790"


def test_show_lists_the_links(mykey, street):
    card = street["card"]
    mykey.holder.link(card.open, "A1", "789")
    mykey.holder.link(card.open, "A2", "280212")
    shown = mykey.holder.show(card.open)
    assert shown["mykey_id"] == street["mykey_id"] and shown["status"] == "active"
    assert [(x["service"], x["local_id"], x["status"]) for x in shown["links"]] == [
        ("A1", "789", "active"),
        ("A2", "280212", "pending"),
    ]


def test_linking_to_an_unknown_service(mykey, street):
    assert refused(lambda: mykey.holder.link(street["card"].open, "Z9", "1")) == "unknown_service"


def test_a_second_link_for_the_same_service(mykey, street, engine):
    card = street["card"]
    mykey.holder.link(card.open, "A1", "789")
    before = tables_snapshot(engine)
    assert refused(lambda: mykey.holder.link(card.open, "A1", "790")) == "already_linked"
    asked = ("card_challenges", "throttle_counts")  # the refused try asked for a challenge
    assert {k: v for k, v in tables_snapshot(engine).items() if k not in asked} == {
        k: v for k, v in before.items() if k not in asked
    }


def test_the_same_link_again_is_harmless(mykey, street):
    card = street["card"]
    mykey.holder.link(card.open, "A1", "789")
    assert mykey.holder.link(card.open, "A1", "789")["status"] == "active"


def test_someone_elses_service_id(mykey, street):
    mykey.holder.link(street["card"].open, "A1", "789")
    other = mykey.card()
    mykey.register(other)
    assert refused(lambda: mykey.holder.link(other.open, "A1", "789")) == "service_id_taken"


@pytest.mark.parametrize(
    ("service", "local_id", "code"),
    [
        ("a1", "789", "invalid_service_code"),
        ("A1", "", "invalid_service_id"),
        ("A1", "７８９", "invalid_service_id"),
        ("A1", "78 9", "invalid_service_id"),
        ("A1", "x" * 33, "invalid_service_id"),
    ],
)
def test_bad_links(mykey, street, service, local_id, code):
    body = {
        "client_id": "link-0000001",
        "proof": street["card"].proof(
            "link", mykey.challenge("link"), cardproof.link_action(service, local_id)
        ),
        "service": service,
        "local_id": local_id,
    }
    assert error_code(mykey.post("/v1/mykey/links", body)) == (422, code)


def test_a_lookup_proof_is_bound_to_its_terminal(mykey, street):
    """A challenge one terminal asked for does not work at another (nor at home)."""
    card = street["card"]
    mykey.holder.link(card.open, "A1", "789")
    a1, a2 = street["a1"], street["a2"]
    challenge = a2.post(mykey.client, "/v1/terminal/mykey/challenges", {"purpose": "lookup"}).json[
        "challenge"
    ]
    proof = card.proof("lookup", challenge, cardproof.service_action("A1"))
    r = a1.post(mykey.client, "/v1/terminal/lookup", {"proof": proof})
    assert error_code(r) == (422, "unknown_challenge")


def test_a_lookup_proof_names_the_service(mykey, street):
    card = street["card"]
    mykey.holder.link(card.open, "A1", "789")
    a1 = street["a1"]
    challenge = a1.post(mykey.client, "/v1/terminal/mykey/challenges", {"purpose": "lookup"}).json[
        "challenge"
    ]
    proof = card.proof("lookup", challenge, cardproof.service_action("A2"))  # consent given to A2
    assert error_code(a1.post(mykey.client, "/v1/terminal/lookup", {"proof": proof})) == (
        401,
        "bad_card_signature",
    )


def test_a_lookup_replayed(mykey, street):
    card = street["card"]
    mykey.holder.link(card.open, "A1", "789")
    a1 = street["a1"]
    challenge = a1.post(mykey.client, "/v1/terminal/mykey/challenges", {"purpose": "lookup"}).json[
        "challenge"
    ]
    body = {"proof": card.proof("lookup", challenge, cardproof.service_action("A1"))}
    assert a1.post(mykey.client, "/v1/terminal/lookup", body).status_code == 200
    assert error_code(a1.post(mykey.client, "/v1/terminal/lookup", body)) == (409, "challenge_used")


def test_lookup_by_a_revoked_terminal(mykey, street):
    mykey.holder.link(street["card"].open, "A1", "789")
    a1 = street["a1"]
    r = mykey.client.post(
        f"/v1/terminals/{a1.terminal_id}/revoke",
        json={"client_id": "revoke-0001", "reason": "stolen"},
        headers=mykey.operators.central,
    )
    assert r.status_code == 200
    assert refused(lambda: a1.lookups.lookup(street["card"].open)) == "revoked_key"


def test_lookup_without_a_terminal_signature(mykey, street):
    r = mykey.client.post("/v1/terminal/lookup", json={"proof": {}})
    assert error_code(r) == (401, "missing_signature")


def test_lookups_leave_no_record(mykey, street, engine, caplog, count=20):
    """The platform keeps no history of use: after lookups at two services every table, and every
    log record, is as it was (on both databases; a thousand against gunicorn and its log file:
    tests/mykey/test_no_record_live.py)."""
    card = street["card"]
    mykey.holder.link(card.open, "A1", "789")
    mykey.holder.link(card.open, "A2", "280212")
    street["a2"].lookups.confirm_link(card.open)
    a1, a2 = street["a1"].lookups, street["a2"].lookups
    a1.lookup(card.open)  # first use: the server loads the CRL and the challenge key
    before = tables_snapshot(engine)
    caplog.set_level(logging.DEBUG)
    caplog.clear()
    answers = [(a1 if i % 2 else a2).lookup(card.open) for i in range(count)]
    assert answers.count({"service": "A1", "service_id": "789"}) == count // 2
    assert answers.count({"service": "A2", "service_id": "280212"}) == count // 2
    assert tables_snapshot(engine) == before
    mine = [r for r in caplog.records if r.name.startswith(("mkp", "server", "werkzeug", "sqlalchemy"))]
    assert mine == [], [r.getMessage() for r in mine[:3]]
