"""HTTP of the connection test: operators schedule and watch (/v1/conntests), terminals report
(/v1/terminal/conntests/<id>/report, RFC 9421 signed). The logic is in ``service``."""

from __future__ import annotations

from datetime import UTC, datetime

from flask_openapi3 import APIBlueprint, Tag

from server.conntest import schemas, service
from server.db.engine import read
from server.db.idempotency import write_once
from server.platform.operators.auth import BEARER, operator, operator_endpoints
from server.platform.terminal_auth import (
    TERMINAL_SIGNATURE,
    pending_terminal_request,
    signed_terminal_endpoints,
    terminal_key_confirmed,
)
from server.web.context import View, caller_key, engine, error_responses

bp = APIBlueprint("conntests", __name__, url_prefix="/v1", abp_security=BEARER)
operator_endpoints(bp)
terminal_bp = APIBlueprint(
    "terminal_conntests", __name__, url_prefix="/v1/terminal", abp_security=TERMINAL_SIGNATURE
)
signed_terminal_endpoints(terminal_bp)  # the nonce is kept with the report: one commit
clock_bp = APIBlueprint("terminal_clock", __name__, url_prefix="/v1/terminal")
tag = Tag(
    name="conntest", description="The nationwide simultaneous connection test (全国一斉同時アクセステスト)"
)
ERRORS = error_responses(401, 403, 404, 409, 422)


@bp.post("/conntests", tags=[tag], responses={201: schemas.Conntest, **ERRORS})
def schedule_test(body: schemas.ConntestCreate) -> View:
    """Schedule a test: every active terminal (of one municipality, or all) reports in the window."""
    op = operator()
    return write_once(
        engine(),
        caller_key(body.client_id),
        f"conntest.schedule:{op.name}",
        body.model_dump(),
        lambda conn: service.schedule(conn, op, body.starts_at, body.window_seconds, body.municipality),
    )


@bp.get("/conntests", tags=[tag], responses={200: schemas.ConntestList, **ERRORS})
def list_tests() -> View:
    """Tests, newest first."""
    op = operator()
    with read(engine()) as conn:
        return {"tests": service.list_tests(conn, op)}


@bp.get("/conntests/<test_id>", tags=[tag], responses={200: schemas.ConntestStatus, **ERRORS})
def test_status(path: schemas.ConntestPath) -> View:
    """Live progress: reported / expected, failures by reason, latency percentiles."""
    op = operator()
    with read(engine()) as conn:
        return service.status(conn, op, path.test_id)


@bp.get("/conntests/<test_id>/report", tags=[tag], responses={200: schemas.ConntestReport, **ERRORS})
def test_report(path: schemas.ConntestPath) -> View:
    """Per prefecture and municipality; terminals that never reported (place, address); failures."""
    op = operator()
    with read(engine()) as conn:
        return service.report(conn, op, path.test_id)


@terminal_bp.post(
    "/conntests/<test_id>/report",
    tags=[tag],
    responses={201: schemas.ConntestReceipt, 200: schemas.ConntestReceipt, **ERRORS},
)
def report_result(path: schemas.ConntestPath, body: schemas.ConntestReportCreate) -> View:
    """This terminal's checklist result, committed before the answer; a retry gets the first receipt."""
    pending = pending_terminal_request()  # the nonce is kept with the report
    receipt, made = service.keep_report(engine(), path.test_id, pending, body.model_dump())
    terminal_key_confirmed()  # by the statement that kept the report
    return receipt, 201 if made else 200


@clock_bp.get("/clock", tags=[tag], responses={200: schemas.ServerClock})
def clock() -> View:
    """The server's time, unsigned and without the database: in the connection test every terminal
    asks it once, to measure its clock's offset and its round trip, so it must cost next to nothing."""
    return {"server_time": datetime.now(UTC).isoformat(timespec="milliseconds")}
