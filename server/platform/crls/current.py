"""The JPKI trust anchors and CRLs this server checks cards against, kept per worker."""

from __future__ import annotations

from flask import current_app

from mkp_core.trust import TrustStore
from server.platform.crls.service import CurrentCrls, trust_from_config
from server.web.context import config


def trust_store() -> TrustStore:
    """JPKI trust anchors from config (J-LIS's real ones unless files are named)."""
    ext = current_app.extensions
    if "mkp.trust" not in ext:
        ext["mkp.trust"] = trust_from_config(config().jpki_anchor_files)
    found: TrustStore = ext["mkp.trust"]
    return found


def current_crls() -> CurrentCrls:
    """The CRLs cards are checked against (cached per worker, reloaded when an upload changes them)."""
    ext = current_app.extensions
    if "mkp.crls" not in ext:
        ext["mkp.crls"] = CurrentCrls(trust_store())
    found: CurrentCrls = ext["mkp.crls"]
    return found
