"""Signed software release manifests: the agent installs nothing the operator did not sign.

The server publishes ``manifest.json`` and a detached Ed25519 signature ``manifest.json.sig``
(the raw 64 signature bytes over the exact manifest bytes) made with the operator's release key.
The agent holds the operator's public key, verifies the signature first, then parses the
manifest, refuses a version older than the one installed, and checks every downloaded file's
size and SHA-256 against the manifest before installing it.

Manifest (UTF-8 JSON object, no other fields allowed)::

    {"version": "1.4.2", "created": "2026-11-25T17:00:00Z",
     "files": [{"name": "mkp-1.4.2-py3-none-any.whl", "sha256": "<64 hex>", "size": 123456}]}

Ed25519: one fixed algorithm with no parameters to get wrong; the signature is deterministic.
Versions are plain ``MAJOR.MINOR.PATCH`` (digits, no leading zeros): no ``v`` prefix, epoch,
pre-release or local part, so every terminal, the server and the operator order them alike and
no odd version can outrank every later release. File names are plain names that cannot reach
another folder or shadow the manifest.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from packaging.version import InvalidVersion, Version

from mkp_core.errors import MkpError
from mkp_core.keyring import KeyRing, KeyRingError

_SHA256 = re.compile(r"[0-9a-f]{64}")
_FILE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,127}")  # a plain file name: no folders, no '..'
_VERSION = re.compile(r"(0|[1-9][0-9]{0,8})\.(0|[1-9][0-9]{0,8})\.(0|[1-9][0-9]{0,8})")
#: Names the release folder and the download API use for the manifest itself.
RESERVED_FILE_NAMES = frozenset({"manifest.json", "manifest.json.sig"})


class ReleaseError(MkpError):
    """A release the agent must not install. ``code`` is machine-readable.

    Codes: ``bad_signature``, ``bad_manifest``, ``invalid_version``, ``invalid_file_name``,
    ``downgrade``, ``unknown_file``, ``size_mismatch``, ``hash_mismatch``, ``no_release_key``, ``bad_release_key``.
    """


@dataclass(frozen=True)
class ReleaseFile:
    name: str
    sha256: str
    size: int


@dataclass(frozen=True)
class Manifest:
    version: str
    created: str
    files: tuple[ReleaseFile, ...]

    def file(self, name: str) -> ReleaseFile:
        """The entry for ``name``; a file the manifest does not list is never installed."""
        for f in self.files:
            if f.name == name:
                return f
        raise ReleaseError("unknown_file", f"{name!r} is not listed in release {self.version}")


# --- operator side ------------------------------------------------------------------------------


def generate_operator_key() -> ed25519.Ed25519PrivateKey:
    """A new operator release key; kept offline by the operator."""
    return ed25519.Ed25519PrivateKey.generate()


def public_key_pem(key: ed25519.Ed25519PrivateKey) -> bytes:
    """The public half, shipped with the agent."""
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def load_operator_public_key(pem: bytes | str) -> ed25519.Ed25519PublicKey:
    """Parse the operator's public key; anything but an Ed25519 public key is ``bad_release_key``."""
    try:
        key = serialization.load_pem_public_key(pem.encode() if isinstance(pem, str) else pem)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise ReleaseError("bad_release_key", "an operator release key is not a PEM public key") from None
    if not isinstance(key, ed25519.Ed25519PublicKey):
        raise ReleaseError("bad_release_key", "the operator release key must be an Ed25519 public key")
    return key


