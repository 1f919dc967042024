"""HTTP: /v1/releases (the operator publishes and withdraws) and /v1/terminal/release (terminals fetch)."""

from __future__ import annotations

import base64
import binascii
import hashlib

from flask import request, send_file
from flask_openapi3 import APIBlueprint, Tag

from mkp_core.errors import MkpError
from server.db.engine import read
from server.db.idempotency import write_once
from server.platform.operators.auth import BEARER, operator, operator_endpoints
from server.platform.terminal_auth import TERMINAL_SIGNATURE, terminal_endpoints, terminal_id
from server.releases import schemas, service
from server.web.context import View, caller_key, config, engine, error_responses
from server.web.etag import etagged

bp = APIBlueprint("releases", __name__, url_prefix="/v1", abp_security=BEARER)
operator_endpoints(bp, body_limit=lambda config: config.max_release_bytes)
terminal_bp = APIBlueprint(
    "terminal_release", __name__, url_prefix="/v1/terminal", abp_security=TERMINAL_SIGNATURE
)
terminal_endpoints(terminal_bp)
tag = Tag(name="releases", description="Agent software releases, signed by the operator's release key")
ERRORS = error_responses(401, 403, 404, 409, 413, 422)


def _b64(value: str, what: str) -> bytes:
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise MkpError("invalid_base64", f"{what} is not base64") from None


@bp.post("/releases", tags=[tag], responses={201: schemas.ReleaseInfo, **ERRORS})
def publish(body: schemas.ReleasePublish) -> View:
    """Publish a release: the manifest and its detached signature, made offline, and the files."""
    operator().require_central()
    files = {name: _b64(data, f"file {name}") for name, data in body.files.items()}
    keys = service.load_release_keys(config().release_key_files)
    manifest, signature = _b64(body.manifest, "manifest"), _b64(body.signature, "signature")
    digest = {"sha256": hashlib.sha256(request.get_data()).hexdigest()}
    release_dir = config().release_dir
    return write_once(
        engine(),
        caller_key(body.client_id),
        "release.publish",
        digest,
        lambda conn: service.publish(conn, release_dir, keys, manifest, signature, files),
    )


@bp.get("/releases", tags=[tag], responses={200: schemas.ReleaseList, **ERRORS})
def list_releases() -> View:
    """Every release published, newest first; withdrawn ones say when and why."""
    operator()
    with read(engine()) as conn:
        return {"releases": service.list_releases(conn)}


@bp.post("/releases/<version>/withdraw", tags=[tag], responses={200: schemas.ReleaseInfo, **ERRORS})
def withdraw(path: schemas.ReleasePath, body: schemas.ReleaseWithdraw) -> View:
    """Stop offering a release to terminals (central operators only); the newest remaining one is
    offered instead. Terminals that installed it keep it until a newer release comes."""
    operator().require_central()
    return write_once(
        engine(),
        caller_key(body.client_id),
        f"release.withdraw:{path.version}",
        body.model_dump(),
        lambda conn: service.withdraw(conn, path.version, body.reason),
        status=200,
    )


@terminal_bp.get(
    "/release",
    tags=[tag],
    responses={200: schemas.ReleaseDownload, 304: None, **error_responses(401, 404)},
)
def current_release() -> View:
    """The newest release's manifest and signature, exactly as the operator signed them."""
    terminal_id()
    with read(engine()) as conn:
        stored = service.latest(conn, config().release_dir)
    return etagged(
        {
            "version": stored.version,
            "manifest": base64.b64encode(stored.manifest).decode(),
            "signature": base64.b64encode(stored.signature).decode(),
        }
    )


@terminal_bp.get("/release/<version>/<name>", tags=[tag], responses=error_responses(401, 404))
def release_file(path: schemas.ReleaseFilePath) -> View:
    """One file of the current release (the terminal checks it against the signed manifest)."""
    terminal_id()
    with read(engine()) as conn:
        file = service.release_file(conn, config().release_dir, path.version, path.name)
    return send_file(file, mimetype="application/octet-stream", etag=True, conditional=True)
