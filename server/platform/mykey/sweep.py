"""The daily CRL sweep: every MyKey ID whose current certificate the CRL now lists is suspended.

J-LIS publishes its CRL once a day, so a lost card's certificate may be listed up to a day after
the holder reported it: ``mkp-admin mykey suspend`` closes that gap at once, and the sweep then
marks the certificate revoked (an ID suspended already stays suspended; its reason is kept).

The sweep reads each current certificate's issuer and serial and asks the CRL store of that issuer
(a bisect in memory), so 100,000 IDs take well under a second; the IDs it suspended are reported
to the operator.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, select, update

from mkp_core.crl import CrlStore
from server.ledger.tables import mykeys
from server.platform.mykey import registry
from server.platform.tables import mykey_certificates

SWEEP_ACTOR = "crl-sweep"
_BATCH = 5000


def sweep(conn: Connection, stores: Sequence[CrlStore], now: datetime | None = None) -> dict[str, Any]:
    """Mark revoked the current certificates the CRLs list, and suspend their MyKey IDs."""
    now = now or datetime.now(UTC)
    by_issuer = {s.issuer_fingerprint: s for s in stores}
    rows = conn.execute(
        select(
            mykey_certificates.c.sha256,
            mykey_certificates.c.mykey,
            mykey_certificates.c.issuer_fingerprint,
            mykey_certificates.c.serial,
        ).where(mykey_certificates.c.status == registry.CURRENT)
    ).all()
    revoked = [
        r
        for r in rows
        if (store := by_issuer.get(r.issuer_fingerprint)) is not None and store.is_revoked(int(r.serial, 16))
    ]
    suspended: list[str] = []
    already: list[str] = []
    for start in range(0, len(revoked), _BATCH):
        batch = revoked[start : start + _BATCH]
        conn.execute(
            update(mykey_certificates)
            .where(mykey_certificates.c.sha256.in_([r.sha256 for r in batch]))
            .values(status=registry.REVOKED, retired_at=now)
        )
        holders = conn.execute(select(mykeys).where(mykeys.c.id.in_([r.mykey for r in batch]))).all()
        for holder in map(registry.from_row, holders):
            if holder.status != registry.ACTIVE:  # suspended before (a lost card reported): kept so
                already.append(holder.mykey_id)
                registry.audit(conn, holder.number, "certificate-revoked", SWEEP_ACTOR, "on the CRL", now)
                continue
            registry.suspend(conn, holder, SWEEP_ACTOR, "revoked", now)
            suspended.append(holder.mykey_id)
    return {
        "checked": len(rows),
        "revoked": len(revoked),
        "suspended": sorted(suspended),
        "already_suspended": sorted(already),
    }
