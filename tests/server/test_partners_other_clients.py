"""Partner and terminal requests signed by another RFC 9421 client (the `http-message-signatures`
library used directly), through the server, on SQLite and PostgreSQL: a partner's conversion that
also covers ``content-type`` is taken, its replay is refused naming a partner key (not a terminal
key), and a terminal's bodiless GET with no ``content-digest`` is answered."""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime

import requests
from http_message_signatures import HTTPMessageSigner
from partners_helpers import add_partner, link, new_holder
from terminal_helpers import error_code

from mkp_core import signing

REQUIRED = ("@method", "@authority", "@path", "@query")


def _outside(client, key, key_id, tag, method, path, body=None, covered=REQUIRED):
    """Signed as another implementation would, then sent through the app."""
    data = json.dumps(body).encode() if body is not None else None
    headers = {"Content-Type": "application/json"} if data else {}
    req = requests.Request(method, "http://localhost" + path, data=data, headers=headers).prepare()
    HTTPMessageSigner(signature_algorithm=signing.ALGORITHM, key_resolver=signing._SingleKey(key)).sign(
        req,
        key_id=key_id,
        created=datetime.fromtimestamp(int(time.time()), tz=UTC),
        nonce=uuid.uuid4().hex,
        tag=tag,
        covered_component_ids=covered,
        body=data,
    )
    return req, lambda: client.open(path, method=method, headers=dict(req.headers), data=req.body or b"")


def test_a_partner_signing_with_another_library_converts_and_its_replay_names_a_partner(mykey):
    ana = add_partner(mykey, "ANA", name="全日本空輸")
    link(mykey, new_holder(mykey), ana, "A-1")
    body = {"order_id": "o-other-1", "member": "A-1", "amount": 100}
    req, send = _outside(
        mykey.client, ana.key, "partner:ANA", signing.PARTNER_TAG, "POST", "/partner/v1/conversions",
        body, covered=(*REQUIRED, "content-type"),
    )  # fmt: skip
    assert "content-type" in req.headers["Signature-Input"]
    first = send()
    assert first.status_code == 201, first.json
    again = send()
    assert error_code(again) == (401, "replayed_nonce")
    assert again.json["error"]["message"] == "nonce already used by partner key 'partner:ANA'"


def test_a_terminal_get_without_content_digest_is_answered(client, enrolled):
    terminal_id, key, _ = enrolled
    req, send = _outside(client, key, terminal_id, signing.TAG, "GET", "/v1/terminal/ping")
    assert "Content-Digest" not in req.headers
    reply = send()
    assert reply.status_code == 200, reply.json
    assert reply.json["terminal_id"] == terminal_id
