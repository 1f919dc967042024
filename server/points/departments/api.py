"""HTTP for departments: departments, budgets and grant kinds; grants one by one or by CSV file;
the 業務支援 report per department and grant kind."""

from __future__ import annotations

import base64
import binascii

from flask_openapi3 import APIBlueprint, Tag
from sqlalchemy import Connection

from mkp_core import dates, wire
from mkp_core.errors import MkpError
from server.db.engine import read, run_write
from server.db.idempotency import write_once
from server.platform.operators.auth import BEARER, operator, operator_endpoints
from server.points import schemas
from server.points.departments import grants, reports, service
from server.web.context import Json, View, caller_key, engine, error_responses

bp = APIBlueprint("departments", __name__, url_prefix="/v1", abp_security=BEARER)
operator_endpoints(bp)
# Grant files are large (100,000 rows are about 5 MB, a third more in base64).
batch_bp = APIBlueprint("grant_batches", __name__, url_prefix="/v1", abp_security=BEARER)
operator_endpoints(batch_bp, body_limit=lambda config: config.max_batch_bytes)
tag = Tag(name="departments", description="Departments (原課), their budgets, grant kinds, grants, reports")
ERRORS = error_responses(401, 403, 404, 409, 422)


@bp.post("/municipalities/<code>/departments", tags=[tag], responses={201: schemas.Department, **ERRORS})
def add_department(path: wire.MunicipalityPath, body: schemas.DepartmentCreate) -> View:
    """A department with its budget (its account may go below zero down to minus the budget)."""
    op = operator()
    return write_once(
        engine(),
        caller_key(body.client_id),
        f"departments.add:{op.name}",
        {**body.model_dump(), "municipality": path.code},
        lambda conn: service.add_department(
            conn, op, path.code, body.code, body.name, body.budget, body.point_code
        ),
    )


@bp.get("/municipalities/<code>/departments", tags=[tag], responses={200: schemas.DepartmentList, **ERRORS})
def list_departments(path: wire.MunicipalityPath) -> View:
    """A municipality's departments, with what each has granted and has left."""
    op = operator()
    with read(engine()) as conn:
        return {"departments": service.list_departments(conn, op, path.code)}


@bp.get("/departments/<department>", tags=[tag], responses={200: schemas.Department, **ERRORS})
def show_department(path: schemas.DepartmentPath) -> View:
    """One department."""
    op = operator()
    with read(engine()) as conn:
        return service.get_department(conn, path.department, op)


@bp.post("/departments/<department>/budget", tags=[tag], responses={200: schemas.Department, **ERRORS})
def set_budget(path: schemas.DepartmentPath, body: schemas.BudgetSet) -> View:
    """A new budget (never below what the department has granted already)."""
    op = operator()
    return write_once(
        engine(),
        caller_key(body.client_id),
        f"departments.budget:{op.name}:{path.department}",
        body.model_dump(),
        lambda conn: service.set_budget(conn, op, path.department, body.budget),
        status=200,
    )


@bp.post("/departments/<department>/grant-kinds", tags=[tag], responses={201: schemas.Department, **ERRORS})
def add_grant_kind(path: schemas.DepartmentPath, body: schemas.GrantKindCreate) -> View:
    """A kind of grant the department gives (volunteer, health, child care ...)."""
    op = operator()
    return write_once(
        engine(),
        caller_key(body.client_id),
        f"departments.grant-kind:{op.name}:{path.department}",
        body.model_dump(),
        lambda conn: service.add_grant_kind(conn, op, path.department, body.code, body.name, body.max_amount),
    )


@bp.post("/grants", tags=[tag], responses={201: schemas.Grant, **ERRORS})
def grant(body: schemas.GrantCreate) -> View:
    """Grant points from a department's budget to a MyKey holder (idempotent by client_id)."""
    op = operator()
    asked = grants.GrantAsked(body.mykey_id, body.amount, body.grant_kind, body.memo)
    return run_write(
        engine(), lambda conn: grants.grant(conn, op, body.department, caller_key(body.client_id), asked)
    ), 201


@batch_bp.post(
    "/grant-batches",
    tags=[tag],
    responses={200: schemas.GrantBatch, 201: schemas.GrantBatch, 413: wire.ErrorResponse, **ERRORS},
)
def grant_batch(body: schemas.GrantBatchCreate) -> View:
    """A CSV file of grants: checked whole (every bad row in the error's ``details``, nothing
    applied), then applied in one transaction unless ``dry_run``. The same file again changes
    nothing (``already_applied``)."""
    op = operator()
    try:
        data = base64.b64decode(body.file, validate=True)
    except (binascii.Error, ValueError):
        raise MkpError("invalid_file", "file must be the CSV file's bytes in base64") from None

    def work(conn: Connection) -> Json:
        return grants.batch(
            conn, op, body.department, caller_key(body.client_id), data, body.filename, body.dry_run
        )

    if body.dry_run:
        with read(engine()) as conn:
            return work(conn), 200
    summary = run_write(engine(), work)
    return summary, 200 if summary["already_applied"] else 201


@bp.get("/reports/grants", tags=[tag], responses={200: schemas.GrantReport, **ERRORS})
def grant_report(query: schemas.GrantReportQuery) -> View:
    """Grants per department and grant kind over a period of days (JST), both ends included."""
    op = operator()
    with read(engine()) as conn:
        return reports.grant_report(
            conn,
            op,
            query.municipality,
            dates.parse_date(query.from_date),
            dates.parse_date(query.to_date),
            query.department,
        )
