"""Keep the CA-signed CRLs the operator uploads (full lists and deltas) for terminals to fetch.

The server checks each upload with the same code terminals use (``mkp_core.crl``): signature by a
configured JPKI anchor, and a delta must apply to a full list we hold. Terminals verify the CA's
signature themselves, so the server is a distribution point, not a trusted party.

The version of what terminals download is computed once per upload and stored, so a terminal's
"anything new?" poll costs one small read, however large the CRLs are.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import threading
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from sqlalchemy import Connection, Row, RowMapping, insert, select, update

from mkp_core.crl import CrlError, CrlStore, load_current
from mkp_core.errors import Conflict, MkpError
from mkp_core.trust import TrustStore
from server.db.engine import lock_key
from server.platform.tables import crls, download_versions

DOWNLOAD = "crl"
#: CRL numbers are stored as BIGINT (RFC 5280 allows up to 20 octets; real CAs count from 1).
MAX_CRL_NUMBER = 2**63 - 1


def trust_from_config(anchor_files: str) -> TrustStore:
    """The JPKI anchors a server trusts: the PEM files named (comma-separated), else J-LIS's real ones."""
    files = [f.strip() for f in anchor_files.split(",") if f.strip()]
    return TrustStore.from_pem_files(files) if files else TrustStore.production()


def decode_crl(text: str) -> bytes:
    """PEM text, or DER in base64, to DER bytes."""
    text = text.strip()
    try:
        if text.startswith("-----BEGIN"):
            return x509.load_pem_x509_crl(text.encode()).public_bytes(Encoding.DER)
        return base64.b64decode(text, validate=True)
    except (ValueError, binascii.Error):
        raise MkpError("invalid_crl", "crl must be a PEM X.509 CRL or DER in base64") from None


def upload(conn: Connection, trust: TrustStore, text: str) -> dict[str, Any]:
    """Check a CRL as terminals will (CA signature, delta on a held full list) and keep it."""
    der = decode_crl(text)
    try:
        parsed = x509.load_der_x509_crl(der)
        indicator = parsed.extensions.get_extension_for_class(x509.DeltaCRLIndicator).value
    except x509.ExtensionNotFound:
        indicator = None
    except ValueError:
        raise MkpError("invalid_crl", "not a CRL: neither a PEM X.509 CRL nor DER in base64") from None
    try:
        if indicator is None:
            store = CrlStore.load(der, trust)
            kind, base, entries = "full", None, store.count
        else:
            anchor = trust.issuer_of_crl(parsed)
            full = _newest_full(conn, anchor.fingerprint) if anchor else None
            if full is None:
                raise Conflict("no_base_crl", "upload the CA's full CRL before its deltas")
            store = CrlStore.load(full.der, trust).apply_delta(der, trust)
            kind, base, entries = "delta", indicator.crl_number, len(parsed)
    except CrlError as e:  # untrusted_crl, unknown_crl_issuer, bad_delta_crl, invalid_crl ...
        raise MkpError(e.code, str(e)) from None
    issuer, number = store.issuer_fingerprint, store.crl_number or 0
    for what, value in (("CRL number", number), ("base CRL number", base)):
        if value is not None and not 0 <= value <= MAX_CRL_NUMBER:
            raise MkpError("invalid_crl", f"{what} {value} is out of range (0 to 2^63-1)")
    lock_key(conn, "crl.upload")  # one upload at a time: each sees the last and stores the version
    newest = conn.execute(
        select(crls.c.number)
        .where(crls.c.issuer_fingerprint == issuer, crls.c.kind == kind)
        .order_by(crls.c.number.desc())
        .limit(1)
    ).scalar_one_or_none()
    if newest is not None and number == newest:
        raise Conflict("crl_exists", f"{kind} CRL number {number} of this CA is uploaded already")
    if newest is not None and number < newest:
        raise Conflict("stale_crl", f"CRL number {number} is older than {newest}, which the server has")
    row = {
        "kind": kind,
        "number": number,
        "base_number": base,
        "issuer_fingerprint": issuer,
        "this_update": store.this_update,
        "next_update": store.next_update,
        "entries": entries,
        "der": der,
        "created_at": datetime.now(UTC),
    }
    conn.execute(insert(crls).values(**row))
    _store_version(conn, _version(_current_rows(conn, with_der=False)))
    return _info(row)