def build_manifest(
    version: str, paths: list[str | os.PathLike[str]], created: datetime | None = None
) -> bytes:
    """Describe the release files (name, SHA-256, size) as canonical manifest bytes.

    Refuses a bad version or file name before anything is signed.
    """
    parse_version(version)
    files = []
    for p in paths:
        path = Path(p)
        check_file_name(path.name)
        digest = hashlib.sha256()
        with path.open("rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                digest.update(chunk)
        files.append({"name": path.name, "sha256": digest.hexdigest(), "size": path.stat().st_size})
    stamp = (created or datetime.now(UTC)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    doc = {"version": version, "created": stamp, "files": files}
    parse_manifest(json.dumps(doc).encode())  # the same checks the agent will make
    return json.dumps(doc, ensure_ascii=False, sort_keys=True, indent=2).encode() + b"\n"


def sign_manifest(manifest: bytes, key: ed25519.Ed25519PrivateKey) -> bytes:
    """Detached signature over the exact manifest bytes (64 raw bytes)."""
    return key.sign(manifest)


# --- agent side ---------------------------------------------------------------------------------


def parse_version(text: object) -> tuple[int, int, int]:
    """``"1.10.2"`` as ``(1, 10, 2)``, the order releases follow; anything else is ``invalid_version``."""
    match = _VERSION.fullmatch(text) if isinstance(text, str) else None
    if match is None:
        raise ReleaseError(
            "invalid_version",
            f"release version {text!r} must be MAJOR.MINOR.PATCH in plain digits, e.g. 1.4.2",
        )
    major, minor, patch = (int(part) for part in match.groups())
    return major, minor, patch


def check_file_name(name: object) -> str:
    """A release file name: a plain name (no folder, no '..'), not one of the manifest's own names."""
    if not isinstance(name, str) or not _FILE_NAME.fullmatch(name):
        raise ReleaseError(
            "invalid_file_name",
            f"release file name {name!r} is not a plain file name (letters, digits, . _ + -; up to 128)",
        )
    if name.lower() in RESERVED_FILE_NAMES:
        raise ReleaseError("invalid_file_name", f"release file name {name!r} is reserved for the manifest")
    return name


def _installed_order(text: str) -> tuple[int, ...]:
    """The installed version's place in release order (a development install may be PEP 440)."""
    try:
        return parse_version(text)
    except ReleaseError:
        pass
    try:
        return tuple(Version(text).release)
    except InvalidVersion:
        raise ReleaseError("invalid_version", f"installed version {text!r} is not a version") from None


def parse_manifest(data: bytes) -> Manifest:
    """Check the manifest's shape; does not check the signature (see :func:`verify_manifest`)."""
    try:
        doc = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ReleaseError("bad_manifest", f"manifest is not UTF-8 JSON: {exc}") from None
    if not isinstance(doc, dict) or set(doc) != {"version", "created", "files"}:
        keys = sorted(doc) if isinstance(doc, dict) else type(doc).__name__
        raise ReleaseError("bad_manifest", f"manifest needs exactly version, created, files; got {keys}")
    version, created, files = doc["version"], doc["created"], doc["files"]
    parse_version(version)
    if not isinstance(created, str):
        raise ReleaseError("bad_manifest", "manifest created must be an ISO 8601 string")
    try:
        datetime.fromisoformat(created.replace("Z", "+00:00"))
    except ValueError:
        raise ReleaseError("bad_manifest", f"manifest created {created!r} is not an ISO 8601 time") from None
    if not isinstance(files, list) or not files:
        raise ReleaseError("bad_manifest", "manifest files must be a non-empty list")
    entries = []
    for i, f in enumerate(files):
        if not isinstance(f, dict) or set(f) != {"name", "sha256", "size"}:
            raise ReleaseError("bad_manifest", f"files[{i}] needs exactly name, sha256, size")
        name, sha, size = f["name"], f["sha256"], f["size"]
        check_file_name(name)
        if not isinstance(sha, str) or not _SHA256.fullmatch(sha):
            raise ReleaseError("bad_manifest", f"files[{i}].sha256 must be 64 lowercase hex digits")
        if type(size) is not int or size < 0:
            raise ReleaseError("bad_manifest", f"files[{i}].size must be a non-negative integer")
        entries.append(ReleaseFile(name, sha, size))
    if len({e.name for e in entries}) != len(entries):
        raise ReleaseError("bad_manifest", "a file name is listed twice")
    return Manifest(version=version, created=created, files=tuple(entries))


def verify_manifest(
    manifest: bytes,
    signature: bytes,
    operator_key: ed25519.Ed25519PublicKey,
    installed_version: str | None = None,
) -> Manifest:
    """Verify the operator's signature, then the manifest; refuse a downgrade.

    The same version as installed is allowed (re-install after a failed update); an older
    one is refused, so a captured old manifest cannot roll a terminal back to a known bug.
    """
    return verify_with_any(manifest, signature, [operator_key], installed_version)


def verify_with_any(
    manifest: bytes,
    signature: bytes,
    operator_keys: Iterable[ed25519.Ed25519PublicKey],
    installed_version: str | None = None,
) -> Manifest:
    """:func:`verify_manifest` with whichever of the operator's release keys signed it.

    Several keys are configured while a release key is rotated; which one signed is the key
    ring's question (:class:`mkp_core.keyring.KeyRing`, shared with the voucher keys). Only a
    signature that no key verifies is ``bad_signature``; any other refusal (bad manifest,
    downgrade) is the answer.
    """
    keys = list(operator_keys)
    if not keys:
        raise ReleaseError("no_release_key", "no operator release key is configured")
    try:
        ring = KeyRing(keys)
    except KeyRingError as exc:
        raise ReleaseError("bad_release_key", f"operator release keys: {exc}") from None
    if ring.signer(signature, manifest) is None:
        raise ReleaseError(
            "bad_signature", "release manifest signature does not verify with the operator key"
        )
    parsed = parse_manifest(manifest)
    if installed_version is not None and parse_version(parsed.version) < _installed_order(installed_version):
        raise ReleaseError(
            "downgrade", f"release {parsed.version} is older than the installed {installed_version}; refused"
        )
    return parsed


def verify_file(manifest: Manifest, path: str | os.PathLike[str], name: str | None = None) -> ReleaseFile:
    """Check a downloaded file against its manifest entry (by its own name unless ``name``)."""
    p = Path(path)
    entry = manifest.file(name or p.name)
    size = p.stat().st_size
    if size != entry.size:
        raise ReleaseError("size_mismatch", f"{entry.name}: {size} bytes, the manifest says {entry.size}")
    digest = hashlib.sha256()
    with p.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    if digest.hexdigest() != entry.sha256:
        raise ReleaseError("hash_mismatch", f"{entry.name}: SHA-256 differs from the signed manifest")
    return entry
