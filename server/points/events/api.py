"""HTTP for event pools: open one, support it, the hand-over report, the hand-over."""

from __future__ import annotations

from flask_openapi3 import APIBlueprint, Tag
from sqlalchemy import Connection

from mkp_core import wire
from server.db.engine import read, run_write
from server.db.idempotency import write_once
from server.platform import authority
from server.platform.operators.auth import BEARER, operator, operator_endpoints
from server.points import holders, resident_points, schemas
from server.points.events import service
from server.web.context import Json, View, caller_key, engine, error_responses

bp = APIBlueprint("events", __name__, url_prefix="/v1", abp_security=BEARER)
operator_endpoints(bp)
tag = Tag(name="events", description="Event pools: support, hand-over report, hand-over")
ERRORS = error_responses(401, 403, 404, 409, 422)


@bp.post("/events", tags=[tag], responses={201: schemas.Event, **ERRORS})
def add_event(body: schemas.EventCreate) -> View:
    """Open an event point code's pool for its organiser (a place)."""
    op = operator()
    return write_once(
        engine(),
        caller_key(body.client_id),
        f"events.add:{op.name}",
        body.model_dump(),
        lambda conn: service.add_event(conn, op, body.point_code, body.organiser),
    )


@bp.get("/events", tags=[tag], responses={200: schemas.EventList, **ERRORS})
def list_events() -> View:
    """Event pools (a scoped operator sees its municipality's)."""
    op = operator()
    with read(engine()) as conn:
        return {"events": service.list_events(conn, op)}


@bp.post("/events/<point_code>/supports", tags=[tag], responses={201: wire.Support, **ERRORS})
def support(path: schemas.PointCodePath, body: schemas.SupportCreate) -> View:
    """A correction: the central operator directs a resident's points of the event's code to its
    pool on their behalf, with a ``reason`` (idempotent by client_id). A scoped operator is
    refused (``out_of_scope``)."""
    proof = authority.OperatorCorrection(operator(), body.reason)
    authority.require_correction(proof.operator, proof.reason)

    def work(conn: Connection) -> Json:
        holder = holders.find(conn, body.mykey_id)
        service.get_event(conn, path.point_code, proof.operator)
        return resident_points.support(
            conn, holder, proof, caller_key(body.client_id), path.point_code, body.amount, body.nickname
        )

    return run_write(engine(), work), 201


@bp.get("/events/<point_code>/report", tags=[tag], responses={200: schemas.EventReport, **ERRORS})
def report(path: schemas.PointCodePath) -> View:
    """Who supported how much (MyKey ID, nickname if given), and the total."""
    op = operator()
    with read(engine()) as conn:
        return service.report(conn, path.point_code, op)


@bp.post("/events/<point_code>/handover", tags=[tag], responses={201: schemas.EventReport, **ERRORS})
def handover(path: schemas.PointCodePath, body: wire.ClientOnly) -> View:
    """Hand the whole pool to the organiser's payee account in one transfer; closes the event."""
    op = operator()
    return run_write(
        engine(), lambda conn: service.handover(conn, op, path.point_code, caller_key(body.client_id))
    ), 201
