"""Terminals as the operator, the technician and the terminal itself see them."""

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID
from terminal_helpers import csr_for, new_code, signed

from mkp_core import signing
from server.db.engine import write
from server.terminals import service
from server.terminals.ca import TerminalCA


def test_enrollment_issues_a_certificate_for_the_terminal_key(client, operators, enrolled, app):
    terminal_id, key, _ = enrolled
    shown = client.get(f"/v1/terminals/{terminal_id}", headers=operators.central).json
    assert shown["status"] == "active" and shown["place"] == "yokosuka-museum"
    assert shown["key_fingerprint"] == signing.key_fingerprint(key)
    ca_dir = Path(app.extensions["mkp.config"].terminal_ca_dir)
    ca = TerminalCA.open(ca_dir)
    assert (ca_dir / "terminal-ca.key").stat().st_mode & 0o777 == 0o600
    listed = client.get("/v1/terminals", headers=operators.yokosuka).json["terminals"]
    assert [t["id"] for t in listed] == [terminal_id]
    assert client.get("/v1/terminals", headers=operators.sapporo).json["terminals"] == []
    cert = x509.load_pem_x509_certificate(
        client.post("/v1/enroll", json={"code": enrolled[2], "csr": csr_for(key)})
        .json["certificate"]
        .encode()
    )
    assert cert.public_key().public_numbers() == key.public_key().public_numbers()
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == terminal_id
    cert.verify_directly_issued_by(ca.certificate)


def test_code_works_once_and_rerun_with_same_key_is_safe(client, operators, enrolled):
    terminal_id, key, code = enrolled
    again = client.post("/v1/enroll", json={"code": code, "csr": csr_for(key)})
    assert again.status_code == 201 and again.json["terminal_id"] == terminal_id
    other = client.post("/v1/enroll", json={"code": code, "csr": csr_for(signing.generate_terminal_key())})
    assert other.status_code == 409 and other.json["error"]["code"] == "code_used"


def test_code_is_forgiving_to_type(client, operators, place):
    code = new_code(client, operators)["code"]
    typed = code.lower().replace("-", " ")
    r = client.post("/v1/enroll", json={"code": typed, "csr": csr_for(signing.generate_terminal_key())})
    assert r.status_code == 201


@pytest.mark.parametrize(
    "code,csr,status,error",
    [
        ("AAAA-BBBB-CCCC-DDDD", "ok", 404, "unknown_code"),
        (None, "garbage", 422, "invalid_csr"),
        (None, "rsa", 422, "invalid_csr"),
        (None, "p384", 422, "invalid_csr"),
        (None, "", 422, "invalid_request"),
    ],
)
def test_enroll_refusals_change_nothing(client, operators, place, code, csr, status, error):
    issued = new_code(client, operators)
    key = signing.generate_terminal_key()
    csr_pem = {
        "ok": csr_for(key),
        "garbage": "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n",
        "rsa": csr_for(rsa.generate_private_key(public_exponent=65537, key_size=2048)),
        "p384": csr_for(ec.generate_private_key(ec.SECP384R1())),
        "": "",
    }[csr]
    r = client.post("/v1/enroll", json={"code": code or issued["code"], "csr": csr_pem})
    assert r.status_code == status and r.json["error"]["code"] == error
    # The code still works afterwards: nothing was used up.
    ok = client.post("/v1/enroll", json={"code": issued["code"], "csr": csr_for(key)})
    assert ok.status_code == 201


def test_expired_code(client, operators, place, engine, app):
    issued = new_code(client, operators, ttl_hours=1)
    ca = TerminalCA.open(app.extensions["mkp.config"].terminal_ca_dir)
    later = datetime.now(UTC) + timedelta(hours=1, seconds=1)
    with pytest.raises(service.Conflict) as e, write(engine) as conn:
        service.enroll(conn, ca, issued["code"], csr_for(signing.generate_terminal_key()), now=later)
    assert e.value.code == "code_expired"


@pytest.mark.parametrize("ttl", [0, 169, 1.5, "24"])
def test_enrollment_ttl_limits(client, operators, place, ttl):
    r = client.post(
        "/v1/terminals/enrollments",
        json={"client_id": "enr-ttl-0001", "place": "yokosuka-museum", "name": "x", "ttl_hours": ttl},
        headers=operators.central,
    )
    assert r.status_code == 422


def test_code_is_bound_to_its_place_and_scope(client, operators, place):
    r = client.post(
        "/v1/terminals/enrollments",
        json={"client_id": "enr-0000001", "place": "no-such-place", "name": "x"},
        headers=operators.central,
    )
    assert r.status_code == 404 and r.json["error"]["code"] == "unknown_place"
    r = client.post(
        "/v1/terminals/enrollments",
        json={"client_id": "enr-0000002", "place": "yokosuka-museum", "name": "x"},
        headers=operators.sapporo,
    )  # another town's place answers as a missing one
    assert r.status_code == 404 and r.json["error"] == {**r.json["error"], "code": "unknown_place"}
    r = client.post(
        "/v1/places",
        json={
            "client_id": "place-0002",
            "place_id": "sapporo-lib",
            "name": "x",
            "kind": "library",
            "municipality": "011002",
        },
        headers=operators.yokosuka,
    )
    assert r.status_code == 403


def test_signed_requests(client, enrolled):
    terminal_id, key, _ = enrolled
    ping = signed(client, key, terminal_id, "/v1/terminal/ping")
    assert ping.status_code == 200 and ping.json["terminal_id"] == terminal_id
    config = signed(client, key, terminal_id, "/v1/terminal/config")
    assert config.json["place"]["municipality"] == "142018" and config.json["point_codes"] == ["142018"]
    assert config.json["offline"] == {
        "max_spend": 3000,
        "max_card_day": 5000,
        "max_total": 20000,
        "max_hours": 24,
        "max_crl_hours": 48,
    }


