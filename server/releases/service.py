"""Keep signed agent releases in a folder and hand out the newest.

The operator signs a manifest offline with the release key; the server checks that signature
and every file against it before it keeps anything (a bad upload changes nothing), and
terminals check it all again before they install. The server never holds the private key.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import ed25519
from packaging.version import InvalidVersion, Version

from mkp_core import release
from mkp_core.errors import Conflict, MkpError, NotFound

MANIFEST, SIGNATURE = "manifest.json", "manifest.json.sig"


@dataclass(frozen=True)
class StoredRelease:
    version: str
    folder: Path
    manifest: bytes
    signature: bytes


def load_release_keys(files: str) -> list[ed25519.Ed25519PublicKey]:
    return [
        release.load_operator_public_key(Path(f.strip()).read_bytes()) for f in files.split(",") if f.strip()
    ]


def publish(
    release_dir: str | os.PathLike,
    keys: list[ed25519.Ed25519PublicKey],
    manifest: bytes,
    signature: bytes,
    files: dict[str, bytes],
) -> dict:
    """Check and keep a release; the folder appears whole or not at all."""
    if not keys:
        raise MkpError("no_release_key", "the server has no release key configured (release_key_files)")
    parsed = release.verify_with_any(manifest, signature, keys)
    root = Path(release_dir)
    root.mkdir(parents=True, exist_ok=True)
    target = root / parsed.version
    if target.exists():
        if (target / MANIFEST).read_bytes() == manifest:
            return describe(parsed)
        raise Conflict(
            "release_exists", f"release {parsed.version} was published already with another manifest"
        )
    listed = {f.name for f in parsed.files}
    if set(files) != listed:
        missing, extra = sorted(listed - set(files)), sorted(set(files) - listed)
        raise MkpError(
            "release_files_mismatch",
            f"files missing: {missing or 'none'}; not in the manifest: {extra or 'none'}",
        )
    staging = Path(tempfile.mkdtemp(prefix=".incoming-", dir=root))
    try:
        for name, data in files.items():
            path = staging / name
            path.write_bytes(data)
            release.verify_file(parsed, path)
        (staging / MANIFEST).write_bytes(manifest)
        (staging / SIGNATURE).write_bytes(signature)
        os.replace(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return describe(parsed)


def describe(m: release.Manifest) -> dict:
    return {
        "version": m.version,
        "created": m.created,
        "files": [{"name": f.name, "sha256": f.sha256, "size": f.size} for f in m.files],
    }


def latest(release_dir: str | os.PathLike) -> StoredRelease:
    """The newest published release (PEP 440 order)."""
    root = Path(release_dir)
    versions = []
    for folder in root.iterdir() if root.is_dir() else ():
        if folder.name.startswith(".") or not (folder / SIGNATURE).exists():
            continue
        try:
            versions.append((Version(folder.name), folder))
        except InvalidVersion:
            continue
    if not versions:
        raise NotFound("no_release", "no agent release has been published")
    _, folder = max(versions)
    return StoredRelease(
        folder.name, folder, (folder / MANIFEST).read_bytes(), (folder / SIGNATURE).read_bytes()
    )


def release_file(release_dir: str | os.PathLike, version: str, name: str) -> Path:
    stored = latest(release_dir)
    if stored.version != version:
        raise NotFound("no_release", f"release {version} is not the current one ({stored.version})")
    parsed = release.parse_manifest(stored.manifest)
    try:
        parsed.file(name)
    except release.ReleaseError as e:
        raise NotFound(e.code, e.message) from None
    return stored.folder / name
