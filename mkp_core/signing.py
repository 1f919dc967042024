"""Terminal request signatures: RFC 9421 HTTP Message Signatures over an RFC 9530 Content-Digest.

Every agent→server request is signed with the terminal's own key (made on the terminal, never
leaving it). The RFC 9421 signature base comes from the PyPI library `http-message-signatures`,
the cryptography from `cryptography`; this module fixes the policy the platform needs. The one
shape our own agents send is signed and verified here directly (the library's general Structured
Fields code cost more than the ECDSA itself, and every terminal in Japan reports in one window);
tests hold both directions to the library's verdict, and anything else goes through the library:

* what is covered: ``@method``, ``@authority``, ``@path``, ``@query`` and ``content-digest``
  (sha-256 of the body; our agents cover it also for an empty body, so a body can never be added
  or changed);
* the signed parameters: ``keyid``, ``created``, ``nonce``, ``alg`` and the tag ``mkp-terminal``;
* what the server rejects, each as a :class:`SignatureError` with a machine-readable ``code``.

What the server accepts is wider than what our agents send, as RFC 9421 lets other
implementations write it: a signature may cover more fields the request carries (say
``content-type``) besides the required ones, and a request with no body (a GET) need not cover
``content-digest``; a request with a body must, and its digest is checked. Messages name the kind
of caller (terminal or partner) the tag says was expected.

Key choice: ECDSA P-256 (``ecdsa-p256-sha256``). It is what TPM 2.0 chips and secure elements in
terminal PCs can hold (Ed25519 mostly cannot yet), and OpenSSL verifies it in tens of µs.

Framework-free: the server hands :func:`verify_request` the method, the absolute URL as the
client addressed it, the headers and the raw body; no Flask or werkzeug import here. A server
that must not read a body before it knows who sent it calls :func:`verify_signature` with the
headers alone, then :meth:`SignedRequest.accept` with the body.
"""

from __future__ import annotations

import base64
import hashlib
import heapq
import hmac
import os
import re
import secrets
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

import requests
from cryptography.exceptions import InvalidSignature as InvalidEcdsaSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature
from http_message_signatures import (
    ContentDigest,
    HTTPMessageSigner,
    HTTPMessageVerifier,
    HTTPSignatureKeyResolver,
    InvalidSignature,
    algorithms,
)
from http_message_signatures.exceptions import HTTPMessageSignaturesException

from mkp_core.errors import FixedCodeError

ALGORITHM = algorithms.ECDSA_P256_SHA256
#: Signed application tag: a signature made for another protocol with the same key is not accepted.
TAG = "mkp-terminal"
#: A partner company's requests carry their own tag: a terminal's signature is never a
#: partner's, and the reverse, even were a key id to match.
PARTNER_TAG = "mkp-partner"
LABEL = "mkp"
COVERED_COMPONENTS = ("@method", "@authority", "@path", "@query", "content-digest")
#: What every signature must cover; ``content-digest`` too when the request has a body.
REQUIRED_COMPONENTS = COVERED_COMPONENTS[:-1]
#: Who signs with each tag, as refusals name them.
CALLERS = {TAG: "terminal", PARTNER_TAG: "partner"}
DEFAULT_MAX_SKEW = 300
#: Longest nonce accepted (what servers store; a longer one is refused, never cut).
MAX_NONCE_LENGTH = 64
#: Key ids and nonces that need no escaping as Structured Field Strings (the fast signing path).
_PLAIN = re.compile(r"[A-Za-z0-9_.:-]{1,64}")
_REQUIRED_IDS = frozenset(f'"{c}"' for c in REQUIRED_COMPONENTS)
_DIGEST_ID = '"content-digest"'
_ECDSA_SHA256 = ec.ECDSA(hashes.SHA256())

