"""Helpers for terminal tests: CSRs, enrollment codes, requests signed by a terminal key."""

import time

import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import NameOID

from mkp_core import signing


def csr_for(key) -> str:
    builder = x509.CertificateSigningRequestBuilder().subject_name(
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "t")])
    )
    return builder.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM).decode()


def new_code(client, operators, name="counter 1", headers=None, **extra):
    body = {
        "client_id": f"enr-{name.replace(' ', '-')}-{time.time_ns()}",
        "place": "yokosuka-museum",
        "name": name,
        **extra,
    }
    r = client.post("/v1/terminals/enrollments", json=body, headers=headers or operators.central)
    assert r.status_code == 201, r.json
    return r.json


def signed(client, key, terminal_id, path, method="GET", body=None, clock=time.time, tamper=None):
    """Sign with the real requests auth, then send through the app."""
    req = requests.Request(
        method, "http://localhost" + path, json=body, auth=signing.TerminalAuth(terminal_id, key, clock=clock)
    ).prepare()
    data = req.body or b""
    if tamper:
        data = tamper(data)
    return client.open(path, method=method, headers=dict(req.headers), data=data)


def error_code(response) -> tuple[int, str]:
    """A refusal as (HTTP status, error code), for comparing in one assert."""
    return response.status_code, response.json["error"]["code"]
