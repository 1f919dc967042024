"""Keep signed agent releases and hand out the newest one that is not withdrawn.

The operator signs a manifest offline with the release key; the server checks that signature
and every file against it before it keeps anything (a bad upload changes nothing), and
terminals check it all again before they install. The server never holds the private key.

The ``releases`` table holds each release's manifest, signature and state (published,
withdrawn); the files live in ``release_dir/<version>/``. Publishing a version is serialised
(one publish of a version at a time on every worker), so the same release published twice at
once is kept once and both callers get it.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ed25519
from sqlalchemy import Connection, Row, insert, select, update

from mkp_core import release
from mkp_core.errors import Conflict, MkpError, NotFound
from server.db.engine import lock_key
from server.files import private_dir
from server.releases.tables import releases

# Where releases published before the database kept them left their manifest.
LEGACY_MANIFEST, LEGACY_SIGNATURE = "manifest.json", "manifest.json.sig"


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
    conn: Connection,
    release_dir: str | os.PathLike[str],
    keys: list[ed25519.Ed25519PublicKey],
    manifest: bytes,
    signature: bytes,
    files: dict[str, bytes],
) -> dict[str, Any]:
    """Check and keep a release; its files appear whole or not at all, and its row with them."""
    if not keys:
        raise MkpError("no_release_key", "the server has no release key configured (release_key_files)")
    parsed = release.verify_with_any(manifest, signature, keys)
    listed = {f.name for f in parsed.files}
    if set(files) != listed:
        missing, extra = sorted(listed - set(files)), sorted(set(files) - listed)
        raise MkpError(
            "release_files_mismatch",
            f"files missing: {missing or 'none'}; not in the manifest: {extra or 'none'}",
        )
    lock_key(conn, f"release:{parsed.version}")
    existing = conn.execute(select(releases).where(releases.c.version == parsed.version)).first()
    if existing is not None:
        if existing.manifest != manifest:
            raise Conflict(
                "release_exists", f"release {parsed.version} was published already with another manifest"
            )
        if existing.withdrawn_at is not None:
            raise Conflict(
                "release_withdrawn",
                f"release {parsed.version} was withdrawn; publish the fix under a new version",
            )
        return describe(parsed, existing)
    _place_files(Path(release_dir), parsed, files)
    now = datetime.now(UTC)
    conn.execute(
        insert(releases).values(
            version=parsed.version, manifest=manifest, signature=signature, published_at=now
        )
    )
    return describe(
        parsed, conn.execute(select(releases).where(releases.c.version == parsed.version)).first()
    )


def _place_files(root: Path, parsed: release.Manifest, files: dict[str, bytes]) -> None:
    """Write and check the files beside the folder, then move the folder into place.

    Called with the version's lock held and no row for it: a folder already there is what a
    publish that failed before its commit left behind, and is replaced.
    """
    private_dir(root)
    target = root / parsed.version
    staging = Path(tempfile.mkdtemp(prefix=".incoming-", dir=root))
    try:
        for name, data in files.items():
            path = staging / release.check_file_name(name)
            path.write_bytes(data)
            release.verify_file(parsed, path)
        if target.exists():
            stale = Path(tempfile.mkdtemp(prefix=".stale-", dir=root))
            os.replace(target, stale / parsed.version)
            shutil.rmtree(stale, ignore_errors=True)
        os.replace(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def describe(m: release.Manifest, row: Row[Any] | None = None) -> dict[str, Any]:
    info = {
        "version": m.version,
        "created": m.created,
        "files": [{"name": f.name, "sha256": f.sha256, "size": f.size} for f in m.files],
    }
    if row is not None:
        info |= {
            "published_at": row.published_at,
            "withdrawn_at": row.withdrawn_at,
            "withdraw_reason": row.withdraw_reason,
        }
    return info


def withdraw(conn: Connection, version: str, reason: str | None) -> dict[str, Any]:
    """Stop offering ``version`` to terminals; withdrawing twice is harmless."""
    lock_key(conn, f"release:{version}")
    row = conn.execute(select(releases).where(releases.c.version == version)).first()
    if row is None:
        raise NotFound("unknown_release", f"no release {version} has been published")
    if row.withdrawn_at is None:
        conn.execute(
            update(releases)
            .where(releases.c.version == version)
            .values(withdrawn_at=datetime.now(UTC), withdraw_reason=reason)
        )
        row = conn.execute(select(releases).where(releases.c.version == version)).one()
    return describe(release.parse_manifest(row.manifest), row)


def list_releases(conn: Connection) -> list[dict[str, Any]]:
    """Every release published, newest first, withdrawn ones included (marked)."""
    rows = sorted(
        conn.execute(select(releases)), key=lambda r: release.parse_version(r.version), reverse=True
    )
    return [describe(release.parse_manifest(r.manifest), r) for r in rows]


def latest(conn: Connection, release_dir: str | os.PathLike[str]) -> StoredRelease:
    """The newest release that is not withdrawn (versions ordered as MAJOR.MINOR.PATCH numbers)."""
    rows = conn.execute(
        select(releases.c.version, releases.c.manifest, releases.c.signature).where(
            releases.c.withdrawn_at.is_(None)
        )
    ).all()
    if not rows:
        raise NotFound("no_release", "no agent release has been published")
    newest = max(rows, key=lambda r: release.parse_version(r.version))
    return StoredRelease(
        newest.version, Path(release_dir) / newest.version, newest.manifest, newest.signature
    )


def release_file(conn: Connection, release_dir: str | os.PathLike[str], version: str, name: str) -> Path:
    stored = latest(conn, release_dir)
    if stored.version != version:
        raise NotFound("no_release", f"release {version} is not the current one ({stored.version})")
    try:
        release.parse_manifest(stored.manifest).file(name)
    except release.ReleaseError as e:
        raise NotFound(e.code, e.message) from None
    return stored.folder / name


def adopt_folders(conn: Connection, release_dir: str | os.PathLike[str]) -> list[str]:
    """Take releases published before the database kept them (a folder with manifest.json and
    its signature) into the ``releases`` table; returns what it could not take, one line each."""
    root = Path(release_dir)
    skipped = []
    known = set(conn.execute(select(releases.c.version)).scalars())
    for folder in sorted(root.iterdir()) if root.is_dir() else ():
        manifest_path, signature_path = folder / LEGACY_MANIFEST, folder / LEGACY_SIGNATURE
        if folder.name.startswith(".") or folder.name in known or not signature_path.exists():
            continue
        try:
            manifest = manifest_path.read_bytes()
            parsed = release.parse_manifest(manifest)
            if parsed.version != folder.name:
                raise release.ReleaseError("bad_manifest", f"the manifest names version {parsed.version}")
        except (OSError, release.ReleaseError) as e:
            skipped.append(f"release folder {folder} not taken over: {e}")
            continue
        conn.execute(
            insert(releases).values(
                version=parsed.version,
                manifest=manifest,
                signature=signature_path.read_bytes(),
                published_at=datetime.fromtimestamp(signature_path.stat().st_mtime, UTC),
            )
        )
    return skipped
