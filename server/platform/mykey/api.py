"""HTTP for the MyKey Platform: holders with their card (no other credential), terminals, operators.

* ``/v1/mykey/...`` — a holder at home or at a kiosk: challenges, register, show, change the ID,
  link and unlink services, renew, suspend. The card's proof is the credential; no terminal.
* ``/v1/terminal/mykey/challenges``, ``/v1/terminal/lookup``, ``/v1/terminal/mykey/confirm-link``
  — signed terminal requests that answer a card challenge. They keep no nonce (the challenge is
  their replay guard), so a lookup writes nothing anywhere.
* ``/v1/services``, ``/v1/mykeys/<id>/...`` — operators: services, suspension, renewal codes.

Limits: anyone may ask for a holder's challenge, so a client address gets
``challenges_per_address_minute`` a minute and at most ``max_open_challenges`` are open at once
(429 ``too_many_challenges``, with ``Retry-After``), both counted in the database so every worker
and host shares them. A holder gets ``mykey_id_tries_hour`` ID change tries an hour, refused ones
included (each tells whether an ID is taken); registering with a chosen ID counts so per card. A refused lookup discards its challenge, as an
accepted one spends it: no row is left behind either way.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol, TypeVar

from flask import request
from flask_openapi3 import APIBlueprint, Tag
from sqlalchemy import Connection

from mkp_core import cardproof, wire
from mkp_core.cardproof import CardProof
from mkp_core.errors import MkpError, Throttled
from server.db.client_ids import card_key
from server.db.engine import read, run_write
from server.db.idempotency import write_once
from server.platform import authority, schemas
from server.platform.mykey import cards, challenges, registry, service_links, throttles
from server.platform.mykey.card_checks import card_check, card_proof, challenge_key
from server.platform.operators.auth import BEARER, operator, operator_endpoints
from server.platform.operators.service import Operator
from server.platform.terminal_auth import TERMINAL_SIGNATURE, terminal_endpoints, terminal_id
from server.web.context import Json, View, caller_key, config, engine, error_responses, limit_body

holder_bp = APIBlueprint("mykey", __name__, url_prefix="/v1/mykey")
terminal_bp = APIBlueprint(
    "terminal_mykey", __name__, url_prefix="/v1/terminal", abp_security=TERMINAL_SIGNATURE
)
terminal_endpoints(terminal_bp, keep_nonce=False)
operator_bp = APIBlueprint("mykey_admin", __name__, url_prefix="/v1", abp_security=BEARER)
operator_endpoints(operator_bp)

holder_tag = Tag(name="mykey", description="MyKey IDs, with the My Number card as the credential")
terminal_tag = Tag(name="terminal", description="What an enrolled terminal calls (RFC 9421 signed requests)")
admin_tag = Tag(name="mykey admin", description="Services, suspensions and renewal codes (operators)")
CARD_ERRORS = error_responses(401, 403, 404, 409, 422, 503)
ERRORS = error_responses(401, 403, 404, 409, 422)
THROTTLED = error_responses(429)
T = TypeVar("T")


@holder_bp.before_request
def limit_holder_body() -> None:
    limit_body(config().max_request_bytes)


def _ttl() -> timedelta:
    return timedelta(seconds=config().challenge_seconds)


def _created(reply: Json) -> int:
    return 201 if reply.get("created") else 200


# --- holders ---------------------------------------------------------------------------------


@holder_bp.post("/challenges", tags=[holder_tag], responses={201: schemas.Challenge, **ERRORS, **THROTTLED})
def new_challenge(body: schemas.ChallengeRequest) -> View:
    """A one-time challenge for the card to sign (expires in two minutes, answered once).

    Limited per client address and in all (429 ``too_many_challenges``, with ``Retry-After``)."""
    key, c = challenge_key(), config()
    bucket = throttles.address_bucket("challenges", key, request.remote_addr or "")

    def work(conn: Connection) -> Json:
        now = datetime.now(UTC)
        throttles.take(
            conn, bucket, c.challenges_per_address_minute, timedelta(minutes=1), now, _too_many_challenges
        )
        return challenges.issue(conn, key, body.purpose, None, _ttl(), now, max_open=c.max_open_challenges)

    return run_write(engine(), work), 201


def _too_many_challenges(wait: int) -> Throttled:
    return Throttled(
        "too_many_challenges", f"too many challenges asked for from here: ask again in {wait} seconds", wait
    )


def _discarding_refused(purpose: str, terminal: str | None, challenge: str, work: Callable[[], T]) -> T:
    """``work()``; if it is refused, the challenge it answered is discarded (its own transaction)."""
    try:
        return work()
    except MkpError:
        key = challenge_key()
        run_write(engine(), lambda conn: challenges.discard(conn, key, challenge, purpose, terminal))
        raise


@holder_bp.post(
    "/register",
    tags=[holder_tag],
    responses={200: schemas.MyKeyRegistered, 201: schemas.MyKeyRegistered, **CARD_ERRORS, **THROTTLED},
)
def register(body: schemas.MyKeyRegister) -> View:
    """Create the card's MyKey ID (random, or ``mykey_id`` if free); a card that has one gets it back (200).

    Choosing an ID tells whether it is taken: those tries count as ID change tries, per card."""
    check, proof = card_check(), card_proof(body.proof)
    action = cardproof.register_action(body.mykey_id, body.home_municipality)
    tried: list[str] = []

    def work(conn: Connection) -> Json:
        card = cards.prove(conn, check, proof, cardproof.REGISTER, action)
        if body.mykey_id is not None:
            _count_id_try(conn, f"mykey-id:card:{card.sha256[:40]}", tried)
        holder, created = registry.register(
            conn, card, body.mykey_id, body.home_municipality, config().mykey_id_changes
        )
        return {"mykey_id": holder.mykey_id, "created": created, "status": holder.status}

    return _counting_refused(
        tried,
        lambda: _once_by_card(proof, body, "mykey.register", work, status=_created),
    )


@holder_bp.post("/show", tags=[holder_tag], responses={200: schemas.MyKeyInfo, **CARD_ERRORS})
def show(body: wire.MyKeyProve) -> View:
    """The card's MyKey ID, its state and its service links (links only while it is active)."""
    check, proof = card_check(), card_proof(body.proof)

    def work(conn: Connection) -> Json:
        card = cards.prove(conn, check, proof, cardproof.SHOW)
        holder = _by_card(registry.holder_of(conn, card), authority.Action.READ_RECORD)
        links = service_links.links_of(conn, holder) if holder.status == registry.ACTIVE else []
        return {**registry.holder_view(holder), "certificate_not_after": card.not_after, "links": links}

    return _discarding_refused(cardproof.SHOW, None, proof.challenge, lambda: run_write(engine(), work))


