"""Terminal request signatures: what the server accepts and each reason it refuses."""

from __future__ import annotations

import json
import os
import stat
import threading
import time
from datetime import UTC, datetime

import pytest
import requests
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from mkp_core import signing
from mkp_core.signing import (
    InMemoryKeyResolver,
    InMemoryNonceStore,
    SignatureError,
    TerminalAuth,
    generate_terminal_key,
    verify_request,
)
from server.web.request_url import wsgi_request_url

NOW = 1_790_000_000.0
URL = "https://mkp.example.jp/api/v1/points/spend?shop=A1"
BODY = b'{"mykey_id":"AB12CD34","amount":500}'


@pytest.fixture(scope="module")
def key():
    return generate_terminal_key()


@pytest.fixture
def resolver(key):
    return InMemoryKeyResolver({"T-0001": key.public_key()})


def signed(key, method="POST", url=URL, body=BODY, *, key_id="T-0001", created=NOW, nonce=None):
    """A prepared request exactly as the agent would send it."""
    counter = iter(range(10**6))
    auth = TerminalAuth(
        key_id,
        key,
        clock=lambda: created,
        nonce_factory=(lambda: nonce) if nonce else lambda: f"n{next(counter)}",
    )
    return auth(requests.Request(method, url, data=body).prepare())


def verify(req, resolver, store=None, *, now=NOW, method=None, url=None, body=None, headers=None):
    return verify_request(
        method or req.method,
        url or req.url,
        headers if headers is not None else dict(req.headers),
        (req.body or b"") if body is None else body,
        resolver,
        store if store is not None else InMemoryNonceStore(),
        now=now,
    )


def rejected(code, fn, *args, **kwargs) -> SignatureError:
    with pytest.raises(SignatureError) as info:
        fn(*args, **kwargs)
    assert info.value.code == code, str(info.value)
    assert str(info.value)  # a human message, not just the code
    return info.value


# --- accepted ---------------------------------------------------------------------------------


def test_good_request_names_the_terminal_its_time_and_nonce(key, resolver):
    req = signed(key, nonce="abc123")
    result = verify(req, resolver)
    assert result == signing.VerifiedRequest(key_id="T-0001", created=int(NOW), nonce="abc123")


def test_signature_headers_carry_keyid_created_nonce_and_digest(key):
    req = signed(key, nonce="abc123")
    sig_input = req.headers["Signature-Input"]
    for part in (
        '"@method"',
        '"@authority"',
        '"@path"',
        '"@query"',
        '"content-digest"',
        'keyid="T-0001"',
        f"created={int(NOW)}",
        'nonce="abc123"',
        'alg="ecdsa-p256-sha256"',
    ):
        assert part in sig_input
    assert req.headers["Content-Digest"].startswith("sha-256=:")


def test_get_without_body_is_signed_and_accepted(key, resolver):
    req = signed(key, method="GET", url="https://mkp.example.jp/api/v1/trust-list", body=None)
    assert verify(req, resolver, body=b"").key_id == "T-0001"


def test_clock_within_five_minutes_either_way_is_accepted(key, resolver):
    assert verify(signed(key, created=NOW - 300), resolver).created == int(NOW) - 300
    assert verify(signed(key, created=NOW + 300), resolver).created == int(NOW) + 300


def test_json_body_from_requests_is_signed_as_sent(key, resolver):
    auth = TerminalAuth("T-0001", key, clock=lambda: NOW)
    req = auth(requests.Request("POST", URL, json={"name": "日本橋商店街"}).prepare())
    assert verify(req, resolver).key_id == "T-0001"


# --- each refusal -------------------------------------------------------------------------------


def test_no_signature_headers(resolver):
    req = requests.Request("POST", URL, data=BODY).prepare()
    rejected("missing_signature", verify, req, resolver)


def test_signature_from_another_key(key, resolver):
    req = signed(generate_terminal_key())  # claims T-0001 but signed with a stranger's key
    rejected("bad_signature", verify, req, resolver)


def test_tampered_signature_value(key, resolver):
    req = signed(key)
    headers = dict(req.headers)
    headers["Signature"] = headers["Signature"].replace("mkp=:", "mkp=:AAAA", 1)
    rejected("bad_signature", verify, req, resolver, headers=headers)


def test_garbage_signature_input(key, resolver):
    req = signed(key)
    headers = dict(req.headers, **{"Signature-Input": "this is (not a dictionary"})
    rejected("bad_signature", verify, req, resolver, headers=headers)


