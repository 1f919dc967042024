"""CRLs: the operator uploads what the CA signed; terminals download full lists plus deltas."""

import base64
from dataclasses import replace

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from mkp_testing import fresh_test_ca
from terminal_helpers import csr_for, new_code

from drivers.card.virtual.ca import TestCA
from drivers.card.virtual.pki import build_crl
from mkp_core import signing
from mkp_core.crl import CrlStore
from mkp_core.trust import TrustStore


@pytest.fixture
def test_ca(tmp_path):
    return fresh_test_ca(tmp_path / "jpki-test-ca")


@pytest.fixture
def app(app, tmp_path, test_ca):
    config = app.extensions["mkp.config"]
    app.extensions["mkp.config"] = replace(config, jpki_anchor_files=str(test_ca.cert_path))
    return app


def pem(crl: x509.CertificateRevocationList) -> str:
    return crl.public_bytes(serialization.Encoding.PEM).decode()


def delta(ca: TestCA, number: int, base: int, serials: list[int]) -> x509.CertificateRevocationList:
    return build_crl(ca.certificate, ca.key, serials, number=number, delta_base=base)


def upload(client, operators, text, client_id, headers=None):
    return client.post(
        "/v1/crls", json={"client_id": client_id, "crl": text}, headers=headers or operators.central
    )


@pytest.fixture
def terminal(client, operators):
    client.post(
        "/v1/places",
        json={
            "client_id": "place-0001",
            "place_id": "yokosuka-museum",
            "name": "m",
            "kind": "museum",
            "municipality": "142018",
        },
        headers=operators.central,
    )
    key = signing.generate_terminal_key()
    r = client.post("/v1/enroll", json={"code": new_code(client, operators)["code"], "csr": csr_for(key)})
    return r.json["terminal_id"], key


def download(client, terminal):
    tid, key = terminal
    req = requests.Request(
        "GET", "http://localhost/v1/terminal/crl", auth=signing.TerminalAuth(tid, key)
    ).prepare()
    return client.get("/v1/terminal/crl", headers=dict(req.headers))


def test_full_then_delta_reach_the_terminal(client, operators, test_ca, terminal):
    assert download(client, terminal).json["error"]["code"] == "no_crl"
    test_ca.revoke(1001)
    full = test_ca.issue_crl()
    r = upload(client, operators, pem(full), "crl-000001")
    assert r.status_code == 201 and (r.json["kind"], r.json["entries"]) == ("full", 1)
    d = delta(
        test_ca,
        full.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number + 1,
        full.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number,
        [2002],
    )
    der_b64 = base64.b64encode(d.public_bytes(serialization.Encoding.DER)).decode()
    r = upload(client, operators, der_b64, "crl-000002")
    assert r.status_code == 201 and r.json["kind"] == "delta"
    got = download(client, terminal)
    assert got.status_code == 200 and [c["kind"] for c in got.json["crls"]] == ["full", "delta"]
    # The terminal checks the CA's own signatures and lays the delta over the full list.
    trust = TrustStore.from_pem(test_ca.cert_path.read_bytes())
    store = CrlStore.load(got.json["pem"][0].encode(), trust).apply_delta(got.json["pem"][1].encode(), trust)
    assert store.is_revoked(1001) and store.is_revoked(2002) and not store.is_revoked(3003)


def test_bad_uploads_change_nothing(client, operators, test_ca, tmp_path, terminal):
    other = TestCA.init(tmp_path / "foreign")  # same DN, another key
    cases = [
        (pem(other.issue_crl()), 422, "untrusted_crl"),
        ("not a crl", 422, "invalid_crl"),
        ("-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----", 422, "invalid_crl"),
        (pem(delta(test_ca, 9, 8, [1])), 409, "no_base_crl"),
    ]
    for n, (text, status, code) in enumerate(cases):
        r = upload(client, operators, text, f"crl-bad-{n:04d}")
        assert (r.status_code, r.json["error"]["code"]) == (status, code), r.json
    # A card's JSON sent as DER: said plainly, not in the parser's words ("ParseError { kind: …").
    r = upload(client, operators, base64.b64encode(b'{"card": 1}').decode(), "crl-bad-json")
    assert (r.status_code, r.json["error"]["code"]) == (422, "invalid_crl")
    assert r.json["error"]["message"] == "not a CRL: neither a PEM X.509 CRL nor DER in base64"
    assert download(client, terminal).json["error"]["code"] == "no_crl"
    r = upload(client, operators, pem(test_ca.issue_crl()), "crl-000001", headers=operators.yokosuka)
    assert r.status_code == 403


def test_replays_and_old_numbers(client, operators, test_ca):
    first, second = test_ca.issue_crl(), test_ca.issue_crl()
    assert upload(client, operators, pem(second), "crl-000002").status_code == 201
    assert (
        upload(client, operators, pem(second), "crl-000002").status_code == 201
    )  # same id, same body: replay
    assert upload(client, operators, pem(second), "crl-000003").json["error"]["code"] == "crl_exists"
    assert upload(client, operators, pem(first), "crl-000004").json["error"]["code"] == "stale_crl"