def test_downloads_send_only_what_changed(client, enrolled):
    terminal_id, key, _ = enrolled
    for path in ("/v1/terminal/config", "/v1/terminal/trust-list"):
        first = signed(client, key, terminal_id, path)
        assert first.status_code == 200 and first.headers["ETag"]
        req = requests.Request(
            "GET", "http://localhost" + path, auth=signing.TerminalAuth(terminal_id, key)
        ).prepare()
        again = client.get(path, headers={**dict(req.headers), "If-None-Match": first.headers["ETag"]})
        assert again.status_code == 304 and again.data == b""
    anchors = signed(client, key, terminal_id, "/v1/terminal/trust-list").json["jpki_anchors"]
    assert len(anchors) == 2  # J-LIS's 2015 and 2023 generations by default


@pytest.mark.parametrize(
    "case,code",
    [
        ("no signature", "missing_signature"),
        ("unknown terminal", "unknown_key"),
        ("other key", "bad_signature"),
        ("clock 6 minutes behind", "clock_skew"),
        ("clock 6 minutes ahead", "clock_skew"),
        ("body changed", "digest_mismatch"),
        ("replayed", "replayed_nonce"),
    ],
)
def test_signature_refusals(client, enrolled, case, code):
    terminal_id, key, _ = enrolled
    path = "/v1/terminal/ping"
    if case == "no signature":
        r = client.get(path)
    elif case == "unknown terminal":
        r = signed(client, key, "t000000000000", path)
    elif case == "other key":
        r = signed(client, signing.generate_terminal_key(), terminal_id, path)
    elif case.startswith("clock"):
        offset = -360 if "behind" in case else 360
        r = signed(client, key, terminal_id, path, clock=lambda: time.time() + offset)
    elif case == "body changed":
        r = signed(client, key, terminal_id, path, tamper=lambda body: b'{"x": 1}')
    else:
        req = requests.Request(
            "GET", "http://localhost" + path, auth=signing.TerminalAuth(terminal_id, key)
        ).prepare()
        assert client.get(path, headers=dict(req.headers)).status_code == 200
        r = client.get(path, headers=dict(req.headers))
    assert r.status_code == 401, r.json
    assert r.json["error"]["code"] == code


def test_revoked_terminal_is_refused_on_its_next_request(client, operators, enrolled):
    terminal_id, key, _ = enrolled
    assert signed(client, key, terminal_id, "/v1/terminal/ping").status_code == 200
    r = client.post(
        f"/v1/terminals/{terminal_id}/revoke",
        json={"client_id": "rev-000001", "reason": "stolen"},
        headers=operators.yokosuka,
    )
    assert r.status_code == 200 and r.json["status"] == "revoked" and r.json["revoke_reason"] == "stolen"
    refused = signed(client, key, terminal_id, "/v1/terminal/ping")
    assert refused.status_code == 401 and refused.json["error"]["code"] == "revoked_key"
    r = client.post(
        f"/v1/terminals/{terminal_id}/revoke", json={"client_id": "rev-000002"}, headers=operators.sapporo
    )
    assert r.status_code == 404 and r.json["error"]["code"] == "unknown_terminal"


def _change_terminal(app, terminal_id, **values):
    """A change made by another server worker: this one is not told, its remembered key stays."""
    from sqlalchemy import update

    from server.platform.tables import terminals

    with write(app.extensions["mkp.engine"]) as conn:
        conn.execute(update(terminals).where(terminals.c.id == terminal_id).values(**values))


def test_a_revocation_by_another_worker_counts_on_the_next_request(client, enrolled, app):
    terminal_id, key, _ = enrolled
    assert signed(client, key, terminal_id, "/v1/terminal/ping").status_code == 200
    _change_terminal(app, terminal_id, status="revoked", revoked_at=datetime.now(UTC))
    refused = signed(client, key, terminal_id, "/v1/terminal/ping")
    assert refused.status_code == 401 and refused.json["error"]["code"] == "revoked_key"
    refused = signed(client, key, terminal_id, "/v1/terminal/config")
    assert refused.status_code == 401 and refused.json["error"]["code"] == "revoked_key"


def test_a_new_key_replaces_the_remembered_one_at_once(client, enrolled, app):
    terminal_id, old_key, _ = enrolled
    assert signed(client, old_key, terminal_id, "/v1/terminal/ping").status_code == 200
    new_key = signing.generate_terminal_key()
    _change_terminal(app, terminal_id, public_key_pem=signing.public_key_pem(new_key).decode())
    refused = signed(client, old_key, terminal_id, "/v1/terminal/ping")
    assert refused.status_code == 401 and refused.json["error"]["code"] == "bad_signature"
    assert signed(client, new_key, terminal_id, "/v1/terminal/ping").status_code == 200
    assert signed(client, old_key, terminal_id, "/v1/terminal/ping").status_code == 401


def test_credentials_do_not_cross(client, operators, enrolled):
    terminal_id, key, _ = enrolled
    # A terminal signature is no operator credential...
    r = signed(
        client,
        key,
        terminal_id,
        "/v1/grants",
        method="POST",
        body={"client_id": "grant-0001", "municipality": "142018", "holder": "a", "amount": 5},
    )
    assert r.status_code == 401 and r.json["error"]["code"] == "unauthorized"
    # ...and an operator token is no terminal credential.
    r = client.get("/v1/terminal/ping", headers=operators.central)
    assert r.status_code == 401 and r.json["error"]["code"] == "missing_signature"
