"""Agent software updates: install nothing the operator did not sign.

Fetch the newest manifest and its detached signature, verify them with the operator's release
keys from the trust list (a tampered manifest, or an older version, is refused), download each
file into a staging folder and check its size and SHA-256 against the signed manifest. Only
then is anything installed (with pip, into the agent's own environment).
"""

from __future__ import annotations

import base64
import subprocess
import sys
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import requests
from cryptography.hazmat.primitives.asymmetric import ed25519

from mkp_core import release


@dataclass(frozen=True)
class VerifiedRelease:
    manifest: release.Manifest
    files: list[Path]


class UpdateError(Exception):
    """Why an update was not installed; ``code`` is machine-readable."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def installed_version() -> str:
    return metadata.version("mkp")


def fetch_verified_release(
    session: requests.Session,
    server: str,
    release_keys: list[ed25519.Ed25519PublicKey],
    staging: Path,
    current_version: str | None,
) -> VerifiedRelease:
    """The newest release, verified end to end, with its files in ``staging``."""
    if not release_keys:
        raise UpdateError("no_release_key", "the trust list holds no release key: refresh it from the server")
    answer = _get(session, f"{server.rstrip('/')}/v1/terminal/release")
    manifest_bytes = base64.b64decode(answer.json()["manifest"])
    signature = base64.b64decode(answer.json()["signature"])
    manifest = _verify(manifest_bytes, signature, release_keys, current_version)
    staging.mkdir(parents=True, exist_ok=True)
    paths = []
    for entry in manifest.files:
        data = _get(
            session, f"{server.rstrip('/')}/v1/terminal/release/{manifest.version}/{entry.name}"
        ).content
        path = staging / entry.name
        path.write_bytes(data)
        try:
            release.verify_file(manifest, path)
        except release.ReleaseError as e:
            path.unlink()
            raise UpdateError(e.code, e.message) from None
        paths.append(path)
    return VerifiedRelease(manifest, paths)


def install(verified: VerifiedRelease, python: str = sys.executable) -> None:
    """pip-install the verified wheels into ``python``'s environment (no index: only these files)."""
    wheels = [str(p) for p in verified.files if p.suffix == ".whl"]
    if not wheels:
        raise UpdateError("nothing_to_install", f"release {verified.manifest.version} carries no wheel")
    done = subprocess.run(
        [python, "-m", "pip", "install", "--no-index", "--no-deps", *wheels], capture_output=True, text=True
    )
    if done.returncode != 0:
        raise UpdateError(
            "install_failed", done.stderr.strip().splitlines()[-1] if done.stderr.strip() else "pip failed"
        )


def _verify(
    manifest: bytes, signature: bytes, keys: list[ed25519.Ed25519PublicKey], current: str | None
) -> release.Manifest:
    last: release.ReleaseError | None = None
    for key in keys:
        try:
            return release.verify_manifest(manifest, signature, key, installed_version=current)
        except release.ReleaseError as e:
            if e.code != "bad_signature":
                raise UpdateError(e.code, e.message) from None
            last = e
    raise UpdateError(last.code, last.message)


def _get(session: requests.Session, url: str) -> requests.Response:
    try:
        response = session.get(url, timeout=30)
    except requests.RequestException as e:
        raise UpdateError("server_unreachable", f"cannot reach {url}: {e.__class__.__name__}") from None
    if response.status_code != 200:
        try:
            error = response.json()["error"]
            raise UpdateError(error["code"], error["message"])
        except (ValueError, KeyError, TypeError):
            raise UpdateError("http_error", f"HTTP {response.status_code} from {url}") from None
    return response
