"""A MyKey ID's life: a chosen ID instead of the random one, suspension when the card is lost,
renewal onto a new card, and the daily CRL sweep."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from mkp_testing import tables_snapshot
from terminal_helpers import error_code

from mkp_core.cardproof import certificate_sha256
from mkp_core.client import ApiError
from mkp_core.trust import sha256_hex
from server.db.engine import write
from server.platform.mykey import registry
from server.platform.mykey.cards import Card as ProvenCard


def refused(call) -> str:
    with pytest.raises(ApiError) as e:
        call()
    return e.value.code


def serial_of(card) -> int:
    return x509.load_der_x509_certificate(card.certificate).serial_number


def admin(mykey, path, body=None, headers=None):
    headers = headers or mykey.operators.central
    if body is None:
        return mykey.client.get(path, headers=headers)
    return mykey.client.post(path, json={"client_id": f"op-{uuid.uuid4()}", **body}, headers=headers)


@pytest.fixture
def linked(mykey):
    """A holder linked to shopping street A1, and A1's terminal."""
    mykey.service("A1")
    card = mykey.card()
    mykey_id = mykey.register(card)["mykey_id"]
    mykey.holder.link(card.open, "A1", "789")
    return card, mykey_id, mykey.terminal("A1")


# --- changing the ID -----------------------------------------------------------------------------


def test_change_to_an_own_id_once(mykey, linked):
    card, old_id, a1 = linked
    changed = mykey.holder.change_id(card.open, "Taro2026")
    assert changed["mykey_id"] == "Taro2026" and changed["changes_left"] == 0
    assert a1.lookups.lookup(card.open)["service_id"] == "789"  # the links (and wallets) stay
    assert refused(lambda: mykey.holder.change_id(card.open, "Taro2027")) == "no_changes_left"


def test_an_id_changed_away_from_stays_reserved(mykey, linked):
    card, old_id, _ = linked
    mykey.holder.change_id(card.open, "Taro2026")
    assert refused(lambda: mykey.holder.register(mykey.card().open, old_id)) == "mykey_taken"


def test_change_to_a_taken_or_reserved_id(mykey, linked):
    card, _, _ = linked
    mykey.register(mykey.card(), "Hanako24")
    assert refused(lambda: mykey.holder.change_id(card.open, "HANAKO24")) == "mykey_taken"
    assert refused(lambda: mykey.holder.change_id(card.open, "System01")) == "mykey_id_reserved"


# --- suspension ------------------------------------------------------------------------------------


def test_a_lost_card_is_suspended_at_once_and_resumed(mykey, linked):
    card, mykey_id, a1 = linked
    r = admin(mykey, f"/v1/mykeys/{mykey_id.lower()}/suspend", {"reason": "lost"})  # typed any case
    assert r.status_code == 200 and r.json["status"] == "suspended", r.json
    assert refused(lambda: a1.lookups.lookup(card.open)) == "mykey_suspended"
    assert refused(lambda: mykey.holder.link(card.open, "A1", "790")) == "mykey_suspended"
    shown = mykey.holder.show(card.open)
    assert shown["status"] == "suspended" and shown["links"] == []  # nothing more for a finder
    r = admin(mykey, f"/v1/mykeys/{mykey_id}/resume", {"reason": "card found, identity checked"})
    assert r.json["status"] == "active"
    assert a1.lookups.lookup(card.open)["service_id"] == "789"
    audit = admin(mykey, f"/v1/mykeys/{mykey_id}").json["audit"]
    assert [(a["action"], a["actor"], a["reason"]) for a in audit] == [
        ("suspend", "operator:central", "lost"),
        ("resume", "operator:central", "card found, identity checked"),
    ]


def test_the_holder_suspends_with_the_card(mykey, linked):
    card, mykey_id, a1 = linked
    assert mykey.holder.suspend(card.open)["status"] == "suspended"
    assert refused(lambda: a1.lookups.lookup(card.open)) == "mykey_suspended"
    audit = admin(mykey, f"/v1/mykeys/{mykey_id}").json["audit"]
    assert [(a["action"], a["actor"]) for a in audit] == [("suspend", "holder")]


def test_a_scoped_operator_may_suspend_its_own_residents(mykey):
    mykey_id = mykey.register(mykey.card(), home="142018")["mykey_id"]
    r = admin(mykey, f"/v1/mykeys/{mykey_id}/suspend", {"reason": "lost"}, mykey.operators.yokosuka)
    assert r.status_code == 200 and r.json["status"] == "suspended"


