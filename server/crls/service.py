"""Keep the CA-signed CRLs the operator uploads (full lists and deltas) for terminals to fetch.

The server checks each upload with the same code terminals use (``mkp_core.crl``): signature by a
configured JPKI anchor, and a delta must apply to a full list we hold. Terminals verify the CA's
signature themselves, so the server is a distribution point, not a trusted party.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from datetime import UTC, datetime

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from sqlalchemy import Connection, insert, select

from mkp_core.crl import CrlError, CrlStore
from mkp_core.errors import Conflict, MkpError
from mkp_core.trust import TrustStore
from server.db.tables import crls


def decode_crl(text: str) -> bytes:
    """PEM text, or DER in base64, to DER bytes."""
    text = text.strip()
    try:
        if text.startswith("-----BEGIN"):
            return x509.load_pem_x509_crl(text.encode()).public_bytes(Encoding.DER)
        return base64.b64decode(text, validate=True)
    except (ValueError, binascii.Error):
        raise MkpError("invalid_crl", "crl must be a PEM X.509 CRL or DER in base64") from None


def upload(conn: Connection, trust: TrustStore, text: str) -> dict:
    """Check a CRL as terminals will (CA signature, delta on a held full list) and keep it."""
    der = decode_crl(text)
    try:
        parsed = x509.load_der_x509_crl(der)
        indicator = parsed.extensions.get_extension_for_class(x509.DeltaCRLIndicator).value
    except x509.ExtensionNotFound:
        indicator = None
    except ValueError as e:
        raise MkpError("invalid_crl", f"not a usable CRL: {e}") from None
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
    except CrlError as e:
        raise MkpError("invalid_crl", str(e)) from None
    issuer, number = store.issuer_fingerprint, store.crl_number or 0
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
    return _info(row)


def _newest_full(conn: Connection, issuer: str):
    return conn.execute(
        select(crls)
        .where(crls.c.issuer_fingerprint == issuer, crls.c.kind == "full")
        .order_by(crls.c.number.desc())
        .limit(1)
    ).first()


def current(conn: Connection) -> dict | None:
    """Per CA generation: the newest full CRL and the deltas based on it, plus a version tag."""
    issuers = (
        conn.execute(select(crls.c.issuer_fingerprint).distinct().order_by(crls.c.issuer_fingerprint))
        .scalars()
        .all()
    )
    infos, pems = [], []
    for issuer in issuers:
        full = _newest_full(conn, issuer)
        if full is None:
            continue
        deltas = conn.execute(
            select(crls)
            .where(
                crls.c.issuer_fingerprint == issuer,
                crls.c.kind == "delta",
                crls.c.base_number <= full.number,
                crls.c.number > full.number,
            )
            .order_by(crls.c.number)
        ).all()
        for row in [full, *deltas]:
            infos.append(_info(row._mapping))
            pems.append(x509.load_der_x509_crl(row.der).public_bytes(Encoding.PEM).decode())
    if not infos:
        return None
    version = hashlib.sha256(
        "|".join(f"{i['issuer_fingerprint']}:{i['kind']}:{i['number']}" for i in infos).encode()
    )
    return {"version": version.hexdigest()[:16], "crls": infos, "pem": pems}


def _info(row) -> dict:
    return {
        "kind": row["kind"],
        "number": int(row["number"]),
        "base_number": row["base_number"],
        "issuer_fingerprint": row["issuer_fingerprint"],
        "entries": int(row["entries"]),
        "this_update": row["this_update"],
        "next_update": row["next_update"],
    }
