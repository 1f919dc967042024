"""The expiry sweep: points whose lots expired go back to the municipality's breakage account.

Expired points are never spendable, swept or not (the ledger refuses them at spend time); the
sweep makes the books say so: one ``expire`` transfer per wallet and point code, taking exactly
the lots expired by the cutoff, to ``breakage:<municipality>`` (the ledger's bulk path,
:func:`server.ledger.expire_lots`). Sweeping twice moves nothing the
second time (the lots are empty by then), and a retry with the sweep's client id gets its first
report. The sweep runs in one transaction: all of it happens, or none.

What a feature above points expires with them runs in the same sweep and transaction, its report
under its own name (:func:`also_expire`): paper vouchers past their date and never used go back
to their municipality so (:func:`server.vouchers.service.expire`), listed under ``vouchers``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import Connection, func, select

from mkp_core.dates import jst_date
from mkp_core.errors import MkpError
from mkp_core.ids import point_code_municipality
from server import ledger
from server.db.client_ids import server_key
from server.ledger.tables import lots, point_codes

AlsoExpire = Callable[[Connection, datetime, str, str | None, datetime], object]
"""Expires something else as of a cutoff: (connection, as of, actor, municipality or None, now)."""

_also_expired: dict[str, AlsoExpire] = {}


def also_expire(name: str, expire: AlsoExpire) -> None:
    """Run ``expire`` in every sweep after the points' own, in the same transaction, its report
    under ``name``. A feature above points registers so (paper vouchers): points never import it."""
    _also_expired[name] = expire


def breakage(municipality: str) -> str:
    """Where a municipality's expired points go."""
    return f"breakage:{municipality}"


def sweep(
    conn: Connection,
    client_id: str,
    as_of: datetime,
    actor: str,
    municipality: str | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Expire every lot expired by ``as_of`` (of one municipality's codes, or all); the report."""
    now = now or datetime.now(UTC)
    if as_of > now:
        raise MkpError(
            "as_of_in_future", f"points cannot be expired as of {as_of.isoformat()}: that is still to come"
        )
    codes = None if municipality is None else _codes_of(conn, municipality)
    expired = ledger.expire_lots(
        conn,
        as_of,
        lambda code: breakage(_municipality(code)),
        lambda account_id: _transfer_id(client_id, account_id),
        actor,
        now,
        memo=f"expired by {jst_date(as_of)}",
        point_codes=codes,
    )
    report = _report(as_of, municipality, expired)
    for name, expire in _also_expired.items():
        report[name] = expire(conn, as_of, actor, municipality, now)
    return report


def _codes_of(conn: Connection, municipality: str) -> list[str]:
    return list(
        conn.execute(
            select(point_codes.c.code).where(point_codes.c.municipality_code == municipality)
        ).scalars()
    )


def _transfer_id(sweep_id: str, account_id: int) -> str:
    return server_key("exp-" + hashlib.sha256(f"{sweep_id}:{account_id}".encode()).hexdigest()[:40])


@lru_cache(maxsize=4096)
def _municipality(point_code: str) -> str:
    return point_code_municipality(point_code)


def _report(as_of: datetime, municipality: str | None, expired: list[ledger.Expired]) -> dict[str, Any]:
    per_code: dict[str, dict[str, Any]] = {}
    for e in expired:
        entry = per_code.get(e.point_code)
        if entry is None:
            muni = _municipality(e.point_code)
            entry = per_code[e.point_code] = {
                "point_code": e.point_code,
                "municipality": muni,
                "breakage_account": breakage(muni),
                "lots": 0,
                "holders": 0,
                "points": 0,
            }
        entry["lots"] += e.lots
        entry["holders"] += 1
        entry["points"] += e.points
    return {
        "as_of": as_of,
        "municipality": municipality,
        "transfers": len(expired),
        "lots": sum(e.lots for e in expired),
        "holders": len({e.owner for e in expired}),
        "points": sum(e.points for e in expired),
        "point_codes": [per_code[c] for c in sorted(per_code)],
    }


def pending(conn: Connection, as_of: datetime) -> int:
    """How many points have expired by ``as_of`` and not been swept yet."""
    total = conn.execute(
        select(func.coalesce(func.sum(lots.c.remaining), 0)).where(
            lots.c.remaining > 0, lots.c.expires_at <= as_of
        )
    ).scalar_one()
    return int(total)
