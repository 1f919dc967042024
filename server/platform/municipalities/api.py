"""HTTP: /v1/municipalities."""

from __future__ import annotations

from flask_openapi3 import APIBlueprint, Tag

from mkp_core import wire
from server.db.engine import read
from server.db.idempotency import write_once
from server.platform import schemas
from server.platform.municipalities import service
from server.platform.operators.auth import BEARER, operator, operator_endpoints
from server.web.context import View, caller_key, engine, error_responses

bp = APIBlueprint("municipalities", __name__, url_prefix="/v1", abp_security=BEARER)
operator_endpoints(bp)
tag = Tag(name="municipalities", description="Municipalities on the platform")
ERRORS = error_responses(401, 403, 404, 409, 422)


@bp.post("/municipalities", tags=[tag], responses={201: schemas.Municipality, **ERRORS})
def add(body: schemas.MunicipalityCreate) -> View:
    """Add a municipality by its 6-digit code (central operators only)."""
    op = operator()
    op.require_central()
    return write_once(
        engine(),
        caller_key(body.client_id),
        "municipality.add",
        body.model_dump(),
        lambda conn: service.add_municipality(conn, body.code),
    )


@bp.get("/municipalities", tags=[tag], responses={200: schemas.MunicipalityList, **ERRORS})
def list_all() -> View:
    """Municipalities on the platform (a scoped operator sees its own)."""
    op = operator()
    with read(engine()) as conn:
        return {"municipalities": service.list_municipalities(conn, op.municipality)}


@bp.get(
    "/municipalities/<code>",
    tags=[tag],
    responses={200: schemas.Municipality, **ERRORS},
)
def get(path: wire.MunicipalityPath) -> View:
    """One municipality."""
    operator().require_scope(path.code)
    with read(engine()) as conn:
        return service.get_municipality(conn, path.code)


@bp.post(
    "/municipalities/<code>/point-codes",
    tags=[tag],
    responses={201: schemas.PointCodeInfo, **ERRORS},
)
def add_point_code(path: wire.MunicipalityPath, body: schemas.PointCodeCreate) -> View:
    """Add an event's point code (e.g. 142018-FEST2026) to a municipality."""
    operator().require_scope(path.code)
    return write_once(
        engine(),
        caller_key(body.client_id),
        "point_code.add",
        {**body.model_dump(), "municipality": path.code},
        lambda conn: service.add_point_code(conn, path.code, body.suffix, body.name),
    )


@bp.get(
    "/municipalities/<code>/point-codes",
    tags=[tag],
    responses={200: schemas.PointCodeList, **ERRORS},
)
def point_codes(path: wire.MunicipalityPath) -> View:
    """A municipality's point codes: its general one and its events'."""
    operator().require_scope(path.code)
    with read(engine()) as conn:
        return {"point_codes": service.list_point_codes(conn, path.code)}
