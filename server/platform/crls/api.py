"""HTTP: /v1/crls — the central operator uploads the CA's CRLs (full and delta)."""

from __future__ import annotations

import hashlib

from flask_openapi3 import APIBlueprint, Tag
from sqlalchemy import Connection

from mkp_core import wire
from mkp_core.errors import NotFound
from server.db.engine import read
from server.db.idempotency import write_once
from server.platform import schemas
from server.platform.crls import service
from server.platform.crls.current import current_crls, trust_store
from server.platform.mykey.sweep import sweep
from server.platform.operators.auth import BEARER, operator, operator_endpoints
from server.web.context import Json, View, caller_key, engine, error_responses

bp = APIBlueprint("crls", __name__, url_prefix="/v1", abp_security=BEARER)
# CRL uploads are large (a million revoked serials is about 40 MB of DER).
operator_endpoints(bp, body_limit=lambda config: config.max_crl_bytes)
tag = Tag(name="crls", description="Revocation lists of user-authentication certificates")
ERRORS = error_responses(401, 403, 409, 413, 422)


@bp.post("/crls", tags=[tag], responses={201: wire.CrlInfo, **ERRORS})
def upload(body: schemas.CrlUpload) -> View:
    """Upload a CA-signed CRL (PEM or base64 DER), checked as terminals will check it; then sweep:
    MyKey IDs whose certificate it lists are suspended (the report names them)."""
    operator().require_central()
    trust, crls = trust_store(), current_crls()
    data = {"sha256": hashlib.sha256(body.crl.encode()).hexdigest()}

    def work(conn: Connection) -> Json:
        info = service.upload(conn, trust, body.crl)
        return {**info, "sweep": sweep(conn, crls.stores(conn))}

    return write_once(engine(), caller_key(body.client_id), "crl.upload", data, work)


@bp.get("/crls", tags=[tag], responses={200: wire.CrlDownload, **error_responses(404), **ERRORS})
def current() -> View:
    """What terminals download now."""
    operator()
    with read(engine()) as conn:
        payload = service.current(conn)
    if payload is None:
        raise NotFound("no_crl", "no CRL has been uploaded yet")
    return payload
