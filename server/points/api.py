"""HTTP for points: spends and refunds, balances, point-code rules, たすきがけ agreements, price
lists, the expiry sweep, reversals and the ledger check. Thin: the rules live in the modules."""

from __future__ import annotations

from datetime import UTC, datetime

from flask_openapi3 import APIBlueprint, Tag
from sqlalchemy import Connection

from mkp_core import dates, wire
from mkp_core.ids import point_code_municipality
from server import ledger
from server.db.engine import read, run_write
from server.db.idempotency import write_once
from server.platform import authority
from server.platform.operators.auth import BEARER, operator, operator_endpoints
from server.platform.places.service import get_place
from server.points import (
    agreements,
    balances,
    expiry,
    price_lists,
    resident_points,
    rules,
    schemas,
    service,
    spending,
)
from server.points.expiry_policy import ExpiryPolicy
from server.web.context import Json, View, caller_key, config, engine, error_responses

bp = APIBlueprint("points", __name__, url_prefix="/v1", abp_security=BEARER)
operator_endpoints(bp)
tag = Tag(name="points", description="Spends, refunds, balances, reversals, the expiry sweep")
rules_tag = Tag(name="point rules", description="Where points may be spent, expiry, limits, agreements")
ERRORS = error_responses(401, 403, 404, 409, 422)


@bp.post("/spends", tags=[tag], responses={201: wire.SpendResult, **ERRORS})
def spend(body: schemas.SpendCreate) -> View:
    """A correction: the central operator spends a resident's points at a place on their behalf
    (their card could not be used), with a ``reason``: wallet → the place's payee account, as the
    point code's rules allow, taking the earliest-expiring valid lots (idempotent by client_id).
    A scoped operator is refused (``out_of_scope``); residents spend with their card."""
    proof = authority.OperatorCorrection(operator(), body.reason)
    authority.require_correction(proof.operator, proof.reason)

    request = spending.Spend(
        caller_key(body.client_id),
        body.place,
        body.amount,
        body.point_code,
        body.item,
        body.quantity,
        body.memo,
    )

    def work(conn: Connection) -> Json:
        # The holder, the client id held with its answer, the rules' version: one round trip.
        first = spending.first_reads(conn, body.mykey_id, request.client_id)
        return resident_points.spend(conn, first.holder, proof, request, first=first)

    return run_write(engine(), work), 201


@bp.post("/spends/<int:transfer_id>/refund", tags=[tag], responses={201: wire.SpendResult, **ERRORS})
def refund(path: schemas.TransferPath, body: schemas.RefundCreate) -> View:
    """Refund a spend within the refund period: the points go back to the lots they came from.
    A scoped operator refunds its own municipality's points only (another's: as if missing)."""
    proof, days = authority.OperatorAct(operator()), config().refund_days
    return run_write(
        engine(),
        lambda conn: spending.refund(
            conn,
            path.transfer_id,
            caller_key(body.client_id),
            proof,
            days,
            proof.operator.municipality,
            body.memo,
        ),
    ), 201


@bp.get("/mykeys/<mykey_id>/balances", tags=[tag], responses={200: schemas.Balances, **ERRORS})
def holder_balances(path: wire.MyKeyPath) -> View:
    """A holder's points per code: balance, spendable now, expired (not swept yet), what expires next.
    A scoped operator sees only the residents of its town, and only its own codes' points."""
    op = operator()
    now = datetime.now(UTC)
    with read(engine()) as conn:
        holder = authority.find_holder(conn, op, path.mykey_id)
        authority.authorize(authority.Action.READ_BALANCES, authority.OperatorAct(op), holder)
        held = [
            h.to_dict()
            for h in balances.holdings(conn, holder.wallet, now)
            if op.municipality is None or h.point_code.startswith(op.municipality)
        ]
        return {"mykey_id": holder.mykey_id, "balances": held}


@bp.post("/transfers/<int:transfer_id>/reverse", tags=[tag], responses={201: wire.Transfer, **ERRORS})
def reverse(path: schemas.TransferPath, body: schemas.ReverseCreate) -> View:
    """Undo a transfer with an opposite one (a wallet's lots are given back, or taken back)."""
    op = operator()
    return run_write(engine(), lambda conn: service.reverse(conn, op, path.transfer_id, body)).to_dict(), 201


@bp.get("/ledger/verify", tags=[tag], responses={200: schemas.VerifyReport, **ERRORS})
def verify() -> View:
    """Check every ledger invariant in one snapshot, lots included (central operators only)."""
    operator().require_central()
    with read(engine()) as conn:
        return ledger.verify(conn).to_dict()


@bp.post("/points/expire", tags=[tag], responses={201: schemas.ExpiryReport, **ERRORS})
def expire(body: schemas.ExpireCreate) -> View:
    """Move what expired by ``as_of`` to the municipalities' breakage accounts; the report.

    A scoped operator sweeps its own municipality's codes only. Sweeping again moves nothing."""
    op = operator()
    municipality = body.municipality or op.municipality
    if municipality is not None:
        op.require_scope(municipality)
    as_of = dates.parse_instant(body.as_of)
    return write_once(
        engine(),
        caller_key(body.client_id),
        f"points.expire:{op.name}",
        {**body.model_dump(), "municipality": municipality},
        lambda conn: expiry.sweep(conn, caller_key(body.client_id), as_of, op.actor, municipality),
    )