def test_unknown_terminal(key, resolver):
    rejected("unknown_key", verify, signed(key, key_id="T-9999"), resolver)


def test_key_resolver_raising_keyerror_counts_as_unknown(key):
    rejected("unknown_key", verify, signed(key), {}.__getitem__)


def test_revoked_terminal(key, resolver):
    resolver.revoked.add("T-0001")
    rejected("revoked_key", verify, signed(key), resolver)


def test_reused_nonce(key, resolver):
    store = InMemoryNonceStore()
    req = signed(key, nonce="same")
    verify(req, resolver, store)
    rejected("replayed_nonce", verify, req, resolver, store)


def test_same_nonce_from_another_terminal_is_not_a_replay(key):
    other = generate_terminal_key()
    resolver = InMemoryKeyResolver({"T-0001": key.public_key(), "T-0002": other.public_key()})
    store = InMemoryNonceStore()
    verify(signed(key, nonce="same"), resolver, store)
    assert verify(signed(other, key_id="T-0002", nonce="same"), resolver, store).key_id == "T-0002"


@pytest.mark.parametrize("offset", [-301, +301, -3600])
def test_clock_more_than_five_minutes_off(key, resolver, offset):
    err = rejected("clock_skew", verify, signed(key, created=NOW + offset), resolver)
    assert "300" in str(err)


def test_body_changed_after_signing(key, resolver):
    req = signed(key)
    rejected("digest_mismatch", verify, req, resolver, body=BODY.replace(b"500", b"900"))


def test_body_and_digest_changed_together(key, resolver):
    from http_message_signatures import ContentDigest

    forged = BODY.replace(b"500", b"900")
    headers = dict(signed(key).headers, **{"Content-Digest": ContentDigest.create(forged)})
    rejected("bad_signature", verify, signed(key), resolver, body=forged, headers=headers)


def test_path_changed(key, resolver):
    rejected("bad_signature", verify, signed(key), resolver, url=URL.replace("/spend", "/grant"))


def test_query_changed(key, resolver):
    rejected("bad_signature", verify, signed(key), resolver, url=URL.replace("A1", "B2"))


def test_host_changed(key, resolver):
    rejected(
        "bad_signature", verify, signed(key), resolver, url=URL.replace("mkp.example.jp", "other.example.jp")
    )


def test_method_changed(key, resolver):
    rejected("bad_signature", verify, signed(key), resolver, method="PUT")


def test_signature_not_covering_the_digest_is_refused(key, resolver):
    from http_message_signatures import HTTPMessageSigner

    req = requests.Request("POST", URL, data=BODY).prepare()
    HTTPMessageSigner(signature_algorithm=signing.ALGORITHM, key_resolver=signing._SingleKey(key)).sign(
        req,
        key_id="T-0001",
        created=datetime.fromtimestamp(NOW, tz=UTC),
        nonce="x",
        tag=signing.TAG,
        covered_component_ids=("@method", "@authority", "@path", "@query"),
    )
    err = rejected("bad_signature", verify, req, resolver)
    assert "content-digest" in str(err)


def test_signature_without_nonce_is_refused(key, resolver):
    from http_message_signatures import HTTPMessageSigner

    req = requests.Request("POST", URL, data=BODY).prepare()
    HTTPMessageSigner(signature_algorithm=signing.ALGORITHM, key_resolver=signing._SingleKey(key)).sign(
        req,
        key_id="T-0001",
        created=datetime.fromtimestamp(NOW, tz=UTC),
        tag=signing.TAG,
        covered_component_ids=("@method", "@authority", "@path", "@query"),
        body=BODY,
    )
    err = rejected("bad_signature", verify, req, resolver)
    assert "nonce" in str(err)


def _signed_with_expiry(key, expires: float):
    from http_message_signatures import HTTPMessageSigner

    req = requests.Request("POST", URL, data=BODY).prepare()
    HTTPMessageSigner(signature_algorithm=signing.ALGORITHM, key_resolver=signing._SingleKey(key)).sign(
        req,
        key_id="T-0001",
        created=datetime.fromtimestamp(NOW, tz=UTC),
        expires=datetime.fromtimestamp(expires, tz=UTC),
        nonce="exp-1",
        tag=signing.TAG,
        label=signing.LABEL,
        covered_component_ids=signing.COVERED_COMPONENTS[:-1],
        body=BODY,
    )
    return req


