"""HTTP: /v1/places, /v1/terminals (operators) and /v1/enroll (the technician's one-time code).

Places live on the platform (``server.platform.places``); their endpoints stay on this blueprint,
whose endpoint names the audit trail records (``terminals.add_place``).
"""

from __future__ import annotations

from flask_openapi3 import APIBlueprint, Tag

from server.db.engine import read, run_write
from server.db.idempotency import write_once
from server.platform.operators.auth import BEARER, operator, operator_endpoints
from server.platform.places import service as places
from server.terminals import schemas, service
from server.terminals.app_ca import terminal_ca
from server.web.context import View, caller_key, config, engine, error_responses, limit_body

bp = APIBlueprint("terminals", __name__, url_prefix="/v1", abp_security=BEARER)
operator_endpoints(bp)
enroll_bp = APIBlueprint("enroll", __name__, url_prefix="/v1")
tag = Tag(name="terminals", description="Places, terminals and their enrollment")
ERRORS = error_responses(401, 403, 404, 409, 422)


@enroll_bp.before_request
def limit_enroll_body() -> None:
    limit_body(config().max_request_bytes)


@bp.post("/places", tags=[tag], responses={201: schemas.Place, **ERRORS})
def add_place(body: schemas.PlaceCreate) -> View:
    """Add a shop, museum, library, office or facility (idempotent by client_id)."""
    op = operator()
    return write_once(
        engine(),
        caller_key(body.client_id),
        f"place.add:{op.name}",
        body.model_dump(),
        lambda conn: places.add_place(
            conn, op, body.place_id, body.name, body.kind, body.municipality, body.street, body.service
        ),
    )


@bp.get("/places", tags=[tag], responses={200: schemas.PlaceList, **ERRORS})
def list_places() -> View:
    """Places (a scoped operator sees its municipality's)."""
    op = operator()
    with read(engine()) as conn:
        return {"places": places.list_places(conn, op)}


@bp.post("/terminals/enrollments", tags=[tag], responses={201: schemas.Enrollment, **ERRORS})
def create_enrollment(body: schemas.EnrollmentCreate) -> View:
    """A pending terminal at a place and its one-time enrollment code (shown only in this reply).

    The server keeps only the code's hash: a retry with the same client id gets the same
    terminal with ``code: null`` and ``code_shown_before: true``.
    """
    op = operator()
    return write_once(
        engine(),
        caller_key(body.client_id),
        f"enrollment:{op.name}",
        body.model_dump(),
        lambda conn: service.create_enrollment(conn, op, body.place, body.name, body.ttl_hours),
        keep=service.enrollment_without_code,
    )


@bp.get("/terminals", tags=[tag], responses={200: schemas.TerminalList, **ERRORS})
def list_terminals() -> View:
    """Terminals (a scoped operator sees its municipality's)."""
    op = operator()
    with read(engine()) as conn:
        return {"terminals": service.list_terminals(conn, op)}


@bp.get("/terminals/<terminal_id>", tags=[tag], responses={200: schemas.Terminal, **ERRORS})
def show_terminal(path: schemas.TerminalPath) -> View:
    """One terminal."""
    op = operator()
    with read(engine()) as conn:
        return service.get_terminal(conn, path.terminal_id, op)


@bp.post("/terminals/<terminal_id>/revoke", tags=[tag], responses={200: schemas.Terminal, **ERRORS})
def revoke_terminal(path: schemas.TerminalPath, body: schemas.TerminalRevoke) -> View:
    """Cut a terminal off: its next request is refused. Revoking twice is harmless."""
    op = operator()
    return run_write(engine(), lambda conn: service.revoke_terminal(conn, op, path.terminal_id, body.reason))


@enroll_bp.post(
    "/enroll",
    tags=[tag],
    responses={201: schemas.Enrolled, **error_responses(404, 409, 422)},
)
def enroll(body: schemas.EnrollRequest) -> View:
    """Enroll a terminal: the one-time code and a CSR for the key made on the terminal."""
    ca = terminal_ca()
    return run_write(engine(), lambda conn: service.enroll(conn, ca, body.code, body.csr)), 201
