"""HTTP for joining: the central operator lists and approves applications; an operator invites staff.

A reply carries a one-time link, which must never be stored in clear, so no idempotency record
keeps it: an invitation's token is derived from the caller's client id with the server's secret
key (:func:`invitation_token`), and a retry finds the invitation it made by the token's hash and
shows the same link. A retried approval is answered ``application_decided``.
"""

from __future__ import annotations

from typing import Any

from flask import request
from flask_openapi3 import APIBlueprint, Tag

from server.db.engine import read, run_write
from server.platform.mykey.card_checks import challenge_key
from server.platform.operators.auth import BEARER, operator, operator_endpoints
from server.staff import schemas, service
from server.web.context import View, caller_key, engine, error_responses

bp = APIBlueprint("staff", __name__, url_prefix="/v1", abp_security=BEARER)
operator_endpoints(bp)
tag = Tag(name="staff", description="Municipalities joining online; staff invitations for the console")
ERRORS = error_responses(401, 403, 404, 409, 422)


def with_link(invitation: dict[str, Any]) -> dict[str, Any]:
    """An invitation as its reply shows it: the link on this server, never the stored hash."""
    return {**invitation, "link": request.host_url.rstrip("/") + invitation["path"]}


def invitation_token(client_id: str) -> str:
    """The token of the invitation this caller's ``client_id`` makes: the same on a retry, unguessable."""
    return service.derived_token(challenge_key(), caller_key(client_id))


@bp.get("/municipality-applications", tags=[tag], responses={200: schemas.ApplicationList, **ERRORS})
def list_applications(query: schemas.ApplicationQuery) -> View:
    """Applications to join, oldest first (the waiting ones unless ``status`` says otherwise)."""
    op = operator()
    with read(engine()) as conn:
        status = None if query.status == "all" else query.status
        return {"applications": service.list_applications(conn, op, status)}


@bp.post(
    "/municipality-applications/<int:application_id>/approve",
    tags=[tag],
    responses={201: schemas.Approved, **ERRORS},
)
def approve(path: schemas.ApplicationPath) -> View:
    """Approve a waiting application: the municipality is added, its first admin invited (the link
    in the reply, once). Central operator only."""
    op = operator()
    approved = run_write(engine(), lambda conn: service.approve(conn, op, path.application_id))
    return {**approved, "invitation": with_link(approved["invitation"])}, 201


@bp.post(
    "/municipality-applications/<int:application_id>/reject",
    tags=[tag],
    responses={200: schemas.Application, **ERRORS},
)
def reject(path: schemas.ApplicationPath) -> View:
    """Refuse a waiting application (the town may apply again). Central operator only."""
    op = operator()
    return run_write(engine(), lambda conn: service.reject(conn, op, path.application_id))


@bp.post("/staff-invitations", tags=[tag], responses={201: schemas.Invitation, **ERRORS})
def invite(body: schemas.InvitationCreate) -> View:
    """A one-time link (72 hours) that makes a member of staff with this role; shown once."""
    op = operator()
    made = run_write(
        engine(),
        lambda conn: service.invite(
            conn, op, body.municipality, body.role, body.department, token=invitation_token(body.client_id)
        ),
    )
    return with_link(made), 201
