"""Key rings: "does one of these Ed25519 keys verify this signature?", answered in one place.

Release manifests and paper vouchers are both signed by keys the operator holds and both must
keep verifying while a key is rotated: a terminal trusts several public keys at once. A ring
holds them, named by a **key id** derived from the key itself (the first 4 bytes of the SHA-256
of the raw public key, as 8 hex digits), so an id can never point at the wrong key and needs no
registry of its own.

Rotation and withdrawal are the ring's business, not each caller's:

- a key that is **retired** (rotated out) at some time still verifies what it signed before that
  time, so vouchers already printed stay good until their own expiry; it signs nothing after;
- a **withdrawn** key id (a key that leaked) verifies nothing at all, whatever it signed.

The ring answers which key verified (or ``None``); what a failure means (``bad_signature`` for a
release, ``voucher_bad_signature`` for a voucher) is the caller's to say. The JSON form is what
a trust list carries: public keys as PEM, so the same text works for ``release_keys``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from mkp_core.errors import FixedCodeError

__all__ = [
    "KEY_ID_BYTES",
    "KeyRing",
    "KeyRingError",
    "RingKey",
    "key_id_bytes",
    "key_id_of",
    "load_public_key",
]

#: Bytes of a key id (as carried inside a voucher); shown as twice as many hex digits.
KEY_ID_BYTES = 4


class KeyRingError(FixedCodeError):
    """A key ring that cannot be built: a key that is not Ed25519, a bad entry, a duplicate id."""

    code = "bad_key_ring"


def key_id_of(public_key: ed25519.Ed25519PublicKey) -> str:
    """The key's id: the first 4 bytes of SHA-256 over its 32 raw bytes, in lowercase hex."""
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).digest()[:KEY_ID_BYTES].hex()


def key_id_bytes(key_id: str) -> bytes:
    """A key id as the bytes a voucher carries; anything but 8 lowercase hex digits is refused."""
    if len(key_id) != 2 * KEY_ID_BYTES or key_id.lower() != key_id:
        raise KeyRingError(f"key id {key_id!r} must be {2 * KEY_ID_BYTES} lowercase hex digits")
    try:
        return bytes.fromhex(key_id)
    except ValueError:
        raise KeyRingError(f"key id {key_id!r} must be {2 * KEY_ID_BYTES} lowercase hex digits") from None


@dataclass(frozen=True)
class RingKey:
    """One trusted public key; ``retired`` is when it stopped signing (None: it still signs).

    ``valid_from``: when it started signing, where the signer publishes it (voucher keys): what
    claims to be signed before the key existed is refused (None: not published, not checked).
    """

    public_key: ed25519.Ed25519PublicKey
    retired: datetime | None = None
    valid_from: datetime | None = None

    @property
    def key_id(self) -> str:
        return key_id_of(self.public_key)

    def verifies(self, signature: bytes, data: bytes) -> bool:
        try:
            self.public_key.verify(signature, data)
        except InvalidSignature:
            return False
        return True


