"""HTTP for partner points: the partner API, the holder's card-proven calls, operators.

* ``/partner/v1/...`` — a partner's server, every request signed with its key (RFC 9421, tag
  ``mkp-partner``): confirm a member link (with the link code the member gave the partner),
  convert points for an order, ask for coupon codes.
* ``/v1/holder/...`` — a holder with their card (the proof is the credential): ask to link a
  member number (the answer's one-time link code is shown once), see conversions on hold, set
  the home municipality, redeem a coupon code.
* ``/v1/terminal/coupons/redeem`` — the same redemption at a kiosk (a signed terminal request).
* ``/v1/partners``, ``/v1/coupon...``, ``/v1/points/release-held`` — operators.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from flask import request
from flask_openapi3 import APIBlueprint, Tag
from sqlalchemy import Connection

from mkp_core import cardproof, dates, wire
from mkp_core.errors import MkpError
from server.db.client_ids import card_key
from server.db.engine import Share, WriteGroup, read, run_write
from server.db.idempotency import once, write_once
from server.partners import batch, coupons, holding, links, premiums, registry, schemas, service, throttle
from server.partners.auth import (
    PARTNER_SIGNATURE,
    accept_partner_request,
    accepted_partner,
    partner_endpoints,
    signed_partner_id,
)
from server.partners.registry import Partner
from server.platform import authority
from server.platform.mykey import cards
from server.platform.mykey import registry as mykeys
from server.platform.mykey.card_checks import card_check, card_proof
from server.platform.operators.auth import BEARER, operator, operator_endpoints
from server.platform.terminal_auth import TERMINAL_SIGNATURE, NoncesOfAPass, terminal_endpoints, terminal_id
from server.web.context import Json, View, caller_key, config, engine, error_responses, limit_body

partner_bp = APIBlueprint("partner_api", __name__, url_prefix="/partner/v1", abp_security=PARTNER_SIGNATURE)
partner_endpoints(partner_bp)
holder_bp = APIBlueprint("partner_holder", __name__, url_prefix="/v1/holder")
terminal_bp = APIBlueprint(
    "partner_terminal", __name__, url_prefix="/v1/terminal", abp_security=TERMINAL_SIGNATURE
)
terminal_endpoints(terminal_bp, keep_nonce=False)
operator_bp = APIBlueprint("partners", __name__, url_prefix="/v1", abp_security=BEARER)
operator_endpoints(operator_bp)

partner_tag = Tag(
    name="partner API", description="What a partner company's server calls (RFC 9421, tag mkp-partner)"
)
holder_tag = Tag(
    name="partner points", description="Member links, conversions on hold, coupon codes (card proof)"
)
admin_tag = Tag(
    name="partners", description="Partners, coupon batches, premium campaigns, the hold's release"
)
ERRORS = error_responses(401, 403, 404, 409, 422)
CARD_ERRORS = error_responses(401, 403, 404, 409, 422, 429, 503)


@holder_bp.before_request
def limit_holder_body() -> None:
    limit_body(config().max_request_bytes)


# --- the partner API ------------------------------------------------------------------------------


@partner_bp.post("/links/confirm", tags=[partner_tag], responses={200: schemas.PartnerLink, **ERRORS})
def confirm_link(body: schemas.PartnerLinkConfirm) -> View:
    """Confirm ``member``'s link with the ``link_code`` the member gave the partner in its own site or
    app (where it knows its member from its own login): the request that code belongs to becomes
    the link. Wrong codes: ``wrong_link_code`` (counted per member number; too many in an hour,
    ``too_many_attempts``), ``link_code_typo``, ``invalid_link_code``; ``link_code_expired``."""
    now = datetime.now(UTC)

    def work(conn: Connection) -> dict[str, Any] | throttle.WrongCode:
        partner = accepted_partner(conn)
        return throttle.refusal_kept(lambda: links.confirm(conn, partner, body.member, body.link_code, now))

    answer = run_write(engine(), work)
    if isinstance(answer, throttle.WrongCode):
        raise answer
    return answer


@partner_bp.post(
    "/conversions", tags=[partner_tag], responses={200: wire.Conversion, 201: wire.Conversion, **ERRORS}
)
def convert(body: schemas.ConversionCreate) -> View:
    """Convert ``amount`` of the partner's points for a linked member: they wait in holding, then go to
    ``destination`` (else the holder's home municipality). ``order_id`` is the idempotency key, scoped
    to this partner: the same order again gets the first answer; with another body, ``idempotency_conflict``."""
    order = batch.OrderIn(body.order_id, body.member, body.amount, body.destination)
    request.get_data(cache=True)  # read here: the group's leader may accept it on another thread
    share = _CONVERSIONS.run(engine(), order)  # its refusal, if refused there, is raised
    if not share.alone:
        answer: tuple[dict[str, Any], int] = share.answer
        return answer
    return run_write(engine(), lambda conn: _convert_alone(conn, order))


def _convert_alone(conn: Connection, order: batch.OrderIn) -> tuple[dict[str, Any], int]:
    """One signed order in the caller's write transaction: its signature accepted, then the order
    converted once per order id (``once``): (conversion, 201), or its first answer again."""
    partner = accepted_partner(conn)
    pid = signed_partner_id()
    return once(
        conn,
        batch.order_key(pid, order.order_id),
        batch.order_scope(pid),
        order.body(),
        lambda: service.convert_online(
            conn, partner, order.order_id, order.member, order.amount, order.destination
        ),
    )


def _convert_together(conn: Connection, shares: Sequence[Share[batch.OrderIn]]) -> None:
    """Single conversions sent at the same time, in one write transaction (``_CONVERSIONS``).

    One alone in its pass is converted as :func:`_convert_alone` converts it (cheaper for one
    order than a batch's steps), its refusal given back to raise. Several, in steps: each
    request's signature accepted in its own context (key confirmed, read once a pass; body
    against its digest; nonce noted); their nonces kept with one statement; each partner's
    orders judged and booked together as a batch's are; each order answered as ``convert``
    answers it alone: 201 with its conversion, or its first answer again. Anything refused among
    several (a key, a replayed nonce, an order) is left to run alone, where ``convert`` gives it
    its own refusal."""
    if len(shares) == 1:
        (share,) = shares
        try:
            share.give(share.within(conn, lambda: _convert_alone(conn, share.asked)))
        except MkpError as e:
            share.refuse(e)
        return
    confirmed: dict[tuple[str, str], Partner] = {}
    nonces = NoncesOfAPass(conn)
    accepted: list[tuple[Share[batch.OrderIn], Partner, int]] = []  # with its nonce's place in ``nonces``
    for share in shares:
        noted = len(nonces.noted)
        try:
            partner = share.within(conn, lambda: accepted_partner(conn, confirmed, nonces))
        except MkpError:
            share.alone = True
            continue
        accepted.append((share, partner, noted))
    new = nonces.keep()
    by_partner: dict[str, tuple[Partner, list[Share[batch.OrderIn]]]] = {}
    for share, partner, noted in accepted:
        if not new[noted]:
            share.alone = True  # a replayed nonce: refused alone, as alone it is
            continue
        by_partner.setdefault(partner.id, (partner, []))[1].append(share)
    now = datetime.now(UTC)
    for partner, mine in by_partner.values():
        outcomes = batch.judge_and_book(conn, partner, [s.asked for s in mine], now)
        for share, outcome in zip(mine, outcomes, strict=True):
            if isinstance(outcome, batch.Answered):
                share.give((outcome.reply, outcome.status), wrote=outcome.fresh)
            else:
                share.alone = True


#: Conversions a worker's threads are asked for at once, booked in one transaction.
_CONVERSIONS: WriteGroup[batch.OrderIn] = WriteGroup(_convert_together)


@partner_bp.post(
    "/conversions/batch", tags=[partner_tag], responses={200: schemas.ConversionBatchResult, **ERRORS}
)
def convert_batch(body: schemas.ConversionBatchCreate) -> View:
    """Up to 500 orders in one request, each judged as ``/conversions`` judges one and answered on its
    own, in order: ``accepted`` with its conversion, or ``refused`` with a code and message (the others
    still go). Each ``order_id`` is its idempotency key as there: an order answered already (singly or
    in a batch) gets its first answer; the same id with another body is refused ``idempotency_conflict``;
    an id twice in the batch, ``duplicate_order_id``. A malformed order is refused alone, with the code
    the single endpoint would answer it with; a body that is no batch (no ``orders``, more than 500)
    is refused whole (422)."""
    orders = batch.read_orders(body.orders)

    def work(conn: Connection) -> dict[str, Any]:
        return service.convert_batch(conn, accepted_partner(conn), orders)

    return run_write(engine(), work)


@partner_bp.post("/coupons", tags=[partner_tag], responses={201: schemas.CouponBatch, **ERRORS})
def partner_coupons(body: schemas.CouponBatchCreate) -> View:
    """A batch of single-use coupon codes worth ``points`` each (the codes are in this answer only)."""
    pid = signed_partner_id()
    return _issue(pid, body, f"partner:{pid}", accept_partner_request)


def _issue(
    pid: str,
    body: schemas.CouponBatchCreate,
    actor: str,
    accept: Callable[[Connection], object] | None = None,
) -> tuple[Json, int]:
    expires = dates.parse_instant(body.expires_at) if body.expires_at else None

    def work(conn: Connection) -> tuple[dict[str, Any], int]:
        if accept is not None:
            accept(conn)
        return once(
            conn,
            caller_key(body.client_id),
            f"coupons.issue:{pid}",
            body.model_dump(),
            lambda: service.issue_coupons(conn, pid, body.count, body.points, actor, expires),
            keep=coupons.without_codes,
        )

    return run_write(engine(), work)


# --- holders, with their card ---------------------------------------------------------------------


@holder_bp.post("/partner-links", tags=[holder_tag], responses={201: schemas.PartnerLink, **CARD_ERRORS})
def request_link(body: schemas.PartnerLinkCreate) -> View:
    """Ask to link the holder's member number at a partner to their MyKey ID: pending until the
    partner confirms it with the ``link_code`` in this answer (shown once: the member gives it to
    the partner in the partner's own site or app). Asking again gives a new code."""
    check, proof = card_check(), card_proof(body.proof)
    action = cardproof.partner_link_action(body.partner, body.member)

    def work(conn: Connection) -> dict[str, Any]:
        card = cards.prove(conn, check, proof, cardproof.PARTNER_LINK, action)
        holder = mykeys.active_holder_of(conn, card)
        authority.authorize(authority.Action.PARTNER_LINK, authority.HolderCard(holder.number), holder)
        return links.request_link(conn, holder, registry.active(conn, body.partner), body.member)

    return write_once(
        engine(),
        card_key(proof.certificate_sha256, body.client_id),
        "partner.link",
        body.model_dump(),
        work,
        keep=links.without_code,
    )


@holder_bp.post("/conversions", tags=[holder_tag], responses={200: schemas.ConversionList, **CARD_ERRORS})
def my_conversions(body: schemas.HolderProve) -> View:
    """The card holder's conversions on hold and the day each reaches their wallet."""
    check, proof = card_check(), card_proof(body.proof)

    def work(conn: Connection) -> dict[str, Any]:
        card = cards.prove(conn, check, proof, cardproof.CONVERSIONS)
        return service.pending(conn, mykeys.holder_of(conn, card))

    return run_write(engine(), work)


@holder_bp.post("/home", tags=[holder_tag], responses={200: schemas.HomeInfo, **CARD_ERRORS})
def set_home(body: schemas.HomeSet) -> View:
    """Set (or clear) the home municipality: where converted points go when no destination is named."""
    check, proof = card_check(), card_proof(body.proof)

    def work(conn: Connection) -> dict[str, Any]:
        card = cards.prove(conn, check, proof, cardproof.HOME, cardproof.home_action(body.municipality))
        holder = mykeys.active_holder_of(conn, card)
        authority.authorize(authority.Action.HOME_MUNICIPALITY, authority.HolderCard(holder.number), holder)
        return service.set_home(conn, holder, body.municipality)

    return write_once(
        engine(),
        card_key(proof.certificate_sha256, body.client_id),
        "partner.home",
        body.model_dump(),
        work,
        status=200,
    )


@holder_bp.post("/coupons/redeem", tags=[holder_tag], responses={201: wire.Conversion, **CARD_ERRORS})
def redeem(body: schemas.CouponRedeem) -> View:
    """Redeem a coupon code with the card: its points wait in holding like a conversion's."""
    return _redeem(body, None)


@terminal_bp.post("/coupons/redeem", tags=[holder_tag], responses={201: wire.Conversion, **CARD_ERRORS})
def terminal_redeem(body: schemas.CouponRedeem) -> View:
    """Redeem a coupon code for the card in this terminal's reader (wrong codes count against the holder)."""
    return _redeem(body, terminal_id(keep_nonce=False))


def _redeem(body: schemas.CouponRedeem, tid: str | None) -> tuple[Json, int]:
    """Wrong codes are counted for the holder (the same count at home and at every terminal), in
    the request's own transaction, which then commits the count and no more before the refusal."""
    check, proof, now = card_check(), card_proof(body.proof), datetime.now(UTC)
    action = cardproof.coupon_action(body.code, body.destination)

    def redeem_once(conn: Connection) -> dict[str, Any]:
        card = cards.prove(conn, check, proof, cardproof.COUPON, action, terminal_id=tid)
        holder = mykeys.active_holder_of(conn, card)
        authority.authorize(authority.Action.COUPON_REDEEM, authority.HolderCard(holder.number, tid), holder)
        return service.redeem_coupon(conn, holder, body.code, body.destination, now)

    scope = f"coupon.redeem:{tid or 'holder'}"
    key = card_key(proof.certificate_sha256, body.client_id) if tid is None else caller_key(body.client_id)
    answer = run_write(
        engine(),
        lambda conn: throttle.refusal_kept(
            lambda: once(conn, key, scope, body.model_dump(), lambda: redeem_once(conn))
        ),
    )
    if isinstance(answer, throttle.WrongCode):
        raise answer
    return answer


# --- operators ------------------------------------------------------------------------------------


def _admin(
    body: Any, scope: str, work: Callable[[Connection], dict[str, Any]], status: int = 201
) -> tuple[Json, int]:
    op = operator()
    return write_once(
        engine(), caller_key(body.client_id), f"{scope}:{op.name}", body.model_dump(), work, status=status
    )


@operator_bp.post("/partners", tags=[admin_tag], responses={201: schemas.Partner, **ERRORS})
def add_partner(body: schemas.PartnerCreate) -> View:
    """Register a partner with the public key it signs with (its private key never reaches the server)."""
    op = operator()
    rate = (body.rate_from, body.rate_to)
    return _admin(
        body,
        "partner.add",
        lambda conn: registry.add(
            conn, op, body.partner_id, body.name, body.public_key, rate, body.hold_days
        ).view(),
    )


@operator_bp.get("/partners", tags=[admin_tag], responses={200: schemas.PartnerList, **ERRORS})
def list_partners() -> View:
    """Every partner, its rate, hold and key status."""
    operator()
    with read(engine()) as conn:
        return {"partners": registry.list_partners(conn)}


@operator_bp.post(
    "/partners/<partner_id>/revoke", tags=[admin_tag], responses={200: schemas.Partner, **ERRORS}
)
def revoke_partner(path: schemas.PartnerPath, body: wire.ClientOnly) -> View:
    """Revoke the partner's key: its next request is refused (``revoked_key``)."""
    op = operator()
    return _admin(
        body,
        f"partner.revoke:{path.partner_id}",
        lambda conn: registry.revoke(conn, op, path.partner_id).view(),
        200,
    )


@operator_bp.post(
    "/partners/<partner_id>/coupons", tags=[admin_tag], responses={201: schemas.CouponBatch, **ERRORS}
)
def admin_coupons(path: schemas.PartnerPath, body: schemas.CouponBatchCreate) -> View:
    """A batch of coupon codes for the partner (the codes are in this answer only)."""
    op = operator()
    op.require_central()
    return _issue(path.partner_id, body, op.actor)


@operator_bp.post(
    "/coupon-batches/<batch_id>/cancel", tags=[admin_tag], responses={200: schemas.CouponBatch, **ERRORS}
)
def cancel_batch(path: schemas.CouponBatchPath, body: wire.ClientOnly) -> View:
    """Cancel every code of a batch not redeemed yet (``coupon_cancelled`` from then on)."""
    operator().require_central()
    return _admin(
        body, f"coupons.cancel:{path.batch_id}", lambda conn: coupons.cancel_batch(conn, path.batch_id), 200
    )


@operator_bp.post("/coupons/cancel", tags=[admin_tag], responses={200: schemas.CouponCancelled, **ERRORS})
def cancel_code(body: schemas.CouponCancel) -> View:
    """Cancel one code (reported lost or stolen)."""
    operator().require_central()
    return _admin(body, "coupon.cancel", lambda conn: coupons.cancel_code(conn, body.code), 200)


@operator_bp.post(
    "/partners/<partner_id>/campaigns", tags=[admin_tag], responses={201: schemas.Campaign, **ERRORS}
)
def add_campaign(path: schemas.PartnerPath, body: schemas.CampaignCreate) -> View:
    """A premium campaign on the partner's conversions (funded by the partner or a municipality)."""
    op = operator()
    terms = premiums.CampaignTerms(
        name=body.name,
        starts_at=dates.parse_instant(body.starts_at),
        ends_at=dates.parse_instant(body.ends_at),
        budget=body.budget,
        percent=body.percent,
        fixed=body.fixed,
        cap_per_holder=body.cap_per_holder,
        funded_by=body.funded_by,
        municipality=body.municipality,
    )
    return _admin(
        body,
        f"campaign.add:{path.partner_id}",
        lambda conn: premiums.add(conn, op, registry.get(conn, path.partner_id), terms),
    )


@operator_bp.get(
    "/partners/<partner_id>/campaigns", tags=[admin_tag], responses={200: schemas.CampaignList, **ERRORS}
)
def list_campaigns(path: schemas.PartnerPath) -> View:
    """The partner's campaigns, with what each has used of its budget."""
    operator()
    with read(engine()) as conn:
        return {"campaigns": premiums.list_campaigns(conn, registry.get(conn, path.partner_id))}


@operator_bp.post("/points/release-held", tags=[admin_tag], responses={201: schemas.ReleaseReport, **ERRORS})
def release_held(body: schemas.ReleaseHeld) -> View:
    """Move every conversion due by ``as_of`` from holding to its holder's wallet (running it again
    moves nothing more). ``as_of`` in the future is refused (``as_of_in_future``); a conversion the
    ledger cannot book stays on hold and is listed in ``refused``, the others go."""
    op = operator()
    op.require_central()
    as_of = dates.parse_instant(body.as_of)
    return _admin(body, "points.release-held", lambda conn: holding.release_due(conn, as_of, op.actor))


@operator_bp.get(
    "/mykeys/<mykey_id>/conversions", tags=[admin_tag], responses={200: schemas.ConversionList, **ERRORS}
)
def holder_conversions(path: wire.MyKeyPath) -> View:
    """A holder's conversions on hold (what the holder sees with their card); a scoped operator sees
    those into its own municipality's points."""
    op = operator()
    with read(engine()) as conn:
        holder = authority.find_holder(conn, op, path.mykey_id)  # another town's resident: unknown_mykey
        authority.authorize(authority.Action.READ_BALANCES, authority.OperatorAct(op), holder)
        seen = service.pending(conn, holder)
    if op.municipality is not None:
        seen["conversions"] = [c for c in seen["conversions"] if c["point_code"][:6] == op.municipality]
    return seen
