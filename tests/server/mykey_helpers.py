"""A MyKey platform in-process for the server tests: a test JPKI CA, virtual cards, terminals.

Cards are the project's virtual My Number cards (the JPKI applet's APDUs) in a reader of this
process (``DirectBackend``): the server receives exactly what a card behind pcscd would produce.
RSA key generation is the slow part, so cards take their keys from a small pool shared by the
session (``KeyPool``): within one test every card has its own key.
"""

from __future__ import annotations

import datetime as dt
import uuid
from contextlib import ExitStack
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import Encoding
from flask import Flask
from flask.testing import FlaskClient
from terminal_helpers import csr_for, new_code, signed

from agent.card_session import ProvingCard, proving_card
from agent.mykey import MyKeyClient, TerminalLookups
from drivers.card.virtual.ca import TestCA
from drivers.card.virtual.card import CardData, VirtualMyNumberCard
from drivers.card.virtual.direct import DirectBackend
from drivers.card.virtual.pki import CERT_YEARS, add_years, build_auth_certificate, new_rsa_key, utcnow
from mkp_core import signing
from mkp_core.client import ApiClient
from mkp_core.signing import TerminalAuth

PIN = "1234"


class KeyPool:
    """RSA keys made once per session; ``take(n)`` hands a test's cards distinct ones."""

    def __init__(self) -> None:
        self.keys: list[rsa.RSAPrivateKey] = []

    def key(self, index: int) -> rsa.RSAPrivateKey:
        while len(self.keys) <= index:
            self.keys.append(new_rsa_key())
        return self.keys[index]


@dataclass
class Card:
    """A virtual My Number card, and the same card opened with its PIN (ready to sign)."""

    data: CardData
    virtual: VirtualMyNumberCard
    open: ProvingCard

    @property
    def certificate(self) -> bytes:
        return self.data.auth_certificate

    def proof(self, purpose: str, challenge: str, action: dict[str, str] | None = None) -> dict[str, str]:
        return self.open.prove(purpose, challenge, action).to_wire()


@dataclass
class Terminal:
    terminal_id: str
    key: Any
    service: str
    lookups: TerminalLookups

    def post(self, client: FlaskClient, path: str, body: dict) -> Any:
        return signed(client, self.key, self.terminal_id, path, method="POST", body=body)


@dataclass
class MyKeyWorld:
    """The server with a test JPKI CA as its anchor and a current CRL; holders and terminals."""

    app: Flask
    client: FlaskClient
    operators: Any
    ca: TestCA
    url: str
    keys: KeyPool
    _used_keys: int = 0
    _terminals: int = 0
    cards: list[Card] = field(default_factory=list)
    sessions: ExitStack = field(default_factory=ExitStack)

    @property
    def api(self) -> ApiClient:
        return ApiClient(self.url)

    @property
    def holder(self) -> MyKeyClient:
        return MyKeyClient(self.api)

    def card(
        self,
        *,
        ca: TestCA | None = None,
        expired: bool = False,
        not_yet_valid: bool = False,
        key_usage: Any = "default",
    ) -> Card:
        key = self.keys.key(self._used_keys)
        self._used_keys += 1
        ca = ca or self.ca
        now = utcnow()
        nb = na = None
        if expired:
            na = now - dt.timedelta(days=10)
            nb = add_years(na, -CERT_YEARS)
        elif not_yet_valid:
            nb = now + dt.timedelta(days=30)
            na = add_years(nb, CERT_YEARS)
        kw = {} if key_usage == "default" else {"key_usage": key_usage}
        cert = build_auth_certificate(
            ca.certificate, ca.key, key.public_key(), not_before=nb, not_after=na, **kw
        )
        data = CardData(
            auth_key=key,
            auth_certificate=cert.public_bytes(serialization.Encoding.DER),
            ca_certificate=ca.certificate.public_bytes(serialization.Encoding.DER),
            pin=PIN,
        )
        virtual = VirtualMyNumberCard(data)
        backend = DirectBackend()
        backend.insert(virtual)
        opened = self.sessions.enter_context(proving_card(backend, PIN))  # open until the test ends
        card = Card(data, virtual, opened)
        self.cards.append(card)
        return card

    def challenge(self, purpose: str) -> str:
        r = self.client.post("/v1/mykey/challenges", json={"purpose": purpose})
        assert r.status_code == 201, r.json
        return r.json["challenge"]

    def post(self, path: str, body: dict) -> Any:
        return self.client.post(path, json=body)

    def register(self, card: Card, chosen: str | None = None, home: str | None = None) -> dict[str, Any]:
        return self.holder.register(card.open, chosen, home)

    def upload_crl(self) -> dict[str, Any]:
        crl = self.ca.issue_crl().public_bytes(serialization.Encoding.PEM).decode()
        r = self.client.post(
            "/v1/crls",
            json={"client_id": f"crl-{uuid.uuid4()}", "crl": crl},
            headers=self.operators.central,
        )
        assert r.status_code == 201, r.json
        return r.json

    def service(self, code: str, kind: str = "shopping-street", confirm: bool = False, **extra: Any) -> dict:
        body = {
            "client_id": f"service-{code}",
            "code": code,
            "name": extra.pop("name", f"service {code}"),
            "kind": kind,
            "municipality": extra.pop("municipality", "142018"),
            "confirm_links": confirm,
        }
        r = self.client.post("/v1/services", json=body, headers=extra.pop("headers", self.operators.central))
        assert r.status_code == 201, r.json
        return r.json

    def terminal(self, service: str | None) -> Terminal:
        """A place of ``service`` (None: of no service) and a terminal enrolled there."""
        self._terminals += 1
        place = f"place-{self._terminals:03d}"
        body = {
            "client_id": f"place-{place}",
            "place_id": place,
            "name": f"counter at {service}",
            "kind": "shop",
            "municipality": "142018",
            **({"service": service} if service else {}),
        }
        r = self.client.post("/v1/places", json=body, headers=self.operators.central)
        assert r.status_code == 201, r.json
        key = signing.generate_terminal_key()
        code = new_code(self.client, self.operators, place=place)["code"]
        r = self.client.post("/v1/enroll", json={"code": code, "csr": csr_for(key)})
        assert r.status_code == 201, r.json
        tid = r.json["terminal_id"]
        api = ApiClient(self.url, TerminalAuth(tid, key))
        return Terminal(tid, key, service or "", TerminalLookups(api, service or ""))


def configure(app: Flask, ca: TestCA) -> None:
    """Point the app at ``ca`` as its JPKI anchor (before its trust store is first used)."""
    config = app.extensions["mkp.config"]
    app.extensions["mkp.config"] = replace(config, jpki_anchor_files=str(ca.cert_path))
    for cached in ("mkp.trust", "mkp.crls"):
        app.extensions.pop(cached, None)


def serial_of(card: Card) -> int:
    """The serial number of the card's user-authentication certificate (what a CRL lists)."""
    return x509.load_der_x509_certificate(card.certificate).serial_number


def write_crl(ca: TestCA, path: Path, der: bool = False) -> Path:
    """The CA's current CRL (its revocations so far), written to ``path`` as PEM or DER."""
    crl = ca.issue_crl()
    path.write_bytes(crl.public_bytes(Encoding.DER if der else Encoding.PEM))
    return path
