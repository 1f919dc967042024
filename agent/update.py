"""Agent software updates: install nothing the operator did not sign.

Fetch the newest manifest and its detached signature, verify them with the operator's release
keys from the trust list (a tampered manifest, or an older version, is refused), download each
file into a staging folder and check its size and SHA-256 against the signed manifest. Only
then is anything installed (with pip, into the agent's own environment).

Every refusal is an :class:`~mkp_core.errors.MkpError` with a code: the server's (``ApiError``,
``Unreachable``), the release checks' (``ReleaseError``), or pip's (``install_failed``).
"""

from __future__ import annotations

import base64
import subprocess
import sys
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import ed25519

from mkp_core import release
from mkp_core.client import ApiClient
from mkp_core.errors import MkpError

#: Release files are bigger than the terminal's other downloads: give them longer.
DOWNLOAD_TIMEOUT = 30.0


@dataclass(frozen=True)
class VerifiedRelease:
    manifest: release.Manifest
    files: list[Path]


def installed_version() -> str:
    return metadata.version("mkp")


def fetch_verified_release(
    client: ApiClient,
    release_keys: list[ed25519.Ed25519PublicKey],
    staging: Path,
    current_version: str | None,
) -> VerifiedRelease:
    """The newest release, verified end to end, with its files in ``staging``.

    ``client`` is the terminal's signed client. The manifest is verified before any file is
    fetched; a file that does not match it is deleted again.
    """
    if not release_keys:
        raise release.ReleaseError(
            "no_release_key", "the trust list holds no release key: refresh it from the server"
        )
    answer = client.get("/v1/terminal/release")
    try:
        manifest_bytes = base64.b64decode(answer["manifest"])
        signature = base64.b64decode(answer["signature"])
    except (KeyError, TypeError, ValueError):
        raise release.ReleaseError(
            "bad_manifest", "the server's release answer holds no base64 manifest and signature"
        ) from None
    manifest = release.verify_with_any(manifest_bytes, signature, release_keys, current_version)
    staging.mkdir(parents=True, exist_ok=True)
    paths = []
    for entry in manifest.files:
        data = client.send("GET", f"/v1/terminal/release/{manifest.version}/{entry.name}").content
        path = staging / entry.name
        path.write_bytes(data)
        try:
            release.verify_file(manifest, path)
        except release.ReleaseError:
            path.unlink()
            raise
        paths.append(path)
    return VerifiedRelease(manifest, paths)


def install(verified: VerifiedRelease, python: str = sys.executable) -> None:
    """pip-install the verified wheels into ``python``'s environment (no index: only these files)."""
    wheels = [str(p) for p in verified.files if p.suffix == ".whl"]
    if not wheels:
        raise MkpError("nothing_to_install", f"release {verified.manifest.version} carries no wheel")
    done = subprocess.run(
        [python, "-m", "pip", "install", "--no-index", "--no-deps", *wheels], capture_output=True, text=True
    )
    if done.returncode != 0:
        raise MkpError(
            "install_failed", done.stderr.strip().splitlines()[-1] if done.stderr.strip() else "pip failed"
        )