class KeyRing:
    """The public keys a terminal trusts for one purpose, by key id, and the ids withdrawn."""

    def __init__(
        self,
        keys: Iterable[RingKey | ed25519.Ed25519PublicKey] = (),
        *,
        withdrawn: Iterable[str] = (),
    ) -> None:
        self._keys: dict[str, RingKey] = {}
        for entry in keys:
            ring_key = entry if isinstance(entry, RingKey) else RingKey(entry)
            public_key: object = ring_key.public_key  # callers outside mypy may pass any key
            if not isinstance(public_key, ed25519.Ed25519PublicKey):
                raise KeyRingError("a ring key must be an Ed25519 public key")
            for when in (ring_key.retired, ring_key.valid_from):
                if when is not None and when.tzinfo is None:
                    raise KeyRingError(f"key {ring_key.key_id}: times must be aware datetimes (UTC)")
            if ring_key.key_id in self._keys:
                if self._keys[ring_key.key_id] == ring_key:
                    continue  # the same key listed twice (two config files naming one key)
                raise KeyRingError(f"key id {ring_key.key_id} is in the ring twice, as different entries")
            self._keys[ring_key.key_id] = ring_key
        self._withdrawn = frozenset(withdrawn)

    # --- reading -----------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._keys)

    def __iter__(self) -> Iterator[RingKey]:
        return iter(self._keys.values())

    def __contains__(self, key_id: object) -> bool:
        return key_id in self._keys

    @property
    def withdrawn(self) -> frozenset[str]:
        return self._withdrawn

    def is_withdrawn(self, key_id: str) -> bool:
        return key_id in self._withdrawn

    def get(self, key_id: str) -> RingKey | None:
        """The key of that id, unless it is unknown or withdrawn."""
        if key_id in self._withdrawn:
            return None
        return self._keys.get(key_id)

    def signer(self, signature: bytes, data: bytes, *, key_id: str | None = None) -> RingKey | None:
        """The key that made ``signature`` over ``data`` (only the key ``key_id`` if given).

        Withdrawn keys are never tried. ``None`` when no key verifies it.
        """
        if key_id is not None:
            candidates = [k] if (k := self.get(key_id)) is not None else []
        else:
            candidates = [k for k in self._keys.values() if k.key_id not in self._withdrawn]
        for key in candidates:
            if key.verifies(signature, data):
                return key
        return None

    # --- changing (a new ring each time: a ring in use never changes under a verifier) --------

    def rotated(self, new_key: ed25519.Ed25519PublicKey, *, at: datetime) -> KeyRing:
        """A ring where ``new_key`` signs from ``at`` on and every key still signing retires then."""
        keys = [k if k.retired is not None else replace(k, retired=at) for k in self._keys.values()]
        return KeyRing([*keys, RingKey(new_key)], withdrawn=self._withdrawn)

    def withdrawing(self, key_id: str) -> KeyRing:
        """A ring in which ``key_id`` verifies nothing any more."""
        return KeyRing(self._keys.values(), withdrawn=self._withdrawn | {key_id})

    # --- JSON (the trust list's form) ---------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """``{"keys": [{"key_id", "public_key" (PEM), "retired" (ISO 8601 or null), "valid_from"
        (only if known)}], "withdrawn": [...]}``."""
        return {
            "keys": [_entry(k) for k in self._keys.values()],
            "withdrawn": sorted(self._withdrawn),
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, doc: object) -> KeyRing:
        """Read :meth:`to_dict`'s form; any other shape is ``bad_key_ring``, one line saying where."""
        if not isinstance(doc, Mapping) or not set(doc) <= {"keys", "withdrawn"}:
            raise KeyRingError("a key ring is an object with 'keys' and 'withdrawn'")
        entries, withdrawn = doc.get("keys", []), doc.get("withdrawn", [])
        if not isinstance(entries, list) or not isinstance(withdrawn, list):
            raise KeyRingError("key ring 'keys' and 'withdrawn' must be lists")
        if not all(isinstance(w, str) for w in withdrawn):
            raise KeyRingError("key ring 'withdrawn' must list key ids")
        return cls([_ring_key(i, e) for i, e in enumerate(entries)], withdrawn=withdrawn)

    @classmethod
    def from_json(cls, text: str | bytes) -> KeyRing:
        try:
            doc = json.loads(text)
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise KeyRingError("a key ring must be JSON") from None
        return cls.from_dict(doc)


def load_public_key(pem: str | bytes) -> ed25519.Ed25519PublicKey:
    """An Ed25519 public key from PEM; anything else is ``bad_key_ring``."""
    try:
        key = serialization.load_pem_public_key(pem.encode() if isinstance(pem, str) else pem)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise KeyRingError("a ring key is not a PEM public key") from None
    if not isinstance(key, ed25519.Ed25519PublicKey):
        raise KeyRingError("a ring key must be an Ed25519 public key")
    return key


def _entry(k: RingKey) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "key_id": k.key_id,
        "public_key": k.public_key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ).decode(),
        "retired": _iso(k.retired) if k.retired is not None else None,
    }
    if k.valid_from is not None:
        entry["valid_from"] = _iso(k.valid_from)
    return entry


def _iso(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _ring_key(index: int, entry: object) -> RingKey:
    where = f"key ring keys[{index}]"
    if not isinstance(entry, Mapping) or not {"key_id", "public_key"} <= set(entry) <= {
        "key_id",
        "public_key",
        "retired",
        "valid_from",
    }:
        raise KeyRingError(f"{where} needs key_id and public_key (and optionally retired, valid_from)")
    pem, retired = entry["public_key"], entry.get("retired")
    if not isinstance(pem, str):
        raise KeyRingError(f"{where}.public_key must be a PEM string")
    key = RingKey(
        load_public_key(pem),
        _when(f"{where}.retired", retired),
        _when(f"{where}.valid_from", entry.get("valid_from")),
    )
    if entry["key_id"] != key.key_id:
        raise KeyRingError(f"{where}.key_id {entry['key_id']!r} is not the id of its key ({key.key_id})")
    return key


def _when(where: str, value: object) -> datetime | None:
    if value is None:
        return None
    try:
        at = datetime.fromisoformat(value.replace("Z", "+00:00")) if isinstance(value, str) else None
    except ValueError:
        at = None
    if at is None or at.tzinfo is None:
        raise KeyRingError(f"{where} must be an ISO 8601 time with a zone, or null")
    return at
