"""The 業務支援 view: what each department granted, per grant kind, over a period of days (JST).

A grant reversed since counts in ``reversed`` (and not in ``net``), whenever it was reversed.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from sqlalchemy import Connection, func, select

from mkp_core.dates import start_of_day
from mkp_core.errors import MkpError
from server.ledger.tables import transfers
from server.platform.municipalities.service import get_municipality
from server.platform.operators.service import Operator
from server.points.tables import departments, grant_kinds, grants


def grant_report(
    conn: Connection,
    op: Operator,
    municipality: str,
    first_day: date,
    last_day: date,
    department: str | None = None,
) -> dict[str, Any]:
    """Per department and grant kind: grants, holders, points granted, reversed, net."""
    op.require_scope(municipality)
    get_municipality(conn, municipality)
    if last_day < first_day:
        raise MkpError("invalid_period", f"the period ends ({last_day}) before it starts ({first_day})")
    reversal = transfers.alias("reversal")
    reversed_amount = func.sum(func.coalesce(reversal.c.amount, 0))
    query = (
        select(
            grants.c.department_id,
            departments.c.name,
            grants.c.grant_kind,
            grant_kinds.c.name,
            func.count(),
            func.count(func.distinct(transfers.c.credit_account_id)),
            func.sum(transfers.c.amount),
            reversed_amount,
        )
        .select_from(
            grants.join(transfers, transfers.c.id == grants.c.transfer_id)
            .join(departments, departments.c.id == grants.c.department_id)
            .outerjoin(
                grant_kinds,
                (grant_kinds.c.department_id == grants.c.department_id)
                & (grant_kinds.c.code == grants.c.grant_kind),
            )
            .outerjoin(reversal, reversal.c.reverses_id == transfers.c.id)
        )
        .where(
            departments.c.municipality_code == municipality,
            transfers.c.created_at >= start_of_day(first_day),
            transfers.c.created_at < start_of_day(last_day + timedelta(days=1)),
        )
        .group_by(grants.c.department_id, departments.c.name, grants.c.grant_kind, grant_kinds.c.name)
        .order_by(grants.c.department_id, grants.c.grant_kind)
    )
    if department is not None:
        query = query.where(grants.c.department_id == department)
    rows = [
        {
            "department": dept,
            "department_name": dept_name,
            "grant_kind": kind,
            "grant_kind_name": kind_name or kind,
            "grants": int(count),
            "holders": int(holders),
            "points": int(points),
            "reversed": int(back),
            "net": int(points) - int(back),
        }
        for dept, dept_name, kind, kind_name, count, holders, points, back in conn.execute(query)
    ]
    return {
        "municipality": municipality,
        "from_date": first_day.isoformat(),
        "to_date": last_day.isoformat(),
        "department": department,
        "rows": rows,
        "total": {key: sum(r[key] for r in rows) for key in ("grants", "points", "reversed", "net")},
    }
