"""HTTP: /v1/releases (the operator publishes) and /v1/terminal/release (terminals fetch)."""

from __future__ import annotations

import base64
import binascii
import hashlib

from flask import request, send_file
from flask_openapi3 import APIBlueprint, Tag

from mkp_core import wire
from mkp_core.errors import MkpError
from server import idempotency
from server.api import BEARER, config, engine, etagged, operator
from server.db.engine import run_write
from server.releases import service
from server.terminals.auth import TERMINAL_SIGNATURE, terminal_id

bp = APIBlueprint("releases", __name__, url_prefix="/v1", abp_security=BEARER)
terminal_bp = APIBlueprint(
    "terminal_release", __name__, url_prefix="/v1/terminal", abp_security=TERMINAL_SIGNATURE
)
tag = Tag(name="releases", description="Agent software releases, signed by the operator's release key")
ERRORS = {
    401: wire.ErrorResponse,
    403: wire.ErrorResponse,
    404: wire.ErrorResponse,
    409: wire.ErrorResponse,
    413: wire.ErrorResponse,
    422: wire.ErrorResponse,
}


@bp.before_request
def allow_large_bodies() -> None:
    request.max_content_length = config().max_release_bytes


def _b64(value: str, what: str) -> bytes:
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise MkpError("invalid_base64", f"{what} is not base64") from None


@bp.post("/releases", tags=[tag], responses={201: wire.ReleaseInfo, **ERRORS})
def publish(body: wire.ReleasePublish):
    """Publish a release: the manifest and its detached signature, made offline, and the files."""
    operator().require_central()
    files = {name: _b64(data, f"file {name}") for name, data in body.files.items()}
    keys = service.load_release_keys(config().release_key_files)
    manifest, signature = _b64(body.manifest, "manifest"), _b64(body.signature, "signature")
    digest = {"sha256": hashlib.sha256(request.get_data()).hexdigest()}
    status, reply = run_write(
        engine(),
        lambda conn: idempotency.once(
            conn,
            body.client_id,
            "release.publish",
            digest,
            lambda: (201, service.publish(config().release_dir, keys, manifest, signature, files)),
        ),
    )
    return reply, status


@terminal_bp.get(
    "/release",
    tags=[tag],
    responses={200: wire.ReleaseDownload, 304: None, 401: wire.ErrorResponse, 404: wire.ErrorResponse},
)
def current_release():
    """The newest release's manifest and signature, exactly as the operator signed them."""
    terminal_id()
    stored = service.latest(config().release_dir)
    return etagged(
        {
            "version": stored.version,
            "manifest": base64.b64encode(stored.manifest).decode(),
            "signature": base64.b64encode(stored.signature).decode(),
        }
    )


@terminal_bp.get(
    "/release/<version>/<name>", tags=[tag], responses={401: wire.ErrorResponse, 404: wire.ErrorResponse}
)
def release_file(path: wire.ReleaseFilePath):
    """One file of the current release (the terminal checks it against the signed manifest)."""
    terminal_id()
    return send_file(
        service.release_file(config().release_dir, path.version, path.name),
        mimetype="application/octet-stream",
        etag=True,
        conditional=True,
    )
