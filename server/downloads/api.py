"""HTTP for terminals, every request signed by the terminal key: ping, config, trust list, CRL.

Downloads carry an ETag, so a terminal polling with ``If-None-Match`` fetches only what changed.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from cryptography.hazmat.primitives import serialization
from flask import Response, current_app, request
from flask_openapi3 import APIBlueprint, Tag
from sqlalchemy import Connection
from werkzeug.http import quote_etag

from mkp_core import wire
from mkp_core.errors import NotFound
from server.conntest import service as conntest
from server.db.engine import read
from server.downloads import config as place_configs
from server.downloads import schemas
from server.platform.crls import service as crl_service
from server.platform.crls.current import trust_store
from server.platform.terminal_auth import TERMINAL_SIGNATURE, terminal_endpoints, terminal_id
from server.releases.service import load_release_keys
from server.terminals import service
from server.terminals.app_ca import terminal_ca
from server.vouchers import keys as voucher_keys
from server.web.context import Json, View, config, engine, error_responses
from server.web.etag import content_version, etagged

bp = APIBlueprint("terminal", __name__, url_prefix="/v1/terminal", abp_security=TERMINAL_SIGNATURE)
terminal_endpoints(bp)
tag = Tag(name="terminal", description="What an enrolled terminal calls (RFC 9421 signed requests)")
ERRORS = error_responses(401, 404)
#: The app's kept place configs (``app.extensions``; made by ``init_app``).
PLACE_CONFIGS = "mkp.place_configs"


@bp.get("/ping", tags=[tag], responses={200: schemas.Ping, **ERRORS})
def ping() -> View:
    """An authenticated round trip: who the server thinks this terminal is, and the time."""
    tid = terminal_id()
    with read(engine()) as conn:
        t = service.get_terminal(conn, tid)
    return {"terminal_id": tid, "place": t["place"], "server_time": datetime.now(UTC)}


@bp.get("/config", tags=[tag], responses={200: schemas.TerminalConfig, 304: None, **ERRORS})
def terminal_config() -> View:
    """Place, point codes accepted, offline limits, the connection test to run next (if any)."""
    tid = terminal_id()
    c = config()
    offline = {
        "max_spend": c.offline_max_spend,
        "max_card_day": c.offline_max_card_day,
        "max_total": c.offline_max_total,
        "max_hours": c.offline_max_hours,
        "max_crl_hours": c.offline_max_crl_hours,
    }
    now = datetime.now(UTC)
    cache: place_configs.PlaceConfigs = current_app.extensions[PLACE_CONFIGS]
    with read(engine()) as conn:
        payload = place_configs.terminal_config(conn, cache, tid, offline, now)
        payload["conntest"] = _announcement(conn, tid, now)
    return etagged({**payload, "version": content_version(payload)})


def _announcement(conn: Connection, tid: str, now: datetime) -> dict[str, Any] | None:
    """The connection test this terminal should run next, its times in ISO 8601."""
    found = conntest.announcement_for(conn, tid, now)
    if found is None:
        return None
    return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in found.items()}


@bp.get("/trust-list", tags=[tag], responses={200: schemas.TrustList, 304: None, **ERRORS})
def trust_list() -> View:
    """JPKI trust anchors, the terminal CA certificate, the operator's release keys, the server's
    voucher keys (a key ring: vouchers are verified offline with it)."""
    terminal_id()
    anchors = [a.certificate.public_bytes(serialization.Encoding.PEM).decode() for a in trust_store().anchors]
    release_keys = [
        k.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
        for k in load_release_keys(config().release_key_files)
    ]
    payload: Json = {
        "jpki_anchors": anchors,
        "terminal_ca": terminal_ca().certificate_pem,
        "release_keys": release_keys,
    }
    with read(engine()) as conn:
        payload["voucher_keys"] = voucher_keys.published(conn)
    return etagged({**payload, "version": content_version(payload)})


@bp.get("/crl", tags=[tag], responses={200: wire.CrlDownload, 304: None, **ERRORS})
def crl() -> View:
    """The CA-signed CRLs: per CA generation the newest full list and the deltas on top of it.

    The ETag is the stored version: "not modified" is answered without loading a CRL.
    """
    terminal_id()
    with read(engine()) as conn:
        version = crl_service.current_version(conn)
        if version is not None and version in request.if_none_match:
            return Response(status=304, headers={"ETag": quote_etag(version)})
        payload = crl_service.current(conn)
    if payload is None:
        raise NotFound("no_crl", "the operator has not uploaded a CRL yet")
    return etagged(payload, etag=payload["version"])