def test_a_signature_past_its_expires_is_refused(key, resolver):
    req = _signed_with_expiry(key, NOW + 10)
    assert verify(req, resolver, now=NOW + 5).key_id == "T-0001"  # still within what the signer allowed
    rejected("expired_signature", verify, req, resolver, now=NOW + 11)
    rejected("bad_signature", verify, _signed_with_expiry(key, NOW - 10), resolver)  # expires before created


def test_a_nonce_longer_than_servers_keep_is_refused_not_cut(key, resolver):
    store = InMemoryNonceStore()
    rejected("bad_nonce", verify, signed(key, nonce="n" * (signing.MAX_NONCE_LENGTH + 1)), resolver, store)
    assert verify(signed(key, nonce="n" * signing.MAX_NONCE_LENGTH), resolver, store).key_id == "T-0001"


def test_the_signature_is_checked_before_the_body_is_needed(key, resolver):
    req = signed(key, nonce="headers-first")
    stranger = signing.InMemoryKeyResolver({})
    rejected(
        "unknown_key", signing.verify_signature, req.method, req.url, dict(req.headers), stranger, now=NOW
    )
    checked = signing.verify_signature(req.method, req.url, dict(req.headers), resolver, now=NOW)
    store = InMemoryNonceStore()
    rejected("digest_mismatch", checked.accept, b"another body", store)
    assert checked.accept(req.body, store).nonce == "headers-first"
    rejected("replayed_nonce", checked.accept, req.body, store)


def test_refused_request_does_not_use_up_its_nonce(key, resolver):
    store = InMemoryNonceStore()
    req = signed(key, nonce="once")
    rejected("digest_mismatch", verify, req, resolver, store, body=b"changed")
    assert verify(req, resolver, store).nonce == "once"


# --- nonce store --------------------------------------------------------------------------------


def test_nonce_store_forgets_only_what_the_clock_check_already_refuses():
    store = InMemoryNonceStore(window=300)
    assert store.seen("T", "old", 1000) is False
    assert store.seen("T", "old", 1000) is True
    store.seen("T", "new", 1000 + 600)  # 'old' could still pass the clock check: kept
    assert store.seen("T", "old", 1000) is True
    store.seen("T", "newer", 1000 + 601)  # now 'old' is more than 2 windows behind: dropped
    assert len(store) == 2
    assert store.seen("T", "newer", 1000 + 601) is True


def test_nonce_store_is_atomic_under_threads():
    store = InMemoryNonceStore()
    results: list[bool] = []
    barrier = threading.Barrier(8)

    def worker():
        barrier.wait()
        results.append(store.seen("T", "race", 1000))

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results.count(False) == 1


# --- keys ---------------------------------------------------------------------------------------


def test_key_saved_owner_only_and_loads_back(tmp_path, key):
    path = signing.save_private_key(key, tmp_path / "terminal.pem")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert signing.key_fingerprint(signing.load_private_key(path)) == signing.key_fingerprint(key)


def test_existing_key_is_not_overwritten_by_accident(tmp_path, key):
    path = signing.save_private_key(key, tmp_path / "terminal.pem")
    with pytest.raises(FileExistsError):
        signing.save_private_key(generate_terminal_key(), path)
    os.chmod(path, 0o644)
    signing.save_private_key(generate_terminal_key(), path, overwrite=True)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert signing.key_fingerprint(signing.load_private_key(path)) != signing.key_fingerprint(key)


