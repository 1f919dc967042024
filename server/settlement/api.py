"""HTTP for settlement: close a month, list the closed ones, read a month's statements."""

from __future__ import annotations

from flask_openapi3 import APIBlueprint, Tag

from server.db.engine import read
from server.db.idempotency import write_once
from server.platform.operators.auth import BEARER, operator, operator_endpoints
from server.settlement import schemas, service
from server.web.context import View, caller_key, engine, error_responses

bp = APIBlueprint("settlement", __name__, url_prefix="/v1/settlement", abp_security=BEARER)
operator_endpoints(bp)
tag = Tag(name="settlement", description="Settlement periods (JST months) and statements (会計データ連携)")
ERRORS = error_responses(401, 403, 404, 409, 422)


@bp.post("/close", tags=[tag], responses={201: schemas.SettlementCloseResult, **ERRORS})
def close(body: schemas.SettlementClose) -> View:
    """Close a month for a municipality (or, central operators without one, for all): its statement
    is stored and never changes; later transfers land in the next open month."""
    op = operator()
    return write_once(
        engine(),
        caller_key(body.client_id),
        f"settlement.close:{op.name}",
        body.model_dump(),
        lambda conn: service.close(conn, op, body.period, body.municipality),
    )


@bp.get("/closes", tags=[tag], responses={200: schemas.SettlementCloseList, **ERRORS})
def closes(query: schemas.SettlementQueryMunicipality) -> View:
    """The closed months of the municipalities this operator may see."""
    op = operator()
    with read(engine()) as conn:
        return service.list_closes(conn, op, query.municipality)


@bp.get("/statements", tags=[tag], responses={200: schemas.SettlementStatements, **ERRORS})
def statements(query: schemas.SettlementQuery) -> View:
    """A month's statement per municipality: per place, partner, department, breakage ... the
    points moved and the transfers that moved them (a closed month: as stored when it closed)."""
    op = operator()
    with read(engine()) as conn:
        return service.statements(conn, op, query.period, query.municipality)