# Our agents' one signature shape, exactly as RequestSigner writes it: what the server verifies
# without the library's general Structured Fields parser (see _verify_own_shape). Anything else
# (other labels, more components, escaping, several signatures) takes the library's path.
_OWN_COVERED = "(" + " ".join(f'"{c}"' for c in COVERED_COMPONENTS) + ")"
_OWN_INPUT = re.compile(
    re.escape(f"{LABEL}={_OWN_COVERED}")
    + r';created=([0-9]{1,15});keyid="([A-Za-z0-9_.:-]{1,64})"'
    + re.escape(f';alg="{ALGORITHM.algorithm_id}"')
    + r';nonce="([A-Za-z0-9_.:-]{1,64})";tag="([a-z-]{1,32})"'
)
_OWN_SIGNATURE = re.compile(re.escape(LABEL) + r"=:([A-Za-z0-9+/]{86}==):")
_OWN_DIGEST = re.compile(r"sha-256=:[A-Za-z0-9+/]{43}=:")
# A URL whose RFC 9421 components need no resolver: no user info, IPv6 literal, odd port or
# fragment; its path and query in RFC 3986's characters (as the library's own URL grammar).
_URL_CHARS = r"A-Za-z0-9._~\-!$&'()*+,;="
_PCT = r"%[0-9A-Fa-f]{2}"
_OWN_URL = re.compile(
    r"(https?)://([A-Za-z0-9.-]+)(?::([1-9][0-9]{0,4}))?"
    rf"(/(?:[{_URL_CHARS}:@/]|{_PCT})*)?(?:\?((?:[{_URL_CHARS}:@/?]|{_PCT})*))?"
)
_DEFAULT_PORTS = {"http": "80", "https": "443"}

PublicKey = ec.EllipticCurvePublicKey
PrivateKey = ec.EllipticCurvePrivateKey


# --------------------------------------------------------------------------------------------
# Errors


class SignatureError(FixedCodeError):
    """A request the server must refuse; ``code`` is machine-readable, ``str()`` is for a human."""

    code = "bad_signature"
    kind = "unauthorized"


class MissingSignature(SignatureError):
    code = "missing_signature"


class BadSignature(SignatureError):
    code = "bad_signature"


class UnknownKey(SignatureError):
    code = "unknown_key"


class RevokedKey(SignatureError):
    code = "revoked_key"


class ReplayedNonce(SignatureError):
    code = "replayed_nonce"


class ClockSkew(SignatureError):
    code = "clock_skew"


class ExpiredSignature(SignatureError):
    """The signer said the signature is good only until ``expires``, and that time has passed."""

    code = "expired_signature"


class BadNonce(SignatureError):
    code = "bad_nonce"


class DigestMismatch(SignatureError):
    code = "digest_mismatch"


@dataclass(frozen=True)
class VerifiedRequest:
    """What a good signature proves: which terminal key signed, when, with which nonce."""

    key_id: str
    created: int
    nonce: str


# --------------------------------------------------------------------------------------------
# Terminal keys


def generate_terminal_key() -> PrivateKey:
    """Make a new terminal key (ECDSA P-256); done once on the terminal at enrollment."""
    return ec.generate_private_key(ec.SECP256R1())


def save_private_key(key: PrivateKey, path: str | os.PathLike[str], *, overwrite: bool = False) -> Path:
    """Write the key as unencrypted PKCS#8 PEM, readable by the owner only (0600).

    Refuses to replace an existing key unless ``overwrite``: losing a terminal key means
    re-enrolling the terminal.
    """
    target = Path(path)
    flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if overwrite else os.O_EXCL)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    fd = os.open(target, flags, 0o600)
    try:
        os.fchmod(fd, 0o600)  # an existing file keeps its old mode otherwise
        os.write(fd, pem)
    finally:
        os.close(fd)
    return target