@pytest.mark.parametrize(
    ("mykey_id", "expect"),
    [("ZZZZZZZZ", (404, "unknown_mykey")), ("short", (422, "mykey_id_too_short"))],
)
def test_suspending_an_unknown_or_malformed_id(mykey, mykey_id, expect):
    assert error_code(admin(mykey, f"/v1/mykeys/{mykey_id}/suspend", {"reason": "lost"})) == expect


def test_the_operator_view_shows_no_service_ids(mykey, linked):
    _, mykey_id, _ = linked
    view = admin(mykey, f"/v1/mykeys/{mykey_id}").json
    assert view["mykey_id"] == mykey_id and "links" not in view
    assert "789" not in leaf_values(view)


# --- renewal ---------------------------------------------------------------------------------------


def test_renewal_with_both_cards(mykey, linked):
    old, mykey_id, a1 = linked
    new = mykey.card()
    renewed = mykey.holder.renew_with_old_card(old.open, new.open)
    assert renewed["mykey_id"] == mykey_id
    assert a1.lookups.lookup(new.open)["service_id"] == "789"
    assert refused(lambda: a1.lookups.lookup(old.open)) == "certificate_replaced"  # at once
    assert refused(lambda: mykey.holder.register(old.open)) == "certificate_replaced"


def test_renewal_of_an_expired_certificate_with_both_cards(mykey):
    """Renewal is why a card comes back after five years: the old card's expired certificate
    still consents (its key still signs), as long as it is not revoked."""
    old = mykey.card(expired=True)
    with write(mykey.app.extensions["mkp.engine"]) as conn:  # registered while it was still valid
        proven = ProvenCard(
            certificate_sha256(old.certificate),
            sha256_hex(mykey.ca.certificate.public_bytes(Encoding.DER)),
            format(serial_of(old), "X"),
            datetime.now(UTC),
        )
        registry.register(conn, proven, "Oldcard1", None, 1)
    new = mykey.card()
    assert mykey.holder.renew_with_old_card(old.open, new.open)["mykey_id"] == "Oldcard1"
    assert mykey.holder.show(new.open)["mykey_id"] == "Oldcard1"


def test_an_expired_and_revoked_old_card_cannot_consent(mykey):
    old = mykey.card(expired=True)
    with write(mykey.app.extensions["mkp.engine"]) as conn:
        proven = ProvenCard(
            certificate_sha256(old.certificate),
            sha256_hex(mykey.ca.certificate.public_bytes(Encoding.DER)),
            format(serial_of(old), "X"),
            datetime.now(UTC),
        )
        registry.register(conn, proven, "Oldcard2", None, 1)
    mykey.ca.revoke(serial_of(old))
    mykey.upload_crl()
    assert (
        refused(lambda: mykey.holder.renew_with_old_card(old.open, mykey.card().open))
        == "certificate_revoked"
    )


def test_renewal_with_an_operators_code(mykey, linked):
    old, mykey_id, a1 = linked
    admin(mykey, f"/v1/mykeys/{mykey_id}/suspend", {"reason": "lost"})
    issued = admin(mykey, f"/v1/mykeys/{mykey_id}/renewal-codes", {})
    assert issued.status_code == 201 and len(issued.json["code"]) == 19
    new = mykey.card()
    renewed = mykey.holder.renew_with_code(new.open, issued.json["code"].lower().replace("-", " "))
    assert renewed["mykey_id"] == mykey_id and renewed["status"] == "suspended"
    admin(mykey, f"/v1/mykeys/{mykey_id}/resume", {"reason": "new card"})
    assert a1.lookups.lookup(new.open)["service_id"] == "789"
    assert refused(lambda: a1.lookups.lookup(old.open)) == "certificate_replaced"
    assert (
        refused(lambda: mykey.holder.renew_with_code(mykey.card().open, issued.json["code"])) == "code_used"
    )


def test_a_renewal_code_is_shown_once(mykey, linked):
    _, mykey_id, _ = linked
    body = {"client_id": "renewal-code-0001"}
    first = mykey.client.post(
        f"/v1/mykeys/{mykey_id}/renewal-codes", json=body, headers=mykey.operators.central
    )
    again = mykey.client.post(
        f"/v1/mykeys/{mykey_id}/renewal-codes", json=body, headers=mykey.operators.central
    )
    assert first.json["code"] and again.json["code"] is None and again.json["code_shown_before"] is True
    assert first.json["code"].replace("-", "") not in str(tables_snapshot(mykey.app.extensions["mkp.engine"]))