@holder_bp.post("/id", tags=[holder_tag], responses={200: schemas.MyKeyInfo, **CARD_ERRORS, **THROTTLED})
def change_id(body: schemas.MyKeyIdChange) -> View:
    """Change the MyKey ID to one of the holder's own (a limited number of times; the points stay).

    Each holder has ``mykey_id_tries_hour`` tries an hour, refused ones included (429 after)."""
    check, proof = card_check(), card_proof(body.proof)
    tried: list[str] = []

    def work(conn: Connection) -> Json:
        card = cards.prove(conn, check, proof, cardproof.CHANGE_ID, cardproof.change_id_action(body.new_id))
        holder = _by_card(registry.active_holder_of(conn, card), authority.Action.MYKEY_ID_CHANGE)
        _count_id_try(conn, f"mykey-id:{holder.number}", tried)
        return registry.holder_view(registry.change_id(conn, holder, body.new_id))

    return _counting_refused(
        tried,
        lambda: _once_by_card(proof, body, "mykey.change-id", work, status=200),
    )


def _count_id_try(conn: Connection, bucket: str, tried: list[str]) -> None:
    """Count one try of a chosen MyKey ID in ``bucket`` (a holder, or a card not registered yet),
    or refuse it past ``mykey_id_tries_hour``; ``tried`` remembers the bucket if it was counted."""

    def refusal(wait: int) -> Throttled:
        minutes = -(-wait // 60)
        return Throttled(
            "too_many_id_changes",
            f"too many MyKey ID change tries for this card: try again in {minutes} minutes",
            wait,
        )

    tries = config().mykey_id_tries_hour
    throttles.take(conn, bucket, tries, timedelta(hours=1), datetime.now(UTC), refusal)
    tried.append(bucket)


def _counting_refused(tried: list[str], send: Callable[[], T]) -> T:
    """``send()``; a try it counted and then refused counts still, in a transaction of its own."""
    try:
        return send()
    except MkpError:
        if tried:
            with contextlib.suppress(Throttled):  # the refusal it had stays the answer
                run_write(engine(), lambda conn: _count_id_try(conn, tried[-1], []))
        raise


@holder_bp.post("/links", tags=[holder_tag], responses={201: schemas.ServiceLink, **CARD_ERRORS})
def link(body: schemas.LinkCreate) -> View:
    """Link the holder's ID at a service (A1 → 789): pending if the service's staff confirm links."""
    check, proof = card_check(), card_proof(body.proof)
    action = cardproof.link_action(body.service, body.local_id)

    def work(conn: Connection) -> Json:
        card = cards.prove(conn, check, proof, cardproof.LINK, action)
        holder = _by_card(registry.active_holder_of(conn, card), authority.Action.SERVICE_LINK)
        return service_links.link(conn, holder, body.service, body.local_id)

    return _once_by_card(proof, body, "mykey.link", work)


@holder_bp.post("/unlink", tags=[holder_tag], responses={200: schemas.ServiceLink, **CARD_ERRORS})
def unlink(body: schemas.LinkRemove) -> View:
    """Remove the link to a service (it may be linked again afterwards)."""
    check, proof = card_check(), card_proof(body.proof)

    def work(conn: Connection) -> Json:
        card = cards.prove(conn, check, proof, cardproof.UNLINK, cardproof.service_action(body.service))
        holder = _by_card(registry.active_holder_of(conn, card), authority.Action.SERVICE_LINK)
        return service_links.unlink(conn, holder, body.service)

    return _once_by_card(proof, body, "mykey.unlink", work, status=200)


@holder_bp.post("/renew", tags=[holder_tag], responses={200: schemas.MyKeyInfo, **CARD_ERRORS})
def renew(body: schemas.MyKeyRenew) -> View:
    """Move the MyKey ID to a new card: with the old card's proof too, or an operator's renewal code."""
    if (body.old_proof is None) == (body.renewal_code is None):
        raise MkpError("renewal_consent", "give either the old card's proof or a renewal code, not both")
    check, proof = card_check(), card_proof(body.proof)
    old = card_proof(body.old_proof) if body.old_proof is not None else None

    def work(conn: Connection) -> Json:
        now = datetime.now(UTC)
        if old is None:
            new_card = cards.prove(conn, check, proof, cardproof.RENEW, cardproof.renew_by_code_action())
            holder = registry.holder_of_renewal_code(conn, str(body.renewal_code), now)
            actor = "renewal-code"
        else:
            holder, new_card = _renew_by_old_card(conn, check, old, proof)
            actor = "holder"
        return registry.holder_view(registry.renew(conn, holder, new_card, actor, now))

    return _once_by_card(proof, body, "mykey.renew", work, status=200)


def _renew_by_old_card(
    conn: Connection, check: cards.CardCheck, old: CardProof, new: CardProof
) -> tuple[registry.MyKey, cards.Card]:
    """Both cards answered one challenge, each naming the other's certificate."""
    if old.challenge != new.challenge:
        raise MkpError("renewal_consent", "both cards must answer the same challenge")
    old_card = cards.prove(
        conn,
        check,
        old,
        cardproof.RENEW,
        cardproof.renew_by_old_card_action(new.certificate_sha256),
        allow_expired=True,
        spend=False,
    )
    holder = registry.active_holder_of(conn, old_card)
    new_card = cards.prove(
        conn, check, new, cardproof.RENEW, cardproof.renew_by_old_card_action(old.certificate_sha256)
    )
    return holder, new_card


@holder_bp.post("/suspend", tags=[holder_tag], responses={200: schemas.MyKeyInfo, **CARD_ERRORS})
def self_suspend(body: schemas.MyKeySelfSuspend) -> View:
    """The holder suspends their own MyKey ID (only an operator can resume it)."""
    check, proof = card_check(), card_proof(body.proof)

    def work(conn: Connection) -> Json:
        card = cards.prove(conn, check, proof, cardproof.SUSPEND)
        holder = _by_card(registry.holder_of(conn, card), authority.Action.SUSPEND)
        holder, _ = registry.suspend(conn, holder, "holder", "self")
        return registry.holder_view(holder)

    return _once_by_card(proof, body, "mykey.suspend", work, status=200)


def _once_by_card(
    proof: CardProof,
    body: _ClientIdBody,
    scope: str,
    work: Callable[[Connection], Json],
    status: int | Callable[[Json], int] = 201,
) -> tuple[Json, int]:
    """``write_once`` keyed in the namespace of the card that proves the request (a holder at home
    or at a kiosk: ``server.db.client_ids.card_key``), so no other caller can take its client id."""
    return write_once(
        engine(), card_key(proof.certificate_sha256, body.client_id), scope, body.model_dump(), work, status
    )


class _ClientIdBody(Protocol):
    client_id: str

    def model_dump(self) -> dict[str, Any]: ...


def _by_card(holder: registry.MyKey, action: authority.Action) -> registry.MyKey:
    """``holder``, whose own card (at home) asks for ``action``, once the authority allows it."""
    authority.authorize(action, authority.HolderCard(holder.number), holder)
    return holder


# --- terminals -------------------------------------------------------------------------------


@terminal_bp.post("/mykey/challenges", tags=[terminal_tag], responses={201: schemas.Challenge, **ERRORS})
def terminal_challenge(body: schemas.TerminalChallengeRequest) -> View:
    """A challenge for the card in this terminal's reader (a lookup or a link confirmation)."""
    tid, key = terminal_id(keep_nonce=False), challenge_key()
    return run_write(engine(), lambda conn: challenges.issue(conn, key, body.purpose, tid, _ttl())), 201


@terminal_bp.post("/lookup", tags=[terminal_tag], responses={200: schemas.LookupResult, **CARD_ERRORS})
def lookup(body: wire.MyKeyProve) -> View:
    """This terminal's service ID for the card ("A1: 789"), and nothing else. Nothing is recorded."""
    tid, check, proof = terminal_id(keep_nonce=False), card_check(), card_proof(body.proof)

    def work(conn: Connection) -> Json:
        service = service_links.service_of_terminal(conn, tid)
        action = cardproof.service_action(service["code"])
        card = cards.prove(conn, check, proof, cardproof.LOOKUP, action, terminal_id=tid)
        return service_links.lookup(conn, registry.active_holder_of(conn, card), service)

    return _discarding_refused(cardproof.LOOKUP, tid, proof.challenge, lambda: run_write(engine(), work))


@terminal_bp.post(
    "/mykey/confirm-link", tags=[terminal_tag], responses={200: schemas.ServiceLink, **CARD_ERRORS}
)
def confirm_link(body: schemas.LinkConfirm) -> View:
    """The service's staff confirm the card holder's pending link at one of its terminals."""
    tid, check, proof = terminal_id(keep_nonce=False), card_check(), card_proof(body.proof)

    def work(conn: Connection) -> Json:
        service = service_links.service_of_terminal(conn, tid)
        action = cardproof.service_action(service["code"])
        card = cards.prove(conn, check, proof, cardproof.CONFIRM_LINK, action, terminal_id=tid)
        return service_links.confirm(conn, registry.active_holder_of(conn, card), service)

    return write_once(
        engine(), caller_key(body.client_id), f"mykey.confirm:{tid}", body.model_dump(), work, status=200
    )


# --- operators -------------------------------------------------------------------------------


@operator_bp.post("/services", tags=[admin_tag], responses={201: schemas.Service, **ERRORS})
def add_service(body: schemas.ServiceCreate) -> View:
    """Add a service (shopping street, library, museum ...) of a municipality."""
    op = operator()
    return write_once(
        engine(),
        caller_key(body.client_id),
        f"service.add:{op.name}",
        body.model_dump(),
        lambda conn: service_links.add_service(
            conn, op, body.code, body.name, body.kind, body.municipality, body.confirm_links
        ),
    )


@operator_bp.get("/services", tags=[admin_tag], responses={200: schemas.ServiceList, **ERRORS})
def list_services() -> View:
    """Services (a scoped operator sees its municipality's)."""
    op = operator()
    with read(engine()) as conn:
        return {"services": service_links.list_services(conn, op)}


def _admin_view(conn: Connection, holder: registry.MyKey) -> Json:
    return {
        **registry.holder_view(holder),
        "certificate": registry.current_certificate(conn, holder),
        "audit": registry.audit_log(conn, holder),
    }


@operator_bp.get("/mykeys/<mykey_id>", tags=[admin_tag], responses={200: schemas.MyKeyAdminView, **ERRORS})
def show_mykey(path: wire.MyKeyPath) -> View:
    """A MyKey ID's state, certificate and audit (never its service IDs). A scoped operator sees
    only its own town's residents (by home municipality): any other is ``unknown_mykey``."""
    op = operator()
    with read(engine()) as conn:
        holder = _holder_for(conn, op, authority.Action.READ_RECORD, path.mykey_id)
        return _admin_view(conn, holder)


def _holder_for(conn: Connection, op: Operator, action: authority.Action, mykey_id: str) -> registry.MyKey:
    """The resident ``op`` may do ``action`` on (another town's: as if missing)."""
    holder = authority.find_holder(conn, op, mykey_id)
    authority.authorize(action, authority.OperatorAct(op), holder)
    return holder


@operator_bp.post(
    "/mykeys/<mykey_id>/suspend", tags=[admin_tag], responses={200: schemas.MyKeyAdminView, **ERRORS}
)
def suspend(path: wire.MyKeyPath, body: schemas.MyKeySuspend) -> View:
    """Suspend at once (a lost card): lookups, spending and vouchers refuse it (``mykey_suspended``).
    A scoped operator suspends, resumes and issues renewal codes for its own town's residents only."""
    op = operator()

    def work(conn: Connection) -> Json:
        holder = _holder_for(conn, op, authority.Action.SUSPEND, path.mykey_id)
        holder, _ = registry.suspend(conn, holder, op.actor, body.reason)
        return _admin_view(conn, holder)

    scope = f"mykey.suspend:{op.name}:{path.mykey_id}"
    return write_once(engine(), caller_key(body.client_id), scope, body.model_dump(), work, status=200)


@operator_bp.post(
    "/mykeys/<mykey_id>/resume", tags=[admin_tag], responses={200: schemas.MyKeyAdminView, **ERRORS}
)
def resume(path: wire.MyKeyPath, body: schemas.MyKeyResume) -> View:
    """Undo a suspension, after checking the holder's identity."""
    op = operator()

    def work(conn: Connection) -> Json:
        holder = _holder_for(conn, op, authority.Action.RESUME, path.mykey_id)
        holder = registry.resume(conn, holder, op.actor, body.reason)
        return _admin_view(conn, holder)

    scope = f"mykey.resume:{op.name}:{path.mykey_id}"
    return write_once(engine(), caller_key(body.client_id), scope, body.model_dump(), work, status=200)


@operator_bp.post(
    "/mykeys/<mykey_id>/renewal-codes", tags=[admin_tag], responses={201: schemas.RenewalCode, **ERRORS}
)
def renewal_code(path: wire.MyKeyPath, body: schemas.RenewalCodeCreate) -> View:
    """A one-time code with which the holder's new card takes over the MyKey ID (shown once)."""
    op = operator()
    hours = body.ttl_hours or config().renewal_code_hours

    def work(conn: Connection) -> Json:
        holder = _holder_for(conn, op, authority.Action.RENEWAL_CODE, path.mykey_id)
        return registry.issue_renewal_code(conn, holder, op.actor, timedelta(hours=hours))

    scope = f"mykey.renewal-code:{op.name}:{path.mykey_id}"
    return write_once(
        engine(),
        caller_key(body.client_id),
        scope,
        body.model_dump(),
        work,
        keep=registry.renewal_code_without_code,
    )