def _newest_full(conn: Connection, issuer: str) -> Row[Any] | None:
    return conn.execute(
        select(crls)
        .where(crls.c.issuer_fingerprint == issuer, crls.c.kind == "full")
        .order_by(crls.c.number.desc())
        .limit(1)
    ).first()


def _current_rows(conn: Connection, with_der: bool) -> list[Row[Any]]:
    """Per CA generation: the newest full CRL and the deltas based on it (DER only if asked)."""
    columns = [c for c in crls.c if with_der or c.name != "der"]
    issuers = (
        conn.execute(select(crls.c.issuer_fingerprint).distinct().order_by(crls.c.issuer_fingerprint))
        .scalars()
        .all()
    )
    rows = []
    for issuer in issuers:
        full = conn.execute(
            select(*columns)
            .where(crls.c.issuer_fingerprint == issuer, crls.c.kind == "full")
            .order_by(crls.c.number.desc())
            .limit(1)
        ).first()
        if full is None:
            continue
        deltas = conn.execute(
            select(*columns)
            .where(
                crls.c.issuer_fingerprint == issuer,
                crls.c.kind == "delta",
                crls.c.base_number <= full.number,
                crls.c.number > full.number,
            )
            .order_by(crls.c.number)
        ).all()
        rows += [full, *deltas]
    return rows


def _version(rows: list[Row[Any]]) -> str | None:
    """CRLs never change once uploaded (one per issuer, kind and number): naming them names the content."""
    if not rows:
        return None
    names = "|".join(f"{r.issuer_fingerprint}:{r.kind}:{r.number}" for r in rows)
    return hashlib.sha256(names.encode()).hexdigest()[:16]


def _store_version(conn: Connection, version: str | None) -> None:
    if version is None:
        return
    now = datetime.now(UTC)
    changed = conn.execute(
        update(download_versions)
        .where(download_versions.c.name == DOWNLOAD)
        .values(version=version, updated_at=now)
    )
    if changed.rowcount == 0:
        conn.execute(insert(download_versions).values(name=DOWNLOAD, version=version, updated_at=now))


def current_version(conn: Connection) -> str | None:
    """The version of what terminals download now, without loading a CRL (None: nothing uploaded)."""
    stored = conn.execute(
        select(download_versions.c.version).where(download_versions.c.name == DOWNLOAD)
    ).scalar_one_or_none()
    return stored if stored is not None else _version(_current_rows(conn, with_der=False))


def current(conn: Connection) -> dict[str, Any] | None:
    """Per CA generation: the newest full CRL and the deltas based on it, plus its version."""
    rows = _current_rows(conn, with_der=True)
    if not rows:
        return None
    return {
        "version": _version(rows),
        "crls": [_info(row._mapping) for row in rows],
        "pem": [x509.load_der_x509_crl(row.der).public_bytes(Encoding.PEM).decode() for row in rows],
    }


def _info(row: RowMapping | Mapping[str, Any]) -> dict[str, Any]:
    return {
        "kind": row["kind"],
        "number": int(row["number"]),
        "base_number": row["base_number"],
        "issuer_fingerprint": row["issuer_fingerprint"],
        "entries": int(row["entries"]),
        "this_update": row["this_update"],
        "next_update": row["next_update"],
    }


class CurrentCrls:
    """The CRLs the server holds now, as stores to check cards against: loaded once per version.

    Each check reads the stored version (one small row); only when an upload changed it are the
    CRLs loaded again (a million serials take about a second, once per worker and upload).
    """

    def __init__(self, trust: TrustStore) -> None:
        self.trust = trust
        self._version: str | None = None
        self._stores: list[CrlStore] = []
        self._lock = threading.Lock()

    def stores(self, conn: Connection) -> list[CrlStore]:
        version = current_version(conn)
        if version != self._version:
            with self._lock:
                if version != self._version:
                    rows = _current_rows(conn, with_der=True)
                    self._stores = load_current(
                        ((r.kind, r.issuer_fingerprint, r.der) for r in rows), self.trust, "stored CRL"
                    )
                    self._version = version
        return self._stores


class PinnedCrls(CurrentCrls):
    """The CRLs as they stood when a transaction first read them: for checking many cards in that
    one transaction (a terminal's sync) without reading the stored version for each."""

    def __init__(self, crls: CurrentCrls, conn: Connection) -> None:
        super().__init__(crls.trust)
        self._stores = crls.stores(conn)

    def stores(self, conn: Connection) -> list[CrlStore]:
        return self._stores
