"""HTTP for the shopping-street points migration: upload members' balances, see what is unclaimed."""

from __future__ import annotations

import base64
import binascii

from flask_openapi3 import APIBlueprint, Tag

from mkp_core import dates, wire
from mkp_core.errors import MkpError
from server.db.engine import read, run_write
from server.platform.operators.auth import BEARER, operator, operator_endpoints
from server.street_points import schemas, service
from server.web.context import View, caller_key, engine, error_responses

# Member files are as large as grant files.
bp = APIBlueprint("migrations", __name__, url_prefix="/v1/migrations", abp_security=BEARER)
operator_endpoints(bp, body_limit=lambda config: config.max_batch_bytes)
tag = Tag(name="migrations", description="Shopping-street points migrated into municipal points")
ERRORS = error_responses(401, 403, 404, 409, 422)


@bp.post(
    "",
    tags=[tag],
    responses={
        200: schemas.MigrationSummary,
        201: schemas.MigrationSummary,
        413: wire.ErrorResponse,
        **ERRORS,
    },
)
def import_balances(body: schemas.MigrationImport) -> View:
    """A street's member balances, checked whole (every bad line in the error's ``details``,
    nothing imported), then kept unless ``dry_run``. The same file again changes nothing."""
    op = operator()
    try:
        data = base64.b64decode(body.file, validate=True)
    except (binascii.Error, ValueError):
        raise MkpError("invalid_file", "file must be the CSV file's bytes in base64") from None
    asked = service.ImportAsked(
        body.service, data, body.point_code, dates.parse_date(body.claim_until), body.dry_run
    )
    if body.dry_run:
        with read(engine()) as conn:
            return service.import_file(conn, op, caller_key(body.client_id), asked), 200
    summary = run_write(
        engine(), lambda conn: service.import_file(conn, op, caller_key(body.client_id), asked)
    )
    return summary, 200 if summary.get("already_imported") else 201


@bp.get("/<service>", tags=[tag], responses={200: schemas.MigrationReport, **ERRORS})
def report(path: schemas.MigrationServicePath) -> View:
    """Members claimed, waiting and lapsed, with the unclaimed ones listed."""
    op = operator()
    with read(engine()) as conn:
        return service.report(conn, op, path.service)