def test_public_key_round_trip_and_refusal_of_other_curves(key):
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519

    pem = signing.public_key_pem(key)
    assert signing.key_fingerprint(signing.load_public_key(pem)) == signing.key_fingerprint(key)
    with pytest.raises(ValueError, match="P-256"):
        signing.load_public_key(signing.public_key_pem(ec.generate_private_key(ec.SECP384R1())))
    from cryptography.hazmat.primitives import serialization

    ed = (
        ed25519.Ed25519PrivateKey.generate()
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    with pytest.raises(ValueError, match="P-256"):
        signing.load_public_key(ed)


def test_streamed_body_cannot_be_signed(key):
    req = requests.Request("POST", URL, data=iter([b"a", b"b"])).prepare()
    with pytest.raises(ValueError, match="streamed"):
        TerminalAuth("T-0001", key)(req)


# --- round trip over real HTTP ------------------------------------------------------------------


@pytest.fixture
def server(key):
    """A tiny werkzeug server that answers 200 with the verified key id, or 401 with the code."""
    resolver = InMemoryKeyResolver({"T-0001": key.public_key()}, revoked={"T-0666"})
    store = InMemoryNonceStore()

    @Request.application
    def app(request: Request) -> Response:
        try:
            v = verify_request(
                request.method,
                wsgi_request_url(request.environ),
                list(request.headers.items()),
                request.get_data(),
                resolver,
                store,
            )
        except SignatureError as exc:
            return Response(
                json.dumps({"code": exc.code, "message": str(exc)}), 401, content_type="application/json"
            )
        return Response(
            json.dumps({"key_id": v.key_id, "path": request.path}), content_type="application/json"
        )

    srv = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{srv.server_port}"
    srv.shutdown()
    thread.join()


def test_round_trip_through_requests_and_a_real_server(server, key):
    auth = TerminalAuth("T-0001", key)
    r = requests.post(f"{server}/api/v1/points/spend?shop=A1", json={"amount": 500}, auth=auth, timeout=5)
    assert r.status_code == 200, r.text
    assert r.json() == {"key_id": "T-0001", "path": "/api/v1/points/spend"}
    r = requests.get(f"{server}/api/v1/trust-list", auth=auth, timeout=5)
    assert r.status_code == 200, r.text


def test_round_trip_with_japanese_and_escaped_characters_in_path_and_query(server, key):
    auth = TerminalAuth("T-0001", key)
    r = requests.get(
        f"{server}/api/v1/shops/日本橋%2F1", params={"q": "商店 街", "x": "a+b"}, auth=auth, timeout=5
    )
    assert r.status_code == 200, r.text


def test_wsgi_request_url_without_a_raw_target_reencodes_the_path():
    environ = {
        "wsgi.url_scheme": "https",
        "HTTP_HOST": "mkp.example.jp",
        "SCRIPT_NAME": "",
        "PATH_INFO": "/shops/日本".encode().decode("latin-1"),  # PEP 3333: bytes as latin-1
        "QUERY_STRING": "q=%E5%95%86",
    }
    assert wsgi_request_url(environ) == "https://mkp.example.jp/shops/%E6%97%A5%E6%9C%AC?q=%E5%95%86"
    environ["RAW_URI"] = "/shops/%E6%97%A5%E6%9C%AC?q=%E5%95%86"
    del environ["HTTP_HOST"]
    environ.update(SERVER_NAME="mkp.example.jp", SERVER_PORT="8443")
    assert wsgi_request_url(environ) == "https://mkp.example.jp:8443/shops/%E6%97%A5%E6%9C%AC?q=%E5%95%86"


def test_real_server_refuses_unsigned_and_revoked(server, key):
    r = requests.post(f"{server}/api/v1/points/spend", json={"amount": 500}, timeout=5)
    assert (r.status_code, r.json()["code"]) == (401, "missing_signature")
    r = requests.post(
        f"{server}/api/v1/points/spend", json={"amount": 500}, timeout=5, auth=TerminalAuth("T-0666", key)
    )
    assert (r.status_code, r.json()["code"]) == (401, "revoked_key")


def test_real_server_refuses_a_replayed_request(server, key):
    session = requests.Session()
    prepared = TerminalAuth("T-0001", key)(
        requests.Request("POST", f"{server}/api/v1/points/spend", json={"amount": 1}).prepare()
    )
    assert session.send(prepared, timeout=5).status_code == 200
    r = session.send(prepared, timeout=5)
    assert (r.status_code, r.json()["code"]) == (401, "replayed_nonce")


def test_real_server_refuses_a_body_changed_in_transit(server, key):
    prepared = TerminalAuth("T-0001", key)(
        requests.Request("POST", f"{server}/api/v1/points/spend", json={"amount": 1}).prepare()
    )
    prepared.body = b'{"amount": 9}'  # same length, so Content-Length still fits
    r = requests.Session().send(prepared, timeout=5)
    assert (r.status_code, r.json()["code"]) == (401, "digest_mismatch")


def test_real_server_refuses_a_stale_clock(server, key):
    auth = TerminalAuth("T-0001", key, clock=lambda: time.time() - 600)
    r = requests.get(f"{server}/api/v1/trust-list", auth=auth, timeout=5)
    assert (r.status_code, r.json()["code"]) == (401, "clock_skew")


# --- the fast signing path (RequestSigner without the library's serialiser) ---------------


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/v1/terminal/conntests/1/report",
        "https://MKP.example.jp:443/v1/x?a=1&b=%20",
        "http://h",
        "http://h:80/",
        "HTTP://Host.Example:8080/a%20b",
        "http://[::1]:8080/p",
        "http://h:0443/x",
        "https://user@h/x",
    ],
)
@pytest.mark.parametrize("nonce", ["n-plain_1.2:3", 'needs "escaping"'])
def test_both_signing_paths_verify_with_the_library(url, nonce):
    from http_message_signatures import ContentDigest

    key = signing.generate_terminal_key()
    signer = signing.RequestSigner("t0123456789ab", key, nonce_factory=lambda: nonce)
    body = b'{"checks": []}'
    assert signing.content_digest(body) == ContentDigest.create(body)
    headers = signer.headers("POST", url, body)
    resolver = signing.InMemoryKeyResolver({"t0123456789ab": key.public_key()})
    verified = signing.verify_request("POST", url, headers, body, resolver, signing.InMemoryNonceStore())
    assert verified.key_id == "t0123456789ab" and verified.nonce == nonce


