"""Departments and their budgets and grant kinds.

A department (子育て支援課, 介護保険課 ...) grants points from its own budget: a ledger account
``dept:<department>`` that may go below zero only down to its floor, minus the budget. What it has
granted is what the account is below zero; raising the budget lowers the floor.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, insert, select

from mkp_core.errors import Conflict, MkpError, NotFound
from mkp_core.ids import department_municipality, general_point_code, point_code_municipality
from server import ledger
from server.ledger.accounts import account_state
from server.ledger.tables import point_codes
from server.platform.municipalities.service import get_municipality
from server.platform.operators.service import Operator
from server.points.tables import departments, grant_kinds


def owner(department_id: str) -> str:
    """The ledger account a department grants from."""
    return f"dept:{department_id}"


def add_department(
    conn: Connection,
    op: Operator,
    municipality: str,
    code: str,
    name: str,
    budget: int,
    point_code: str | None = None,
) -> dict[str, Any]:
    """A department of ``municipality`` with ``budget`` points of ``point_code`` (default: general)."""
    op.require_scope(municipality)
    get_municipality(conn, municipality)
    code_of_points = point_code or general_point_code(municipality)
    if point_code_municipality(code_of_points) != municipality:
        raise MkpError("point_code_mismatch", f"point code {code_of_points} is not {municipality}'s")
    if conn.execute(select(point_codes.c.code).where(point_codes.c.code == code_of_points)).first() is None:
        raise NotFound("unknown_point_code", f"point code {code_of_points} does not exist")
    department_id = f"{municipality}-{code}"
    if conn.execute(select(departments.c.id).where(departments.c.id == department_id)).first():
        raise Conflict("department_exists", f"department {department_id} exists already")
    conn.execute(
        insert(departments).values(
            id=department_id,
            municipality_code=municipality,
            name=name,
            point_code=code_of_points,
            created_at=datetime.now(UTC),
        )
    )
    ledger.open_account(conn, owner(department_id), code_of_points, floor=-budget)
    return get_department(conn, department_id)


def set_budget(conn: Connection, op: Operator, department_id: str, budget: int) -> dict[str, Any]:
    """Give a department a new budget (never below what it has granted already)."""
    department = get_department(conn, department_id, op)
    ledger.set_floor(conn, owner(department_id), department["point_code"], -budget)
    return get_department(conn, department["id"])


def add_grant_kind(
    conn: Connection, op: Operator, department_id: str, code: str, name: str, max_amount: int | None
) -> dict[str, Any]:
    """A kind of grant the department gives (volunteer, health ...), with the most one grant may give."""
    get_department(conn, department_id, op)
    if code in grant_kinds_of(conn, department_id):
        raise Conflict("grant_kind_exists", f"{department_id} has a grant kind {code} already")
    conn.execute(
        insert(grant_kinds).values(
            department_id=department_id,
            code=code,
            name=name,
            max_amount=max_amount,
            created_at=datetime.now(UTC),
        )
    )
    return get_department(conn, department_id)


def get_department(conn: Connection, department_id: str, op: Operator | None = None) -> dict[str, Any]:
    """A department with its budget, what it granted and has left, and its grant kinds."""
    row = conn.execute(select(departments).where(departments.c.id == department_id)).first()
    if row is None or (op is not None and not op.covers(row.municipality_code)):
        raise NotFound("unknown_department", f"no department {department_id}")
    state = account_state(conn, owner(row.id), row.point_code)
    balance, floor = state if state is not None else (0, 0)
    budget = -(floor or 0)
    return {
        "id": row.id,
        "municipality": row.municipality_code,
        "name": row.name,
        "point_code": row.point_code,
        "budget": budget,
        "granted": -balance,
        "left": budget + balance,
        "grant_kinds": list(grant_kinds_of(conn, row.id).values()),
        "created_at": row.created_at,
    }


def list_departments(conn: Connection, op: Operator, municipality: str) -> list[dict[str, Any]]:
    op.require_scope(municipality)
    get_municipality(conn, municipality)
    ids = conn.execute(
        select(departments.c.id)
        .where(departments.c.municipality_code == municipality)
        .order_by(departments.c.id)
    ).scalars()
    return [get_department(conn, d) for d in ids]


def grant_kinds_of(conn: Connection, department_id: str) -> dict[str, dict[str, Any]]:
    rows = conn.execute(
        select(grant_kinds).where(grant_kinds.c.department_id == department_id).order_by(grant_kinds.c.code)
    )
    return {
        r.code: {
            "code": r.code,
            "name": r.name,
            "max_amount": None if r.max_amount is None else int(r.max_amount),
        }
        for r in rows
    }


def municipality_of(department_id: str) -> str:
    return department_municipality(department_id)
