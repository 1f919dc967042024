"""Every state change an operator or partner makes over HTTP is audited, with no endpoint having
to remember to: the trail's entry is written by the last step of the request's write transaction.

How: for a mutating request (POST, PUT, PATCH, DELETE), the web layer asks the database layer to
run :func:`_record_entry` before every write transaction of this request commits
(``server.db.engine.set_before_commit``). At that moment the caller has been authenticated, so the
entry names them; a request refused on the way rolls back and leaves no entry; a retried
transaction (a lost race, a commit that failed) writes its entry again, with the transaction that
commits: the request counts as recorded only once that commit is through (``on_commit``). One
entry per request: a request whose work spans several transactions is recorded with the first
that commits a change. A retry answered with its first reply (idempotency by client id) changes nothing and
leaves no entry.

Terminals and residents are not in the trail: a card tap's proof is the card's own signature,
kept with its transfer, and a MyKey lookup leaves no trace anywhere (the platform keeps no record
of use). Read-only requests are not state changes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask, g, request
from sqlalchemy import Connection

from mkp_core.ids import InvalidId, validate_municipality_code
from server.db.engine import on_commit, set_before_commit, wrote
from server.platform.audit.service import Entry, record
from server.web.logs import request_id

MUTATING = frozenset({"POST", "PUT", "PATCH", "DELETE"})

# Where a central operator's request names the municipality it concerns: path parts and body
# fields whose value is a municipality code or starts with one (point codes, departments).
MUNICIPALITY_FIELDS = (
    "municipality",
    "municipality_code",
    "point_code",
    "department",
    "code",
    "destination",
    "home",
    "other",
)


def init_app(app: Flask) -> None:
    """Record an entry in every committed write transaction of an operator's or partner's request."""

    @app.before_request
    def audit_state_changes() -> None:
        if request.method in MUTATING:
            set_before_commit((_record_entry,))

    @app.teardown_request
    def stop_auditing(_error: BaseException | None) -> None:
        set_before_commit(())


def _record_entry(conn: Connection) -> None:
    if g.get("audit_recorded") or not wrote(conn):
        return
    actor = _actor()
    if actor is None:
        return
    name, municipality = actor
    body = _json_body()
    reason = body.get("reason")
    record(
        conn,
        Entry(
            actor=name,
            municipality=municipality or _municipality_named(request.view_args or {}, body),
            action=request.endpoint or "unknown",
            target=f"{request.method} {request.path}",
            request_id=request_id(),
            reason=reason if isinstance(reason, str) and reason.strip() else None,
        ),
    )
    flags = g._get_current_object()  # the commit may come on another thread (a write group's)
    on_commit(conn, lambda: setattr(flags, "audit_recorded", True))


def _actor() -> tuple[str, str | None] | None:
    """Who is acting, and the municipality their credential is bound to; None for terminals,
    residents and anonymous callers (not audited)."""
    operator = g.get("operator")
    if operator is not None:
        return operator.actor, operator.municipality
    partner = g.get("partner_signature")
    if partner is not None:
        return partner.key_id, None
    return None


def _json_body() -> Mapping[str, Any]:
    body = request.get_json(silent=True, cache=True) if request.is_json else None
    return body if isinstance(body, dict) else {}


def _municipality_named(*sources: Mapping[str, Any]) -> str | None:
    """The first municipality a request names, so a central operator's change shows in that
    town's trail too."""
    for source in sources:
        for field in MUNICIPALITY_FIELDS:
            value = source.get(field)
            if isinstance(value, str) and len(value) >= 6:
                try:
                    return validate_municipality_code(value[:6])
                except InvalidId:
                    continue
    return None
