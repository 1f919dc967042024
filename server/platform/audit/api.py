"""HTTP for the audit trail: operators read it; nobody writes it but the requests themselves."""

from __future__ import annotations

from flask_openapi3 import APIBlueprint, Tag

from mkp_core import dates
from server.db.engine import read
from server.platform.audit import service
from server.platform.audit.schemas import AuditList, AuditQuery
from server.platform.operators.auth import BEARER, operator, operator_endpoints
from server.web.context import View, engine, error_responses

bp = APIBlueprint("audit", __name__, url_prefix="/v1", abp_security=BEARER)
operator_endpoints(bp)
tag = Tag(name="audit", description="Who changed what, when, and why (operators, partners, staff)")


@bp.get("/audit", tags=[tag], responses={200: AuditList, **error_responses(401, 403, 422)})
def audit_list(query: AuditQuery) -> View:
    """The trail, newest first. A municipality's operator sees its own town's entries (its own
    changes and the central operator's on its town); the central operator sees all, or one town's."""
    op = operator()
    municipality = query.municipality or op.municipality
    if municipality is not None:
        op.require_scope(municipality)
    since = dates.parse_instant(query.since) if query.since else None
    with read(engine()) as conn:
        return service.entries(conn, municipality, since, query.before_id, query.limit)
