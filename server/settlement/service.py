"""Settlement (会計データ連携): close a municipality's month, and its statement of who owes whom.

Which transfers a period holds, and why a closed one never changes, is the ledger's rule
(``server.ledger.periods``). Here: who may close (a central operator, for one municipality or
all; a scoped operator, for its own), and the statement as an accountant reads it: one line
per point code and counterparty account, named.

A line's ``points`` is the counterparty account's net movement (credits - debits) over the
period, so each point code's lines sum to zero, to the point:

* ``place`` (``payee:``): spends, voucher redemptions, handovers, transit exchanges less
  refunds: what the municipality owes the place;
* ``partner`` (``partner:``): negative, the points converted and partner-funded premiums: what
  the partner owes the municipality;
* ``department`` (``dept:``): negative, what it granted (less reversals);
* ``municipality`` (``muni:``): negative, what the municipality funded itself (premiums, rewards);
* ``service`` (``service:``): negative, a shopping street's migrated balances that were claimed;
* ``breakage``: positive, what expired;
* ``holders`` (every wallet as one line), ``event_pool``, ``vouchers``, ``holding``: points
  still held by residents, an event's pool, printed vouchers, and conversions on hold.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select

from mkp_core.errors import Forbidden
from server.ledger import periods
from server.ledger.tables import point_codes
from server.partners.tables import partners
from server.platform.operators.service import Operator
from server.platform.tables import municipalities, places, services
from server.points.tables import departments

KINDS = {
    "payee": "place",
    "partner": "partner",
    "dept": "department",
    "muni": "municipality",
    "service": "service",
    "breakage": "breakage",
    "mykey": "holders",
    "holder": "holders",
    "pool": "event_pool",
    "voucher": "vouchers",
    "holding": "holding",
}
FIXED_NAMES = {
    "holders": "利用者の保有ポイント",
    "breakage": "失効ポイント",
    "vouchers": "未使用の紙券",
    "holding": "移行待ちの交換ポイント",
}


def close(
    conn: Connection, op: Operator, period_text: str, municipality: str | None, now: datetime | None = None
) -> dict[str, Any]:
    """Close ``period`` for one municipality, or for every one (central operators only)."""
    period = periods.parse_period(period_text)
    targets = _municipalities(conn, op, municipality)
    closed = [periods.close_period(conn, code, period, op.actor, now).to_dict() for code in targets]
    return {"period": str(period), "closed": closed}


def list_closes(conn: Connection, op: Operator, municipality: str | None) -> dict[str, Any]:
    """Every closed period of the municipalities the operator may see."""
    found = [
        c.to_dict() for code in _municipalities(conn, op, municipality) for c in periods.closes(conn, code)
    ]
    return {"closes": found}


def statements(conn: Connection, op: Operator, period_text: str, municipality: str | None) -> dict[str, Any]:
    """The period's statement of each municipality asked for (scoped operators: their own)."""
    period = periods.parse_period(period_text)
    return {
        "period": str(period),
        "statements": [statement(conn, code, period) for code in _municipalities(conn, op, municipality)],
    }


def statement(conn: Connection, municipality: str, period: periods.Period) -> dict[str, Any]:
    """One municipality's statement: the stored one of a closed period, else as the ledger stands."""
    closed = next((c for c in periods.closes(conn, municipality) if c.period == period), None)
    moved = (
        periods.stored_movements(conn, closed.id)
        if closed is not None
        else periods.movements(conn, municipality, period)
    )
    names = _Names(conn, municipality, moved)
    return {
        "municipality": municipality,
        "municipality_name": names.municipality,
        "period": str(period),
        "closed": closed is not None,
        "closed_at": closed.closed_at if closed else None,
        "closed_by": closed.closed_by if closed else None,
        "watermark": closed.watermark if closed else None,
        "lines": [names.line(m) for m in moved],
    }


def _municipalities(conn: Connection, op: Operator, municipality: str | None) -> list[str]:
    """The municipalities an operator acts on: the one named (in its scope), or its own, or all."""
    if municipality is not None:
        op.require_scope(municipality)
        periods.require_known_municipality(conn, municipality)
        return [municipality]
    if op.municipality is not None:
        return [op.municipality]
    found = list(conn.execute(select(municipalities.c.code).order_by(municipalities.c.code)).scalars())
    if not found:
        raise Forbidden("no_municipalities", "no municipality has been added yet")
    return found


class _Names:
    """Names for a statement's lines: only the counterparties it has, a query per kind."""

    def __init__(self, conn: Connection, municipality: str, moved: list[periods.Movement]) -> None:
        self.municipality = conn.execute(
            select(municipalities.c.name).where(municipalities.c.code == municipality)
        ).scalar_one()
        self.codes = dict(
            conn.execute(
                select(point_codes.c.code, point_codes.c.name).where(
                    point_codes.c.municipality_code == municipality
                )
            ).all()
        )
        wanted: dict[str, set[str]] = {}
        for m in moved:
            prefix, _, ident = m.owner.partition(":")
            wanted.setdefault(KINDS.get(prefix, prefix), set()).add(ident)
        tables = {
            "place": (places.c.id, places.c.name),
            "department": (departments.c.id, departments.c.name),
            "service": (services.c.code, services.c.name),
            "municipality": (municipalities.c.code, municipalities.c.name),
            "partner": (partners.c.id, partners.c.name),
        }
        self.by_kind: dict[str, dict[str, str]] = {"event_pool": self.codes}
        for kind, (key, name) in tables.items():
            found: dict[str, str] = {}
            idents = sorted(wanted.get(kind, ()))
            for start in range(0, len(idents), 500):
                found.update(
                    conn.execute(select(key, name).where(key.in_(idents[start : start + 500]))).all()
                )
            self.by_kind[kind] = found

    def line(self, m: periods.Movement) -> dict[str, Any]:
        prefix, _, ident = m.owner.partition(":")
        kind = KINDS.get(prefix, prefix)
        name = FIXED_NAMES.get(kind) or self.by_kind.get(kind, {}).get(ident) or ident
        return {
            "point_code": m.point_code,
            "point_code_name": self.codes.get(m.point_code, m.point_code),
            "counterparty_kind": kind,
            "counterparty_id": "*" if m.owner == periods.WALLETS else ident,
            "counterparty_name": name,
            "debits": m.debits,
            "credits": m.credits,
            "points": m.net,
            "transfers": m.transfers,
        }