# --- rules and agreements ------------------------------------------------------------------------


@bp.post("/point-codes/<point_code>/rules", tags=[rules_tag], responses={201: schemas.Rule, **ERRORS})
def add_rule(path: schemas.PointCodePath, body: schemas.RuleCreate) -> View:
    """A new version of the point code's rules, from ``effective_from`` (never a past moment)."""
    op = operator()
    change = rules.RuleChange(
        effective_from=dates.parse_instant(body.effective_from) if body.effective_from else None,
        place_kinds=body.place_kinds,
        places=body.places,
        expiry=ExpiryPolicy(
            body.expiry.policy,
            body.expiry.count,
            dates.parse_date(body.expiry.last_day) if body.expiry.last_day else None,
        ),
        min_amount=body.min_amount,
        max_amount=body.max_amount,
        vouchers=body.vouchers,
    )
    return write_once(
        engine(),
        caller_key(body.client_id),
        f"points.rule:{op.name}:{path.point_code}",
        body.model_dump(),
        lambda conn: rules.add_rule(conn, op, path.point_code, change).to_dict(),
    )


@bp.get("/point-codes/<point_code>/rules", tags=[rules_tag], responses={200: schemas.RuleList, **ERRORS})
def list_rules(path: schemas.PointCodePath) -> View:
    """The rules in force now and every version (future ones included)."""
    op = operator()
    with read(engine()) as conn:
        op.require_scope(point_code_municipality(path.point_code))  # before the code is looked up
        versions = rules.history(conn, path.point_code)
        now_rule = rules.rule_at(conn, path.point_code, datetime.now(UTC))
        return {
            "point_code": path.point_code,
            "in_force": now_rule.to_dict(),
            "versions": [r.to_dict() for r in versions],
        }


@bp.post("/agreements", tags=[rules_tag], responses={200: schemas.Agreement, **ERRORS})
def record_agreement(body: schemas.AgreementRecord) -> View:
    """Record one side of a たすきがけ agreement; it is in force once both sides have recorded it."""
    op = operator()
    return write_once(
        engine(),
        caller_key(body.client_id),
        f"points.agreement:{op.name}",
        body.model_dump(),
        lambda conn: agreements.record(conn, op, body.points_of, body.usable_in, body.by),
        status=200,
    )


@bp.post("/agreements/end", tags=[rules_tag], responses={200: schemas.Agreement, **ERRORS})
def end_agreement(body: schemas.AgreementRecord) -> View:
    """Either side ends an agreement: from now on, the points are refused there again."""
    op = operator()
    return write_once(
        engine(),
        caller_key(body.client_id),
        f"points.agreement-end:{op.name}",
        body.model_dump(),
        lambda conn: agreements.end(conn, op, body.points_of, body.usable_in, body.by),
        status=200,
    )


@bp.get("/agreements", tags=[rules_tag], responses={200: schemas.AgreementList, **ERRORS})
def list_agreements() -> View:
    """Agreements (a scoped operator's municipality's, on either side)."""
    op = operator()
    with read(engine()) as conn:
        return {"agreements": agreements.list_agreements(conn, op)}


# --- price lists -------------------------------------------------------------------------------


@bp.post("/places/<place_id>/items", tags=[rules_tag], responses={200: schemas.PriceList, **ERRORS})
def set_item(path: schemas.PlacePath, body: schemas.PriceItemSet) -> View:
    """Add an item to a place's price list, or change it (spends made before keep their amount)."""
    op = operator()
    return write_once(
        engine(),
        caller_key(body.client_id),
        f"points.item:{op.name}:{path.place_id}",
        body.model_dump(),
        lambda conn: price_lists.set_item(conn, op, path.place_id, body.code, body.name, body.price),
        status=200,
    )


@bp.post(
    "/places/<place_id>/items/<code>/remove", tags=[rules_tag], responses={200: schemas.PriceList, **ERRORS}
)
def remove_item(path: schemas.PlaceItemPath, body: wire.ClientOnly) -> View:
    """Take an item off a place's price list."""
    op = operator()
    return write_once(
        engine(),
        caller_key(body.client_id),
        f"points.item-remove:{op.name}:{path.place_id}:{path.code}",
        body.model_dump(),
        lambda conn: price_lists.remove_item(conn, op, path.place_id, path.code),
        status=200,
    )


@bp.get("/places/<place_id>/items", tags=[rules_tag], responses={200: schemas.PriceList, **ERRORS})
def list_items(path: schemas.PlacePath) -> View:
    """A place's price list."""
    op = operator()
    with read(engine()) as conn:
        get_place(conn, path.place_id, op)  # another municipality's: unknown_place
        return price_lists.items(conn, path.place_id)