def test_renewal_refusals(mykey, linked):
    old, mykey_id, _ = linked
    other = mykey.card()
    mykey.register(other)  # a card with its own MyKey ID cannot take over another
    assert refused(lambda: mykey.holder.renew_with_old_card(old.open, other.open)) == "certificate_registered"
    stranger = mykey.card()  # a card with no MyKey ID cannot consent as the old one
    assert (
        refused(lambda: mykey.holder.renew_with_old_card(stranger.open, mykey.card().open))
        == "not_registered"
    )
    assert (
        refused(lambda: mykey.holder.renew_with_code(mykey.card().open, "ABCD-EFGH-JKMN-PQRS"))
        == "unknown_code"
    )
    assert refused(lambda: mykey.holder.renew_with_code(mykey.card().open, "ABCD")) == "bad_code_format"


def test_a_suspended_id_cannot_move_to_a_new_card_by_the_old_one(mykey, linked):
    """Whoever holds a lost card and its PIN must not carry the ID off to their own card."""
    old, mykey_id, _ = linked
    admin(mykey, f"/v1/mykeys/{mykey_id}/suspend", {"reason": "lost"})
    assert refused(lambda: mykey.holder.renew_with_old_card(old.open, mykey.card().open)) == "mykey_suspended"


def test_an_expired_renewal_code(mykey, linked):
    _, mykey_id, _ = linked
    from datetime import timedelta

    from sqlalchemy import update

    from server.platform.tables import mykey_renewal_codes

    code = admin(mykey, f"/v1/mykeys/{mykey_id}/renewal-codes", {"ttl_hours": 1}).json["code"]
    with write(mykey.app.extensions["mkp.engine"]) as conn:
        conn.execute(update(mykey_renewal_codes).values(expires_at=datetime.now(UTC) - timedelta(seconds=1)))
    assert refused(lambda: mykey.holder.renew_with_code(mykey.card().open, code)) == "code_expired"


# --- the CRL sweep ---------------------------------------------------------------------------------


def test_a_revoked_certificate_is_swept_and_its_id_suspended(mykey, linked):
    card, mykey_id, a1 = linked
    bystander = mykey.card()
    bystander_id = mykey.register(bystander)["mykey_id"]
    mykey.ca.revoke(serial_of(card))
    info = mykey.upload_crl()
    assert info["sweep"] == {"checked": 2, "revoked": 1, "suspended": [mykey_id], "already_suspended": []}
    view = admin(mykey, f"/v1/mykeys/{mykey_id}").json
    assert view["status"] == "suspended" and view["suspend_reason"] == "revoked"
    assert view["certificate"]["status"] == "revoked"
    assert refused(lambda: a1.lookups.lookup(card.open)) == "certificate_revoked"
    assert admin(mykey, f"/v1/mykeys/{bystander_id}").json["status"] == "active"
    # resuming an ID whose certificate is revoked makes no sense: a new card first
    assert error_code(admin(mykey, f"/v1/mykeys/{mykey_id}/resume", {})) == (409, "certificate_revoked")


def test_a_lost_card_reported_before_the_crl_stays_suspended_as_lost(mykey, linked):
    card, mykey_id, _ = linked
    admin(mykey, f"/v1/mykeys/{mykey_id}/suspend", {"reason": "lost"})
    mykey.ca.revoke(serial_of(card))
    assert mykey.upload_crl()["sweep"]["already_suspended"] == [mykey_id]
    view = admin(mykey, f"/v1/mykeys/{mykey_id}").json
    assert view["suspend_reason"] == "lost" and [a["action"] for a in view["audit"]] == [
        "suspend",
        "certificate-revoked",
    ]


def test_the_sweep_is_idempotent(mykey, linked):
    card, mykey_id, _ = linked
    mykey.ca.revoke(serial_of(card))
    mykey.upload_crl()
    assert mykey.upload_crl()["sweep"] == {
        "checked": 0,
        "revoked": 0,
        "suspended": [],
        "already_suspended": [],
    }


def leaf_values(value) -> list:
    """Every string or number in a JSON answer, however deep."""
    if isinstance(value, dict):
        return [leaf for item in value.values() for leaf in leaf_values(item)]
    if isinstance(value, list):
        return [leaf for item in value for leaf in leaf_values(item)]
    return [str(value)]
