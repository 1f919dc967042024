"""HTTP: /v1/grants, /v1/spends, /v1/transfers/<id>/reverse, /v1/holders/<holder>/balances, /v1/ledger/verify."""

from __future__ import annotations

from flask_openapi3 import APIBlueprint, Tag

from mkp_core import wire
from server import ledger
from server.api import BEARER, engine, error_responses, operator, operator_endpoints
from server.db.engine import read, run_write
from server.points import service

bp = APIBlueprint("points", __name__, url_prefix="/v1", abp_security=BEARER)
operator_endpoints(bp)
tag = Tag(name="points", description="Grants, spends, balances")
ERRORS = error_responses(401, 403, 404, 409, 422)


@bp.post("/grants", tags=[tag], responses={201: wire.Transfer, **ERRORS})
def grant(body: wire.GrantCreate):
    """Grant points from a municipality's budget to a holder (idempotent by client_id)."""
    op = operator()
    return run_write(engine(), lambda conn: service.grant(conn, op, body)).to_dict(), 201


@bp.post("/spends", tags=[tag], responses={201: wire.Transfer, **ERRORS})
def spend(body: wire.SpendCreate):
    """Spend a holder's points at a payee (idempotent by client_id; never overdraws)."""
    op = operator()
    return run_write(engine(), lambda conn: service.spend(conn, op, body)).to_dict(), 201


@bp.post("/transfers/<int:transfer_id>/reverse", tags=[tag], responses={201: wire.Transfer, **ERRORS})
def reverse(path: wire.TransferPath, body: wire.ReverseCreate):
    """Undo a transfer with an opposite one."""
    op = operator()
    return run_write(engine(), lambda conn: service.reverse(conn, op, path.transfer_id, body)).to_dict(), 201


@bp.get("/holders/<holder>/balances", tags=[tag], responses={200: wire.Balances, **ERRORS})
def balances(path: wire.HolderPath):
    """A holder's balance per point code."""
    op = operator()
    with read(engine()) as conn:
        return {"holder": path.holder, "balances": service.holder_balances(conn, op, path.holder)}


@bp.get("/ledger/verify", tags=[tag], responses={200: wire.VerifyReport, **ERRORS})
def verify():
    """Check every ledger invariant in one snapshot (central operators only)."""
    operator().require_central()
    with read(engine()) as conn:
        return ledger.verify(conn).to_dict()