def load_private_key(path: str | os.PathLike[str]) -> PrivateKey:
    """Read a terminal key written by :func:`save_private_key`."""
    key = serialization.load_pem_private_key(Path(path).read_bytes(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
        raise ValueError(f"{path}: not an ECDSA P-256 private key")
    return key


def public_key_pem(key: PrivateKey | PublicKey) -> bytes:
    """The public half as SubjectPublicKeyInfo PEM: what the terminal sends at enrollment."""
    public = key.public_key() if isinstance(key, ec.EllipticCurvePrivateKey) else key
    return public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def load_public_key(pem: bytes | str) -> PublicKey:
    """Parse a terminal public key sent at enrollment; refuses anything but P-256."""
    data = pem.encode() if isinstance(pem, str) else pem
    key = serialization.load_pem_public_key(data)
    if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name != "secp256r1":
        raise ValueError("not an ECDSA P-256 public key")
    return key


def key_fingerprint(key: PrivateKey | PublicKey) -> str:
    """SHA-256 of the DER public key, base64url without padding: a stable name to show technicians."""
    public = key.public_key() if isinstance(key, ec.EllipticCurvePrivateKey) else key
    der = public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.urlsafe_b64encode(hashlib.sha256(der).digest()).rstrip(b"=").decode()


# --------------------------------------------------------------------------------------------
# Agent side: sign requests


class _SingleKey(HTTPSignatureKeyResolver):
    """Hands the library the terminal's one signing key."""

    def __init__(self, private: PrivateKey) -> None:
        self._private = private

    def resolve_private_key(self, key_id: str) -> PrivateKey:
        return self._private

    def resolve_public_key(self, key_id: str) -> None:
        return None


def _body_bytes(body: bytes | str | None) -> bytes:
    if body is None:
        return b""
    if isinstance(body, str):
        return body.encode("utf-8")
    if isinstance(body, bytes | bytearray):
        return bytes(body)
    raise ValueError("streamed request bodies cannot be signed: pass bytes, str or json")


def content_digest(body: bytes) -> str:
    """RFC 9530 ``Content-Digest`` of ``body`` with sha-256, exactly as the library writes it."""
    return f"sha-256=:{base64.b64encode(hashlib.sha256(body).digest()).decode()}:"


@dataclass
class _OutgoingMessage:
    """The message interface the library signs: method, absolute URL, mutable headers."""

    method: str
    url: str
    headers: dict[str, str]


class RequestSigner:
    """Signs terminal requests with one key: the one signing function behind every client.

    :class:`TerminalAuth` (the agent's ``requests`` client) and the connection-test simulator
    (``bench/conntest.py``, asyncio over aiohttp) both call :meth:`headers`, so a simulated
    terminal speaks exactly the protocol a real one does.
    """

    def __init__(
        self,
        key_id: str,
        private_key: PrivateKey,
        *,
        clock: Callable[[], float] = time.time,
        nonce_factory: Callable[[], str] = lambda: secrets.token_urlsafe(16),
        tag: str = TAG,
    ) -> None:
        self.key_id = key_id
        self.tag = tag
        self._private = private_key
        self._signer = HTTPMessageSigner(signature_algorithm=ALGORITHM, key_resolver=_SingleKey(private_key))
        self.clock = clock
        self._nonce_factory = nonce_factory

    def headers(self, method: str, url: str, body: bytes | str | None) -> dict[str, str]:
        """The ``Content-Digest``, ``Signature-Input`` and ``Signature`` fields for this request.

        ``url`` is the absolute URL the request goes to; ``body`` exactly the bytes sent.
        """
        message = _OutgoingMessage(method.upper(), url, {})
        data, created, nonce = _body_bytes(body), int(self.clock()), self._nonce_factory()
        if _PLAIN.fullmatch(self.key_id) and _PLAIN.fullmatch(nonce):
            return self._fast_headers(message, data, created, nonce)
        self._signer.sign(
            message,
            key_id=self.key_id,
            created=datetime.fromtimestamp(created, tz=UTC),
            nonce=nonce,
            label=LABEL,
            tag=self.tag,
            covered_component_ids=COVERED_COMPONENTS[:-1],  # the library adds content-digest itself
            body=data,
        )
        return message.headers

    def _url_components(self, message: _OutgoingMessage) -> tuple[str, str, str]:
        """``@authority``, ``@path``, ``@query`` as RFC 9421 derives them (the library's rules: host
        lower-cased, a default port dropped, an empty path is "/"); unusual URLs (IPv6 literals,
        user info, a port written with leading zeros) are left to the library's own resolver."""
        parts = urlsplit(message.url)
        if "[" in parts.netloc or "@" in parts.netloc or ":0" in parts.netloc or not parts.hostname:
            resolver = self._signer.component_resolver_class(message)
            return resolver.get_authority(), resolver.get_path(), resolver.get_query()
        port = parts.port
        default = {"http": 80, "https": 443}.get(parts.scheme.lower())
        authority = parts.hostname.lower() + (f":{port}" if port and port != default else "")
        return authority, parts.path or "/", "?" + parts.query

    def _fast_headers(
        self, message: _OutgoingMessage, body: bytes, created: int, nonce: str
    ) -> dict[str, str]:
        """The same signature as the library's ``sign`` for our one fixed shape, without its general
        Structured Fields serialiser (1.5 ms a request, most of a simulated terminal's cost): the URL
        components come from the library's own resolver, the server verifies with the library, and
        the tests check both paths against the verifier. Key ids and nonces outside ``_PLAIN`` (which
        would need escaping) take the library's path."""
        authority, path, query = self._url_components(message)
        digest = content_digest(body)
        params = (
            "(" + " ".join(f'"{c}"' for c in COVERED_COMPONENTS) + ")"
            f';created={created};keyid="{self.key_id}";alg="{ALGORITHM.algorithm_id}"'
            f';nonce="{nonce}";tag="{self.tag}"'
        )
        base = "\n".join(
            (
                f'"@method": {message.method}',
                f'"@authority": {authority}',
                f'"@path": {path}',
                f'"@query": {query}',
                f'"content-digest": {digest}',
                f'"@signature-params": {params}',
            )
        )
        der = self._private.sign(base.encode("ascii"), ec.ECDSA(hashes.SHA256()))
        r, s = decode_dss_signature(der)
        raw = r.to_bytes(32, "big") + s.to_bytes(32, "big")
        return {
            "Content-Digest": digest,
            "Signature-Input": f"{LABEL}={params}",
            "Signature": f"{LABEL}=:{base64.b64encode(raw).decode()}:",
        }


class TerminalAuth(requests.auth.AuthBase):
    """`requests` auth that signs each request with the terminal key (through :class:`RequestSigner`).

    Usage: ``requests.post(url, json=..., auth=TerminalAuth("T-0001", key))``.
    ``clock`` and ``nonce_factory`` exist so tests and the benchmark can fix them.
    """

    def __init__(
        self,
        key_id: str,
        private_key: PrivateKey,
        *,
        clock: Callable[[], float] = time.time,
        nonce_factory: Callable[[], str] = lambda: secrets.token_urlsafe(16),
        tag: str = TAG,
    ) -> None:
        self.key_id = key_id
        self.signer = RequestSigner(key_id, private_key, clock=clock, nonce_factory=nonce_factory, tag=tag)

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        body = _body_bytes(r.body)
        if r.body is not None and not isinstance(r.body, bytes):
            r.body = body  # send exactly the bytes that were digested
            r.headers["Content-Length"] = str(len(body))
        for name in ("Content-Digest", "Signature", "Signature-Input"):
            r.headers.pop(name, None)
        r.headers.update(self.signer.headers(str(r.method), str(r.url), body))
        return r


# --------------------------------------------------------------------------------------------
# Server side: nonce store and verification


class NonceStore(Protocol):
    """Remembers nonces for as long as a request carrying them could still pass the clock check."""

    def seen(self, key_id: str, nonce: str, created: int) -> bool:
        """Record (key_id, nonce) atomically; True if it was already recorded (a replay)."""
        ...


class InMemoryNonceStore:
    """Nonce store for one server process; memory stays bounded by the skew window.

    An entry can be forgotten once its ``created`` is more than ``window`` seconds in the past,
    because :func:`verify_request` refuses such a request anyway. "Now" is taken from the newest
    ``created`` seen (at most ``window`` ahead of the server clock), so pruning keeps entries for
    ``2 * window`` after the newest one and needs no clock of its own. ``window`` must be at
    least the ``max_skew`` given to :func:`verify_request`.
    """

    def __init__(self, window: int = DEFAULT_MAX_SKEW) -> None:
        self.window = window
        self._lock = threading.Lock()
        self._entries: set[tuple[str, str]] = set()
        self._expiry: list[tuple[int, str, str]] = []
        self._newest = 0

    def seen(self, key_id: str, nonce: str, created: int) -> bool:
        with self._lock:
            self._newest = max(self._newest, created)
            horizon = self._newest - 2 * self.window
            while self._expiry and self._expiry[0][0] < horizon:
                _, k, n = heapq.heappop(self._expiry)
                self._entries.discard((k, n))
            entry = (key_id, nonce)
            if entry in self._entries:
                return True
            self._entries.add(entry)
            heapq.heappush(self._expiry, (created, key_id, nonce))
            return False

    def __len__(self) -> int:
        return len(self._entries)


class InMemoryKeyResolver:
    """Key resolver over a dict of terminal keys and a set of revoked key ids (tests, demo, bench)."""

    def __init__(self, keys: Mapping[str, PublicKey] | None = None, revoked: Iterable[str] = ()) -> None:
        self.keys: dict[str, PublicKey] = dict(keys or {})
        self.revoked: set[str] = set(revoked)

    def __call__(self, key_id: str) -> PublicKey:
        if key_id in self.revoked:
            raise RevokedKey(f"terminal key {key_id!r} has been revoked")
        try:
            return self.keys[key_id]
        except KeyError:
            raise UnknownKey(f"no enrolled terminal has key id {key_id!r}") from None


class _Verifier(HTTPMessageVerifier):
    """The library's verifier with our policy in its two hooks.

    * Time is checked against the ``now`` handed to :func:`verify_request` (not the wall clock),
      with the platform's ±5 min window, before any key lookup or cryptography.
    * The key is looked up with the caller's ``key_resolver``; its verdict (unknown / revoked)
      is kept so it is not reported as a mere bad signature.
    """

    def __init__(
        self, key_resolver: Callable[[str], PublicKey], now: float, max_skew: int, caller: str
    ) -> None:
        super().__init__(signature_algorithm=ALGORITHM, key_resolver=_CallerKeys(key_resolver, caller))
        self.now = now
        self.max_skew = max_skew

    def validate_created_and_expires(self, sig_input: Any, max_age: object = None) -> None:
        created = sig_input.params.get("created")
        if type(created) is not int:
            raise BadSignature("signature parameter 'created' is missing or not an integer")
        _check_clock(created, self.now, self.max_skew)
        if "expires" in sig_input.params:
            expires = sig_input.params["expires"]
            if type(expires) is not int or expires < created:
                raise BadSignature("signature parameter 'expires' must be an integer time after 'created'")
            if self.now > expires:
                raise ExpiredSignature(f"signature expired {int(self.now - expires)} s ago")


def _check_clock(created: int, now: float, max_skew: int) -> None:
    if abs(now - created) > max_skew:
        raise ClockSkew(
            f"signature created {int(created - now):+d} s from the server clock (allowed ±{max_skew} s)"
        )


class _CallerKeys(HTTPSignatureKeyResolver):
    def __init__(self, key_resolver: Callable[[str], PublicKey], caller: str) -> None:
        self._resolve = key_resolver
        self._caller = caller
        self.refusal: SignatureError | None = None

    def resolve_public_key(self, key_id: str) -> PublicKey | None:
        try:
            return self._resolve(key_id)
        except SignatureError as exc:
            self.refusal = exc
        except KeyError:
            self.refusal = UnknownKey(f"no {self._caller} has key id {key_id!r}")
        return None


@dataclass
class _Message:
    method: str
    url: str
    headers: _Headers


class _Headers:
    """Read-only header view the library accepts; keeps repeated field lines."""

    def __init__(self, pairs: list[tuple[str, str]]) -> None:
        self._pairs = pairs

    def items(self) -> list[tuple[str, str]]:
        return self._pairs

    def __iter__(self) -> Iterator[str]:
        return iter(dict.fromkeys(name for name, _ in self._pairs))

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and any(n.lower() == name.lower() for n, _ in self._pairs)


def _header_pairs(headers: Mapping[str, str] | Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    items = headers.items() if hasattr(headers, "items") else headers
    return [(str(k), str(v)) for k, v in items]


def _check_digest(signed_digest: str | None, body: bytes) -> None:
    if signed_digest is None:  # verify_signature let it go only for a request with no body
        if body:
            raise BadSignature("a request with a body must cover content-digest in its signature")
        return
    # Fast path: the field exactly as our agents write it (the library's own serialiser);
    # anything else (other spelling, sha-512 too) goes through the library's full parser.
    if hmac.compare_digest(signed_digest, content_digest(body)):
        return
    try:
        ContentDigest.verify(signed_digest, body)
    except InvalidSignature as exc:
        raise DigestMismatch(f"body does not match the signed Content-Digest: {exc}") from None


def _announces_body(pairs: list[tuple[str, str]]) -> bool:
    """Whether the headers say a body follows (RFC 9110: a Content-Length above 0, or chunks)."""
    for name, value in pairs:
        lowered = name.lower()
        if lowered == "transfer-encoding" or (lowered == "content-length" and value.strip() not in ("", "0")):
            return True
    return False


@dataclass(frozen=True)
class SignedRequest:
    """A request whose signature verified from its headers; its body is not checked yet."""

    key_id: str
    created: int
    nonce: str
    #: The signed Content-Digest; None when the signature left it out (a request with no body).
    content_digest: str | None
    #: Who signed, as refusals name them: "terminal" or "partner".
    caller: str = "terminal"

    def accept(self, body: bytes, nonce_store: NonceStore) -> VerifiedRequest:
        """Check the body against the signed Content-Digest, then record the nonce (once)."""
        _check_digest(self.content_digest, bytes(body))
        if nonce_store.seen(self.key_id, self.nonce, self.created):
            raise ReplayedNonce(f"nonce already used by {self.caller} key {self.key_id!r}")
        return VerifiedRequest(key_id=self.key_id, created=self.created, nonce=self.nonce)


def verify_signature(
    method: str,
    url: str,
    headers: Mapping[str, str] | Iterable[tuple[str, str]],
    key_resolver: Callable[[str], PublicKey],
    now: float | None = None,
    max_skew: int = DEFAULT_MAX_SKEW,
    tag: str = TAG,
) -> SignedRequest:
    """Check a terminal request's signature from its headers alone; raise a :class:`SignatureError`.

    ``url`` is the absolute URL as the terminal addressed it (scheme, host[:port], path, query).
    ``key_resolver(key_id)`` returns the terminal's public key or raises :class:`UnknownKey` /
    :class:`RevokedKey` (a plain ``KeyError`` counts as unknown). Order: presence, clock and
    expiry, key, signature, covered components, nonce. The body is checked by
    :meth:`SignedRequest.accept`, so a server can refuse a stranger before reading a byte of it.
    """
    now = time.time() if now is None else now
    pairs = _header_pairs(headers)
    caller = CALLERS.get(tag, "caller")
    own = _verify_own_shape(method, url, pairs, key_resolver, now, max_skew, tag, caller)
    if own is not None:
        return own
    return _verify_with_library(method, url, pairs, key_resolver, now, max_skew, tag, caller)


def _verify_with_library(
    method: str,
    url: str,
    pairs: list[tuple[str, str]],
    key_resolver: Callable[[str], PublicKey],
    now: float,
    max_skew: int,
    tag: str,
    caller: str,
) -> SignedRequest:
    """:func:`verify_signature` through the library: any signature RFC 9421 allows."""
    names = {name.lower() for name, _ in pairs}
    if "signature" not in names or "signature-input" not in names:
        raise MissingSignature("the request carries no Signature / Signature-Input header")

    verifier = _Verifier(key_resolver, now, max_skew, caller)
    # Every field the request carries: a signature may cover more than mkp requires.
    message = _Message(method=method.upper(), url=url, headers=_Headers(pairs))
    try:
        results = verifier.verify(message, max_age=None, expect_tag=tag)
    except InvalidSignature as exc:
        refusal = verifier.key_resolver.refusal  # type: ignore[union-attr]
        if refusal is not None:
            raise refusal from None
        if "No signatures found matching" in str(exc):
            raise MissingSignature(f"no signature tagged {tag!r} in the request") from None
        raise BadSignature(f"signature does not verify: {exc}") from None
    except HTTPMessageSignaturesException as exc:
        raise BadSignature(f"signature does not verify: {exc}") from None
    if len(results) != 1:
        raise BadSignature(f"more than one signature tagged {tag!r}")
    result = results[0]
    # At least our components, compared as the library serialises them (cheaper than its
    # require_components option, which re-parses every identifier on every call).
    covered = set(result.covered_components) - {'"@signature-params"'}
    required = _REQUIRED_IDS | ({_DIGEST_ID} if _announces_body(pairs) else set())
    if not required <= covered:
        missing = ", ".join(sorted(c.strip('"') for c in required - covered))
        raise BadSignature(
            f"signature must cover {', '.join(REQUIRED_COMPONENTS)} (and content-digest when the "
            f"request has a body); it leaves out {missing}"
        )
    key_id, created, nonce = result.parameters["keyid"], result.parameters["created"], result.nonce
    if not isinstance(nonce, str) or not nonce:
        raise BadSignature("signature parameter 'nonce' is missing")
    if len(nonce) > MAX_NONCE_LENGTH:
        raise BadNonce(f"signature nonce is {len(nonce)} characters long; at most {MAX_NONCE_LENGTH}")
    return SignedRequest(
        key_id=str(key_id),
        created=int(created),
        nonce=nonce,
        content_digest=result.covered_components.get(_DIGEST_ID),
        caller=caller,
    )


def _own_shape_fields(pairs: list[tuple[str, str]]) -> tuple[str, str, str] | None:
    """Signature-Input, Signature and Content-Digest when each is there exactly once, else None."""
    found: dict[str, str] = {}
    for name, value in pairs:
        lowered = name.lower()
        if lowered in ("signature-input", "signature", "content-digest"):
            if lowered in found:
                return None
            found[lowered] = value
    if len(found) != 3:
        return None
    return found["signature-input"], found["signature"], found["content-digest"]


def _own_url_components(url: str) -> tuple[str, str, str] | None:
    """``@authority``, ``@path``, ``@query`` of a plain URL, as the library derives them; else None."""
    match = _OWN_URL.fullmatch(url)
    if match is None:
        return None
    scheme, host, port, path, query = match.groups()
    authority = host.lower() if port is None or port == _DEFAULT_PORTS[scheme] else f"{host.lower()}:{port}"
    return authority, path or "/", "?" + (query or "")


def _verify_own_shape(
    method: str,
    url: str,
    pairs: list[tuple[str, str]],
    key_resolver: Callable[[str], PublicKey],
    now: float,
    max_skew: int,
    tag: str,
    caller: str,
) -> SignedRequest | None:
    """:func:`verify_signature` for the one shape our agents send (``RequestSigner``), without the
    library's general parser and resolver (two thirds of a verification's cost); None for
    anything else, which the library then judges. The same checks in the same order (clock, key,
    signature), the same refusals: a signature that does not verify here goes to the library
    too, so its refusal reads as before."""
    fields = _own_shape_fields(pairs)
    if fields is None:
        return None
    signature_input, signature, digest = fields
    parsed = _OWN_INPUT.fullmatch(signature_input)
    raw = _OWN_SIGNATURE.fullmatch(signature)
    components = _own_url_components(url)
    if (
        parsed is None
        or raw is None
        or components is None
        or parsed[4] != tag
        or _OWN_DIGEST.fullmatch(digest) is None
        or method != method.upper()
    ):
        return None
    created, key_id, nonce = int(parsed[1]), parsed[2], parsed[3]
    _check_clock(created, now, max_skew)
    try:
        public = key_resolver(key_id)
    except KeyError:
        raise UnknownKey(f"no {caller} has key id {key_id!r}") from None
    if not isinstance(public, ec.EllipticCurvePublicKey) or public.curve.name != "secp256r1":
        return None  # the library refuses it, in its words
    authority, path, query = components
    base = (
        f'"@method": {method}\n"@authority": {authority}\n"@path": {path}\n"@query": {query}\n'
        f'"content-digest": {digest}\n"@signature-params": {signature_input[len(LABEL) + 1 :]}'
    )
    signature_bytes = base64.b64decode(raw[1])
    der = encode_dss_signature(
        int.from_bytes(signature_bytes[:32], "big"), int.from_bytes(signature_bytes[32:], "big")
    )
    try:
        public.verify(der, base.encode("ascii"), _ECDSA_SHA256)
    except InvalidEcdsaSignature:
        return None  # refused by the library's path, in its words
    return SignedRequest(key_id=key_id, created=created, nonce=nonce, content_digest=digest, caller=caller)


def verify_request(
    method: str,
    url: str,
    headers: Mapping[str, str] | Iterable[tuple[str, str]],
    body: bytes,
    key_resolver: Callable[[str], PublicKey],
    nonce_store: NonceStore,
    now: float | None = None,
    max_skew: int = DEFAULT_MAX_SKEW,
) -> VerifiedRequest:
    """Check a terminal request; return who signed it, or raise a :class:`SignatureError`.

    :func:`verify_signature` on the headers, then :meth:`SignedRequest.accept` on the raw body
    received. The nonce is recorded last, so forged or broken requests cannot use up a
    terminal's nonces.
    """
    signed = verify_signature(method, url, headers, key_resolver, now=now, max_skew=max_skew)
    return signed.accept(body, nonce_store)


def partner_auth(partner_id: str, private_key: PrivateKey, **kwargs: Any) -> TerminalAuth:
    """`requests` auth for a partner company's server: key id ``partner:<ID>``, tag
    ``mkp-partner``; the same signatures as a terminal's otherwise."""
    return TerminalAuth(f"partner:{partner_id}", private_key, tag=PARTNER_TAG, **kwargs)
