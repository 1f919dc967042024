"""Creating a MyKey ID with the card: challenge, PIN-protected signature, certificate checks."""

from __future__ import annotations

import base64

import pytest
from mkp_testing import tables_snapshot
from terminal_helpers import error_code

from drivers.card.virtual.ca import TestCA
from drivers.card.virtual.pki import key_usage_with
from mkp_core import cardproof
from mkp_core import mykey_id as rules


def register_body(world, card, chosen=None, client_id="reg-00000001", challenge=None, action=None):
    challenge = challenge or world.challenge("register")
    action = cardproof.register_action(chosen, None) if action is None else action
    body = {"client_id": client_id, "proof": card.proof("register", challenge, action)}
    if chosen:
        body["mykey_id"] = chosen
    return body


def test_a_card_gets_a_random_id_and_the_same_one_again(mykey):
    card = mykey.card()
    first = mykey.register(card)
    assert first["created"] is True and first["status"] == "active"
    assert len(first["mykey_id"]) == 8 and set(first["mykey_id"]) <= set(rules.ALPHABET)
    again = mykey.register(card)  # a second registration (new challenge, new client id)
    assert again == {**first, "created": False}


def test_a_chosen_id_is_kept_as_typed(mykey):
    result = mykey.register(mykey.card(), "Hanako24")
    assert result["mykey_id"] == "Hanako24" and result["created"] is True


def test_a_retry_with_the_same_client_id_gets_the_first_answer(mykey):
    card = mykey.card()
    body = register_body(mykey, card)
    first = mykey.post("/v1/mykey/register", body)
    again = mykey.post("/v1/mykey/register", body)  # the answer was lost; the same request again
    assert (first.status_code, again.status_code) == (201, 201) and again.json == first.json


def test_two_cards_two_ids(mykey):
    a, b = mykey.register(mykey.card()), mykey.register(mykey.card())
    assert a["mykey_id"] != b["mykey_id"]


@pytest.mark.parametrize(
    "taken_as",
    ["HANAKO24", "hanako24", "HANAK024", "hanakO24"],  # case and look-alikes (O for 0) are one ID
)
def test_a_taken_id_in_another_spelling_is_refused(mykey, taken_as):
    mykey.register(mykey.card(), "Hanako24")
    card = mykey.card()
    r = mykey.post("/v1/mykey/register", register_body(mykey, card, taken_as))
    assert error_code(r) == (409, "mykey_taken")


@pytest.mark.parametrize(
    ("chosen", "code"),
    [
        ("Hana24", "mykey_id_too_short"),
        ("Hanako245", "mykey_id_too_long"),
        ("Hana-o24", "invalid_mykey_id"),
        ("Hanako 4", "invalid_mykey_id"),
        ("ＨａｎａｋｏＡ１", "invalid_mykey_id"),  # full-width: not half-width letters
        ("Hanakoé4", "invalid_mykey_id"),
        ("admin123", "mykey_id_reserved"),
        ("MyKey001", "mykey_id_reserved"),
        ("xxFUCKxx", "mykey_id_reserved"),
        ("xxB4K4xx", "mykey_id_reserved"),  # digits standing in for letters
    ],
)
def test_bad_chosen_ids_are_refused_and_nothing_changes(mykey, engine, chosen, code):
    card = mykey.card()
    body = register_body(mykey, card, chosen)
    before = tables_snapshot(engine)
    r = mykey.post("/v1/mykey/register", body)
    assert error_code(r) == (422, code)
    assert tables_snapshot(engine) == before


def card_refusal(mykey, engine, card):
    """Register ``card``: its refusal as (status, code); no table changed."""
    body = register_body(mykey, card)
    before = tables_snapshot(engine)
    r = mykey.post("/v1/mykey/register", body)
    assert tables_snapshot(engine) == before
    return error_code(r)


def test_expired_certificate(mykey, engine):
    assert card_refusal(mykey, engine, mykey.card(expired=True)) == (403, "certificate_expired")


def test_not_yet_valid_certificate(mykey, engine):
    assert card_refusal(mykey, engine, mykey.card(not_yet_valid=True)) == (
        403,
        "certificate_not_yet_valid",
    )


def test_unknown_ca(mykey, engine, tmp_path):
    foreign = TestCA.init(tmp_path / "foreign")  # the very J-LIS DN, another key
    assert card_refusal(mykey, engine, mykey.card(ca=foreign)) == (403, "certificate_untrusted")


def test_not_a_user_authentication_certificate(mykey, engine):
    card = mykey.card(key_usage=key_usage_with(key_encipherment=True))
    assert card_refusal(mykey, engine, card) == (403, "not_user_auth_certificate")


def test_revoked_certificate(mykey, engine):
    card = mykey.card()
    from cryptography import x509

    mykey.ca.revoke(x509.load_der_x509_certificate(card.certificate).serial_number)
    mykey.upload_crl()
    assert card_refusal(mykey, engine, card) == (403, "certificate_revoked")


def test_tampered_certificate(mykey, engine):
    card = mykey.card()
    body = register_body(mykey, card)
    der = bytearray(card.certificate)
    der[-40] ^= 0x01  # inside the CA's signature
    body["proof"]["certificate"] = base64.b64encode(bytes(der)).decode()
    assert error_code(mykey.post("/v1/mykey/register", body)) == (403, "certificate_untrusted")