# --- the fast verifying path (our own shape without the library's parser) -----------------


def _library_verdict(method, url, pairs, resolver):
    """What the library alone says of a request: the key id and nonce, or the refusal's code."""
    try:
        signed_request = signing._verify_with_library(
            method, url, pairs, resolver, NOW, signing.DEFAULT_MAX_SKEW, signing.TAG, "terminal"
        )
    except SignatureError as e:
        return e.code
    return signed_request.key_id, signed_request.nonce, signed_request.content_digest


def _verdict(method, url, pairs, resolver):
    try:
        signed_request = signing.verify_signature(method, url, pairs, resolver, now=NOW)
    except SignatureError as e:
        return e.code
    return signed_request.key_id, signed_request.nonce, signed_request.content_digest


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/v1/terminal/conntests/1/report",
        "https://MKP.example.jp:443/v1/x?a=1&b=%20",
        "http://h",
        "http://h:80/",
        "http://h:8080/a%20b?",
        "http://[::1]:8080/p",
        "http://h:0443/x",
        "https://user@h/x",
    ],
)
@pytest.mark.parametrize(
    "change",
    [
        "none",
        "url",
        "method",
        "created",
        "signature",
        "digest",
        "tag",
        "unknown key",
        "revoked key",
        "two signatures",
    ],
)
def test_the_fast_path_judges_as_the_library_does(key, url, change):
    resolver = InMemoryKeyResolver(
        {"T-0001": key.public_key(), "T-0002": key.public_key()}, revoked={"T-0002"}
    )
    key_id = {"unknown key": "T-0404", "revoked key": "T-0002"}.get(change, "T-0001")
    signer = signing.RequestSigner(key_id, key, clock=lambda: NOW, nonce_factory=lambda: "n-1")
    headers = signer.headers("POST", url, BODY)
    method = "PUT" if change == "method" else "POST"
    if change == "url":
        url = url.replace("h", "H", 1) + "x"
    if change == "created":
        headers["Signature-Input"] = headers["Signature-Input"].replace(f"created={int(NOW)}", "created=1")
    if change == "signature":
        headers["Signature"] = "mkp=:" + "A" * 86 + "==:"
    if change == "digest":
        headers["Content-Digest"] = signing.content_digest(b"other")
    if change == "tag":
        headers["Signature-Input"] = headers["Signature-Input"].replace("mkp-terminal", "mkp-partner")
    pairs = list(headers.items())
    if change == "two signatures":
        pairs.append(("Signature", headers["Signature"]))
    got = _verdict(method, url, pairs, resolver)
    if change == "none":
        assert got == ("T-0001", "n-1", headers["Content-Digest"])
    assert got == _library_verdict(method, url, pairs, resolver)


def test_our_own_shape_is_verified_without_the_library(key, resolver, monkeypatch):
    def library(*args):
        raise AssertionError("the library's path was taken")

    monkeypatch.setattr(signing, "_verify_with_library", library)
    assert verify(signed(key, nonce="abc123"), resolver).nonce == "abc123"
    with pytest.raises(AssertionError):  # a key id that needs escaping is the library's
        verify(signed(key, key_id="T 0001"), resolver)
