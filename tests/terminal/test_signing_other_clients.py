"""Requests signed as another RFC 9421 implementation writes them: the `http-message-signatures`
library used directly as a client (not our ``RequestSigner``). Such a client may cover more fields
than mkp requires, sends no ``content-digest`` on a GET with no body, and is told which kind of
caller (terminal or partner) a refusal is about. What mkp requires still holds."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import requests
from http_message_signatures import HTTPMessageSigner

from mkp_core import signing
from mkp_core.signing import InMemoryNonceStore

NOW = 1_790_000_000
URL = "https://mkp.example.jp/v1/terminal/spend?lang=ja"
BODY = b'{"amount": 300}'
REQUIRED = ("@method", "@authority", "@path", "@query")  # what mkp requires a signature to cover


@pytest.fixture(scope="module")
def key():
    return signing.generate_terminal_key()


def outside(
    key,
    method,
    url=URL,
    body=None,
    *,
    key_id="T-0001",
    tag=signing.TAG,
    nonce="n-1",
    covered=None,
    headers=(),
):
    """A request signed by the library as a client would: ``body`` given, it adds content-digest."""
    fields = {"Content-Type": "application/json"} if body else {}
    req = requests.Request(method, url, data=body, headers={**fields, **dict(headers)}).prepare()
    HTTPMessageSigner(signature_algorithm=signing.ALGORITHM, key_resolver=signing._SingleKey(key)).sign(
        req,
        key_id=key_id,
        created=datetime.fromtimestamp(NOW, tz=UTC),
        nonce=nonce,
        tag=tag,
        covered_component_ids=covered or REQUIRED,
        body=body,
    )
    return req


def check(req, keys, *, tag=signing.TAG, store=None, body=None):
    signed = signing.verify_signature(req.method, req.url, dict(req.headers), keys, now=NOW, tag=tag)
    data = (req.body or b"") if body is None else body
    return signed.accept(data, InMemoryNonceStore() if store is None else store)


def test_a_signature_covering_more_fields_that_are_present_is_accepted(key):
    keys = signing.InMemoryKeyResolver({"T-0001": key.public_key()})
    covered = (*REQUIRED, "content-type")
    assert check(outside(key, "POST", body=BODY, covered=covered), keys).key_id == "T-0001"
    partner = signing.InMemoryKeyResolver({"partner:ANA": key.public_key()})
    req = outside(
        key, "POST", "https://mkp.example.jp/partner/v1/conversions", BODY,
        key_id="partner:ANA", tag=signing.PARTNER_TAG, covered=covered,
    )  # fmt: skip
    assert check(req, partner, tag=signing.PARTNER_TAG).key_id == "partner:ANA"


def test_a_covered_field_the_request_does_not_carry_is_still_refused(key):
    keys = signing.InMemoryKeyResolver({"T-0001": key.public_key()})
    covered = (*REQUIRED, "x-shop-till")
    req = outside(key, "POST", body=BODY, covered=covered, headers={"X-Shop-Till": "3"})
    signing.verify_signature(req.method, req.url, dict(req.headers), keys, now=NOW)  # signed with it
    del req.headers["X-Shop-Till"]
    with pytest.raises(signing.BadSignature, match="not found in the message"):
        check(req, keys)


def test_a_get_with_no_body_needs_no_content_digest(key):
    keys = signing.InMemoryKeyResolver({"T-0001": key.public_key()})
    req = outside(key, "GET", "https://mkp.example.jp/v1/terminal/ping")
    assert "Content-Digest" not in req.headers
    assert check(req, keys).nonce == "n-1"


def test_a_body_still_needs_its_digest_covered_and_checked(key):
    keys = signing.InMemoryKeyResolver({"T-0001": key.public_key()})
    bare = outside(key, "POST")  # signed as if bodiless ...
    with pytest.raises(signing.BadSignature, match="a request with a body must cover content-digest"):
        check(bare, keys, body=BODY)  # ... then sent with a body the headers did not announce
    announced = outside(key, "POST", nonce="n-2")
    announced.headers["Content-Length"] = str(len(BODY))
    with pytest.raises(signing.BadSignature, match="content-digest"):
        check(announced, keys, body=BODY)
    with pytest.raises(signing.DigestMismatch):
        check(outside(key, "POST", body=BODY, nonce="n-3"), keys, body=b'{"amount": 30000}')


def test_the_required_components_are_still_required(key):
    keys = signing.InMemoryKeyResolver({"T-0001": key.public_key()})
    req = outside(key, "GET", covered=("@method", "@authority", "@path"))
    with pytest.raises(signing.BadSignature, match="it leaves out @query"):
        check(req, keys)


def test_a_partners_replay_and_unknown_key_name_a_partner(key):
    partner = signing.InMemoryKeyResolver({"partner:ANA": key.public_key()})
    store = InMemoryNonceStore()
    url = "https://mkp.example.jp/partner/v1/conversions"
    req = outside(key, "POST", url, BODY, key_id="partner:ANA", tag=signing.PARTNER_TAG)
    check(req, partner, tag=signing.PARTNER_TAG, store=store)
    with pytest.raises(signing.ReplayedNonce) as replay:
        check(req, partner, tag=signing.PARTNER_TAG, store=store)
    assert str(replay.value) == "nonce already used by partner key 'partner:ANA'"

    def unknown(key_id):
        raise KeyError(key_id)

    with pytest.raises(signing.UnknownKey) as stranger:
        check(req, unknown, tag=signing.PARTNER_TAG)
    assert "no partner has key id 'partner:ANA'" in str(stranger.value) and "terminal" not in str(
        stranger.value
    )
    terminal = outside(key, "POST", body=BODY, nonce="t-1")
    keys = signing.InMemoryKeyResolver({"T-0001": key.public_key()})
    check(terminal, keys, store=store)
    with pytest.raises(signing.ReplayedNonce, match="nonce already used by terminal key 'T-0001'"):
        check(terminal, keys, store=store)
