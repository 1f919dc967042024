"""HTTP for the counter: what a shop's or museum's terminal calls with a card in its reader, the
offline entries it sends when the server is back, its heartbeat; and the operator's view of them.

* ``/v1/terminal/spend|balance|refund`` and ``/v1/terminal/supports|reward-claims|transit-exchanges``
  (a resident's event support, reward claim, transit exchange) answer a card challenge: like a lookup they keep no nonce
  (the challenge is the replay guard; a spend's client id is the ledger's).
* ``/v1/terminal/sync`` and ``/v1/terminal/heartbeat``: ordinary signed terminal requests; a
  sync's body may be large (a batch of entries), so it has its own limit.
* ``/v1/offline-exceptions``, ``/v1/terminal-status``: operators, scoped to their municipality.
"""

from __future__ import annotations

from datetime import UTC, datetime

from flask_openapi3 import APIBlueprint, Tag
from sqlalchemy import Connection

from mkp_core import wire
from server.conntest import service as conntests
from server.counter import resident, schemas, service
from server.db.engine import read, run_write
from server.platform.mykey.card_checks import card_check, card_proof
from server.platform.operators.auth import BEARER, operator, operator_endpoints
from server.platform.places.service import get_place
from server.platform.terminal_auth import (
    TERMINAL_SIGNATURE,
    terminal_endpoints,
    terminal_id,
    terminal_public_key,
)
from server.web.context import Json, View, config, engine, error_responses

card_bp = APIBlueprint("counter_card", __name__, url_prefix="/v1/terminal", abp_security=TERMINAL_SIGNATURE)
terminal_endpoints(card_bp, keep_nonce=False)
queue_bp = APIBlueprint("counter_queue", __name__, url_prefix="/v1/terminal", abp_security=TERMINAL_SIGNATURE)
terminal_endpoints(queue_bp, body_limit=lambda c: c.max_sync_bytes)
operator_bp = APIBlueprint("counter_admin", __name__, url_prefix="/v1", abp_security=BEARER)
operator_endpoints(operator_bp)

tag = Tag(name="terminal", description="What an enrolled terminal calls (RFC 9421 signed requests)")
admin_tag = Tag(name="counter admin", description="Offline exceptions and terminal status (operators)")
CARD_ERRORS = error_responses(401, 403, 404, 409, 422, 503)
ERRORS = error_responses(401, 403, 404, 409, 413, 422)


def _at() -> service.CardAtCounter:
    return service.CardAtCounter(card_check(), terminal_id(keep_nonce=False))


@card_bp.post("/spend", tags=[tag], responses={201: wire.SpendResult, **CARD_ERRORS})
def spend(body: schemas.CounterSpend) -> View:
    """The card's holder spends points here (idempotent by client_id: a repeat gets the first answer)."""
    at, proof = _at(), card_proof(body.proof)
    return run_write(
        engine(),
        lambda conn: service.spend(
            conn, at, proof, body.client_id, body.amount, body.item, body.quantity, body.point_code
        ),
    ), 201


@card_bp.post("/balance", tags=[tag], responses={200: schemas.CounterBalances, **CARD_ERRORS})
def balance(body: wire.MyKeyProve) -> View:
    """The card's holder's points by code, what can be spent now and what expires next."""
    at, proof = _at(), card_proof(body.proof)
    return run_write(engine(), lambda conn: service.balance(conn, at, proof))


@card_bp.post("/refund", tags=[tag], responses={201: wire.SpendResult, **CARD_ERRORS})
def refund(body: schemas.CounterRefund) -> View:
    """Give back today's spend made here, with the card that paid (the same lots come back)."""
    at, proof, days = _at(), card_proof(body.proof), config().refund_days
    return run_write(
        engine(), lambda conn: service.refund(conn, at, proof, body.client_id, body.transfer_id, days)
    ), 201


@card_bp.post("/supports", tags=[tag], responses={201: wire.Support, **CARD_ERRORS})
def support(body: schemas.CounterSupport) -> View:
    """The card's holder directs points of an event's code to its pool (idempotent by client_id)."""
    at, proof = _at(), card_proof(body.proof)
    return run_write(
        engine(),
        lambda conn: resident.support(
            conn, at, proof, body.client_id, body.point_code, body.amount, body.nickname
        ),
    ), 201


@card_bp.post("/reward-claims", tags=[tag], responses={201: wire.Claim, **CARD_ERRORS})
def claim(body: schemas.CounterClaim) -> View:
    """The card's holder claims one of a special reward at its price (a claim number back)."""
    at, proof = _at(), card_proof(body.proof)
    return run_write(
        engine(), lambda conn: resident.claim(conn, at, proof, body.client_id, body.reward, body.points)
    ), 201


@card_bp.post("/transit-exchanges", tags=[tag], responses={201: wire.TransitExchange, **CARD_ERRORS})
def exchange(body: schemas.CounterTransit) -> View:
    """The card's holder sends points to the transit card they linked at the company's service."""
    at, proof = _at(), card_proof(body.proof)
    return run_write(
        engine(),
        lambda conn: resident.exchange(
            conn, at, proof, body.client_id, body.place, body.amount, body.point_code
        ),
    ), 201


@queue_bp.post("/sync", tags=[tag], responses={200: schemas.SyncResult, **ERRORS})
def sync(body: schemas.SyncRequest) -> View:
    """Offline entries, answered once each: accepted into the ledger, or refused for good (and
    kept for the exceptions report). A batch sent again gets the same answers."""
    tid = terminal_id()
    at = service.CardAtCounter(card_check(), tid)

    def work(conn: Connection) -> Json:
        key = terminal_public_key(conn, tid)
        hours = config().offline_max_hours
        return {"results": service.sync(conn, at, key, body.entries, max_offline_hours=hours)}

    return run_write(engine(), work)


@queue_bp.post("/heartbeat", tags=[tag], responses={200: schemas.HeartbeatReply, **ERRORS})
def heartbeat(body: wire.Heartbeat) -> View:
    """The counter's status (reader, printer, queue, CRL, version), kept for the operator; the
    answer announces the connection test this terminal should run next, if any."""
    tid = terminal_id()
    now = datetime.now(UTC)

    def work(conn: Connection) -> Json:
        service.heartbeat(conn, tid, body.model_dump(), now)
        return {"server_time": now, "conntest": conntests.announcement_for(conn, tid, now)}

    return run_write(engine(), work)


@operator_bp.get(
    "/offline-exceptions", tags=[admin_tag], responses={200: schemas.OfflineExceptionList, **ERRORS}
)
def list_exceptions(query: schemas.ExceptionQuery) -> View:
    """Offline spends the ledger refused at sync (the balance was gone, the card revoked since ...)."""
    op = operator()
    with read(engine()) as conn:
        if query.place is not None:
            get_place(conn, query.place, op)  # another municipality's: unknown_place
        rows = service.exceptions(conn, op.municipality, query.place, query.since)
    return {"exceptions": rows}


@operator_bp.get("/terminal-status", tags=[admin_tag], responses={200: schemas.TerminalStatusList, **ERRORS})
def terminal_statuses() -> View:
    """Every terminal with its last heartbeat."""
    op = operator()
    with read(engine()) as conn:
        return {"terminals": service.statuses(conn, op.municipality)}
