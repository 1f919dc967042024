"""A passkey in software, for in-process tests of the WebAuthn endpoints: it answers a page's
options as a platform authenticator would (attestation "none", an ES256 key, a counter), so the
server's checks run on real signatures without a browser."""

from __future__ import annotations

import hashlib
import json
import os
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from webauthn.helpers import bytes_to_base64url, encode_cbor

ORIGIN = "http://localhost"  # Flask's test client's host
UP_UV = 0x01 | 0x04
ATTESTED = 0x40


class SoftAuthenticator:
    """One passkey: its id, its private key, its signature counter."""

    def __init__(self, rp_id: str = "localhost") -> None:
        self.rp_id = rp_id
        self.credential_id = os.urandom(16)
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.count = 0

    @property
    def id(self) -> str:
        return bytes_to_base64url(self.credential_id)

    def public_key(self) -> bytes:
        """The key as COSE (what the server keeps)."""
        numbers = self.key.public_key().public_numbers()
        cose = {1: 2, 3: -7, -1: 1, -2: numbers.x.to_bytes(32, "big"), -3: numbers.y.to_bytes(32, "big")}
        return bytes(encode_cbor(cose))

    def _client_data(self, kind: str, options: dict[str, Any]) -> bytes:
        data = {"type": kind, "challenge": options["challenge"], "origin": ORIGIN, "crossOrigin": False}
        return json.dumps(data).encode()

    def _auth_data(self, flags: int, extra: bytes = b"") -> bytes:
        self.count += 1
        rp_hash = hashlib.sha256(self.rp_id.encode()).digest()
        return rp_hash + bytes([flags]) + self.count.to_bytes(4, "big") + extra

    def create(self, options: dict[str, Any]) -> dict[str, Any]:
        """The answer to registration options (``navigator.credentials.create``)."""
        attested = bytes(16) + len(self.credential_id).to_bytes(2, "big") + self.credential_id
        auth_data = self._auth_data(UP_UV | ATTESTED, attested + self.public_key())
        attestation = encode_cbor({"fmt": "none", "attStmt": {}, "authData": auth_data})
        return {
            "id": self.id,
            "rawId": self.id,
            "type": "public-key",
            "response": {
                "clientDataJSON": bytes_to_base64url(self._client_data("webauthn.create", options)),
                "attestationObject": bytes_to_base64url(bytes(attestation)),
            },
            "clientExtensionResults": {},
        }

    def get(self, options: dict[str, Any], signer: SoftAuthenticator | None = None) -> dict[str, Any]:
        """The answer to login options (``navigator.credentials.get``), signed by ``signer``'s key
        (another passkey's, to forge one) or this one's."""
        client_data = self._client_data("webauthn.get", options)
        auth_data = self._auth_data(UP_UV)
        signed = auth_data + hashlib.sha256(client_data).digest()
        signature = (signer or self).key.sign(signed, ec.ECDSA(hashes.SHA256()))
        return {
            "id": self.id,
            "rawId": self.id,
            "type": "public-key",
            "response": {
                "clientDataJSON": bytes_to_base64url(client_data),
                "authenticatorData": bytes_to_base64url(auth_data),
                "signature": bytes_to_base64url(signature),
            },
            "clientExtensionResults": {},
        }