def test_garbage_certificate(mykey):
    body = register_body(mykey, mykey.card())
    body["proof"]["certificate"] = base64.b64encode(b"not a certificate").decode()
    assert error_code(mykey.post("/v1/mykey/register", body)) == (422, "invalid_certificate")


def test_certificate_that_is_not_base64(mykey):
    body = register_body(mykey, mykey.card())
    body["proof"]["certificate"] = "%%%%"
    assert error_code(mykey.post("/v1/mykey/register", body)) == (422, "invalid_card_proof")


def test_a_signature_over_another_challenge(mykey, engine):
    card = mykey.card()
    body = register_body(mykey, card)
    other = card.proof("register", mykey.challenge("register"), cardproof.register_action(None, None))
    body["proof"]["signature"] = other["signature"]
    before = tables_snapshot(engine)
    assert error_code(mykey.post("/v1/mykey/register", body)) == (401, "bad_card_signature")
    assert tables_snapshot(engine) == before


def test_a_signature_for_another_purpose_or_action(mykey):
    card = mykey.card()
    challenge = mykey.challenge("register")
    link_proof = card.proof("link", challenge, cardproof.link_action("A1", "789"))
    body = {"client_id": "reg-0000001", "proof": link_proof}
    assert error_code(mykey.post("/v1/mykey/register", body)) == (401, "bad_card_signature")
    # consent to a random ID is not consent to a chosen one
    body = register_body(mykey, card, challenge=challenge, action=cardproof.register_action(None, None))
    body["mykey_id"] = "Hanako24"
    assert error_code(mykey.post("/v1/mykey/register", body)) == (401, "bad_card_signature")


def test_another_persons_signature_under_my_certificate(mykey):
    mine, theirs = mykey.card(), mykey.card()
    body = register_body(mykey, mine)
    body["proof"]["signature"] = register_body(mykey, theirs, challenge=body["proof"]["challenge"])["proof"][
        "signature"
    ]
    assert error_code(mykey.post("/v1/mykey/register", body)) == (401, "bad_card_signature")


def test_a_reused_challenge(mykey):
    card = mykey.card()
    body = register_body(mykey, card)
    assert mykey.post("/v1/mykey/register", body).status_code == 201
    again = {**body, "client_id": "reg-00000002"}  # another request answering the same challenge
    assert error_code(mykey.post("/v1/mykey/register", again)) == (409, "challenge_used")


def test_an_expired_challenge(mykey, app):
    from dataclasses import replace

    app.extensions["mkp.config"] = replace(app.extensions["mkp.config"], challenge_seconds=-1)
    body = register_body(mykey, mykey.card())
    assert error_code(mykey.post("/v1/mykey/register", body)) == (409, "challenge_expired")


@pytest.mark.parametrize(
    "challenge",
    [
        "A" * 43,  # the right length, no MAC of ours
        "not-a-challenge",
        "",
        "A" * 65,
        "%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%",
    ],
)
def test_an_unknown_challenge(mykey, challenge):
    card = mykey.card()
    body = register_body(mykey, card, challenge=challenge or "x")
    body["proof"]["challenge"] = challenge
    r = mykey.post("/v1/mykey/register", body)
    assert r.status_code == 422 and r.json["error"]["code"] in ("unknown_challenge", "invalid_card_proof")


def test_a_challenge_for_another_purpose(mykey):
    card = mykey.card()
    challenge = mykey.challenge("show")  # asked for a look at the ID, answered as a registration
    body = register_body(mykey, card, challenge=challenge)
    assert error_code(mykey.post("/v1/mykey/register", body)) == (422, "unknown_challenge")


def test_a_terminal_purpose_cannot_be_asked_for_at_home(mykey):
    r = mykey.post("/v1/mykey/challenges", {"purpose": "lookup"})
    assert error_code(r) == (422, "invalid_purpose")


def test_no_current_crl_refuses_every_card(mykey, app):
    from server.platform.crls.service import CurrentCrls

    class Stale(CurrentCrls):
        def stores(self, conn):
            return []

    app.extensions["mkp.crls"] = Stale(app.extensions["mkp.crls"].trust)
    body = register_body(mykey, mykey.card())
    assert error_code(mykey.post("/v1/mykey/register", body)) == (503, "crl_stale")


def test_only_what_identifies_the_certificate_is_stored(mykey, engine):
    from cryptography import x509
    from sqlalchemy import select

    from server.db.engine import read
    from server.platform.tables import mykey_certificates

    card = mykey.card()
    mykey.register(card)
    cert = x509.load_der_x509_certificate(card.certificate)
    with read(engine) as conn:
        row = conn.execute(select(mykey_certificates)).one()
    assert row.serial == format(cert.serial_number, "X")
    assert row.sha256 == cardproof.certificate_sha256(card.certificate)
    snapshot = str(tables_snapshot(engine))
    assert cert.subject.rfc4514_string().split("CN=")[1] not in snapshot  # nor the subject's name
    assert base64.b64encode(card.certificate).decode()[:40] not in snapshot  # nor the certificate
