"""HTTP for the transit exchange: points to a linked transit card, the company's daily list."""

from __future__ import annotations

from flask_openapi3 import APIBlueprint, Tag
from sqlalchemy import Connection

from mkp_core import dates, wire
from server.db.engine import read, run_write
from server.platform import authority
from server.platform.operators.auth import BEARER, operator, operator_endpoints
from server.points import holders, resident_points, schemas
from server.points.transit import service
from server.web.context import Json, View, caller_key, engine, error_responses

bp = APIBlueprint("transit", __name__, url_prefix="/v1", abp_security=BEARER)
operator_endpoints(bp)
tag = Tag(name="transit", description="Points exchanged to transit cards in the back office")
ERRORS = error_responses(401, 403, 404, 409, 422)


@bp.post("/transit/exchanges", tags=[tag], responses={201: wire.TransitExchange, **ERRORS})
def exchange(body: schemas.TransitExchangeCreate) -> View:
    """A correction: the central operator sends a resident's points to their linked transit card
    on their behalf, with a ``reason``: a spend at the company's place (idempotent). A scoped
    operator is refused (``out_of_scope``)."""
    proof = authority.OperatorCorrection(operator(), body.reason)
    authority.require_correction(proof.operator, proof.reason)

    def work(conn: Connection) -> Json:
        holder = holders.find(conn, body.mykey_id)
        return resident_points.exchange(
            conn, holder, proof, caller_key(body.client_id), body.place, body.amount, body.point_code
        )

    return run_write(engine(), work), 201


@bp.get("/transit/<place_id>/daily", tags=[tag], responses={200: schemas.TransitDaily, **ERRORS})
def daily(path: schemas.PlacePath, query: schemas.TransitDailyQuery) -> View:
    """What the company loads onto which card for one day (JST)."""
    op = operator()
    with read(engine()) as conn:
        return service.daily(conn, op, path.place_id, dates.parse_date(query.date))
