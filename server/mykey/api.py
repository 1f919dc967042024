"""HTTP for the MyKey Platform: holders with their card (no other credential), terminals, operators.

* ``/v1/mykey/...`` — a holder at home or at a kiosk: challenges, register, show, change the ID,
  link and unlink services, renew, suspend. The card's proof is the credential; no terminal.
* ``/v1/terminal/mykey/challenges``, ``/v1/terminal/lookup``, ``/v1/terminal/mykey/confirm-link``
  — signed terminal requests that answer a card challenge. They keep no nonce (the challenge is
  their replay guard), so a lookup writes nothing anywhere.
* ``/v1/services``, ``/v1/mykeys/<id>/...`` — operators: services, suspension, renewal codes.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from flask_openapi3 import APIBlueprint, Tag
from sqlalchemy import Connection

from mkp_core import cardproof, wire
from mkp_core.cardproof import CardProof
from mkp_core.errors import MkpError
from server.api import (
    BEARER,
    caller_key,
    card_check,
    card_proof,
    challenge_key,
    config,
    engine,
    error_responses,
    limit_body,
    operator,
    operator_endpoints,
)
from server.client_ids import card_key
from server.db.engine import read, run_write
from server.idempotency import write_once
from server.mykey import cards, challenges, registry, services
from server.terminals.auth import TERMINAL_SIGNATURE, terminal_endpoints, terminal_id

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


@holder_bp.before_request
def limit_holder_body() -> None:
    limit_body(config().max_request_bytes)


def _ttl() -> timedelta:
    return timedelta(seconds=config().challenge_seconds)


def _created(reply: dict) -> int:
    return 201 if reply.get("created") else 200


# --- holders ---------------------------------------------------------------------------------


@holder_bp.post("/challenges", tags=[holder_tag], responses={201: wire.Challenge, **ERRORS})
def new_challenge(body: wire.ChallengeRequest):
    """A one-time challenge for the card to sign (expires in two minutes, answered once)."""
    key = challenge_key()
    return run_write(engine(), lambda conn: challenges.issue(conn, key, body.purpose, None, _ttl())), 201


@holder_bp.post(
    "/register",
    tags=[holder_tag],
    responses={200: wire.MyKeyRegistered, 201: wire.MyKeyRegistered, **CARD_ERRORS},
)
def register(body: wire.MyKeyRegister):
    """Create the card's MyKey ID (random, or ``mykey_id`` if free); a card that has one gets it back (200)."""
    check, proof = card_check(), card_proof(body.proof)
    action = cardproof.register_action(body.mykey_id, body.home_municipality)

    def work(conn: Connection) -> dict:
        card = cards.prove(conn, check, proof, cardproof.REGISTER, action)
        holder, created = registry.register(
            conn, card, body.mykey_id, body.home_municipality, config().mykey_id_changes
        )
        return {"mykey_id": holder.mykey_id, "created": created, "status": holder.status}

    return write_once(
        engine(),
        card_key(proof.certificate_sha256, body.client_id),
        "mykey.register",
        body.model_dump(),
        work,
        status=_created,
    )


@holder_bp.post("/show", tags=[holder_tag], responses={200: wire.MyKeyInfo, **CARD_ERRORS})
def show(body: wire.MyKeyProve):
    """The card's MyKey ID, its state and its service links (links only while it is active)."""
    check, proof = card_check(), card_proof(body.proof)

    def work(conn: Connection) -> dict:
        card = cards.prove(conn, check, proof, cardproof.SHOW)
        holder = registry.holder_of(conn, card)
        links = services.links_of(conn, holder) if holder.status == registry.ACTIVE else []
        return {**registry.holder_view(holder), "certificate_not_after": card.not_after, "links": links}

    return run_write(engine(), work)


@holder_bp.post("/id", tags=[holder_tag], responses={200: wire.MyKeyInfo, **CARD_ERRORS})
def change_id(body: wire.MyKeyIdChange):
    """Change the MyKey ID to one of the holder's own (a limited number of times; the points stay)."""
    check, proof = card_check(), card_proof(body.proof)

    def work(conn: Connection) -> dict:
        card = cards.prove(conn, check, proof, cardproof.CHANGE_ID, cardproof.change_id_action(body.new_id))
        holder = registry.change_id(conn, registry.active_holder_of(conn, card), body.new_id)
        return registry.holder_view(holder)

    return write_once(
        engine(),
        card_key(proof.certificate_sha256, body.client_id),
        "mykey.change-id",
        body.model_dump(),
        work,
        status=200,
    )


@holder_bp.post("/links", tags=[holder_tag], responses={201: wire.ServiceLink, **CARD_ERRORS})
def link(body: wire.LinkCreate):
    """Link the holder's ID at a service (A1 → 789): pending if the service's staff confirm links."""
    check, proof = card_check(), card_proof(body.proof)
    action = cardproof.link_action(body.service, body.local_id)

    def work(conn: Connection) -> dict:
        card = cards.prove(conn, check, proof, cardproof.LINK, action)
        return services.link(conn, registry.active_holder_of(conn, card), body.service, body.local_id)

    return write_once(
        engine(), card_key(proof.certificate_sha256, body.client_id), "mykey.link", body.model_dump(), work
    )


@holder_bp.post("/unlink", tags=[holder_tag], responses={200: wire.ServiceLink, **CARD_ERRORS})
def unlink(body: wire.LinkRemove):
    """Remove the link to a service (it may be linked again afterwards)."""
    check, proof = card_check(), card_proof(body.proof)

    def work(conn: Connection) -> dict:
        card = cards.prove(conn, check, proof, cardproof.UNLINK, cardproof.service_action(body.service))
        return services.unlink(conn, registry.active_holder_of(conn, card), body.service)

    return write_once(
        engine(),
        card_key(proof.certificate_sha256, body.client_id),
        "mykey.unlink",
        body.model_dump(),
        work,
        status=200,
    )


@holder_bp.post("/renew", tags=[holder_tag], responses={200: wire.MyKeyInfo, **CARD_ERRORS})
def renew(body: wire.MyKeyRenew):
    """Move the MyKey ID to a new card: with the old card's proof too, or an operator's renewal code."""
    if (body.old_proof is None) == (body.renewal_code is None):
        raise MkpError("renewal_consent", "give either the old card's proof or a renewal code, not both")
    check, proof = card_check(), card_proof(body.proof)
    old = card_proof(body.old_proof) if body.old_proof is not None else None

    def work(conn: Connection) -> dict:
        now = datetime.now(UTC)
        if old is None:
            new_card = cards.prove(conn, check, proof, cardproof.RENEW, cardproof.renew_by_code_action())
            holder = registry.holder_of_renewal_code(conn, str(body.renewal_code), now)
            actor = "renewal-code"
        else:
            holder, new_card = _renew_by_old_card(conn, check, old, proof)
            actor = "holder"
        return registry.holder_view(registry.renew(conn, holder, new_card, actor, now))

    return write_once(
        engine(),
        card_key(proof.certificate_sha256, body.client_id),
        "mykey.renew",
        body.model_dump(),
        work,
        status=200,
    )


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


@holder_bp.post("/suspend", tags=[holder_tag], responses={200: wire.MyKeyInfo, **CARD_ERRORS})
def self_suspend(body: wire.MyKeySelfSuspend):
    """The holder suspends their own MyKey ID (only an operator can resume it)."""
    check, proof = card_check(), card_proof(body.proof)

    def work(conn: Connection) -> dict:
        card = cards.prove(conn, check, proof, cardproof.SUSPEND)
        holder, _ = registry.suspend(conn, registry.holder_of(conn, card), "holder", "self")
        return registry.holder_view(holder)

    return write_once(
        engine(),
        card_key(proof.certificate_sha256, body.client_id),
        "mykey.suspend",
        body.model_dump(),
        work,
        status=200,
    )


# --- terminals -------------------------------------------------------------------------------


@terminal_bp.post("/mykey/challenges", tags=[terminal_tag], responses={201: wire.Challenge, **ERRORS})
def terminal_challenge(body: wire.TerminalChallengeRequest):
    """A challenge for the card in this terminal's reader (a lookup or a link confirmation)."""
    tid, key = terminal_id(keep_nonce=False), challenge_key()
    return run_write(engine(), lambda conn: challenges.issue(conn, key, body.purpose, tid, _ttl())), 201


@terminal_bp.post("/lookup", tags=[terminal_tag], responses={200: wire.LookupResult, **CARD_ERRORS})
def lookup(body: wire.MyKeyProve):
    """This terminal's service ID for the card ("A1: 789"), and nothing else. Nothing is recorded."""
    tid, check, proof = terminal_id(keep_nonce=False), card_check(), card_proof(body.proof)

    def work(conn: Connection) -> dict:
        service = services.service_of_terminal(conn, tid)
        action = cardproof.service_action(service["code"])
        card = cards.prove(conn, check, proof, cardproof.LOOKUP, action, terminal_id=tid)
        return services.lookup(conn, registry.active_holder_of(conn, card), service)

    return run_write(engine(), work)


@terminal_bp.post(
    "/mykey/confirm-link", tags=[terminal_tag], responses={200: wire.ServiceLink, **CARD_ERRORS}
)
def confirm_link(body: wire.LinkConfirm):
    """The service's staff confirm the card holder's pending link at one of its terminals."""
    tid, check, proof = terminal_id(keep_nonce=False), card_check(), card_proof(body.proof)

    def work(conn: Connection) -> dict:
        service = services.service_of_terminal(conn, tid)
        action = cardproof.service_action(service["code"])
        card = cards.prove(conn, check, proof, cardproof.CONFIRM_LINK, action, terminal_id=tid)
        return services.confirm(conn, registry.active_holder_of(conn, card), service)

    return write_once(
        engine(), caller_key(body.client_id), f"mykey.confirm:{tid}", body.model_dump(), work, status=200
    )


# --- operators -------------------------------------------------------------------------------


@operator_bp.post("/services", tags=[admin_tag], responses={201: wire.Service, **ERRORS})
def add_service(body: wire.ServiceCreate):
    """Add a service (shopping street, library, museum ...) of a municipality."""
    op = operator()
    return write_once(
        engine(),
        caller_key(body.client_id),
        f"service.add:{op.name}",
        body.model_dump(),
        lambda conn: services.add_service(
            conn, op, body.code, body.name, body.kind, body.municipality, body.confirm_links
        ),
    )


@operator_bp.get("/services", tags=[admin_tag], responses={200: wire.ServiceList, **ERRORS})
def list_services():
    """Services (a scoped operator sees its municipality's)."""
    op = operator()
    with read(engine()) as conn:
        return {"services": services.list_services(conn, op)}


def _admin_view(conn: Connection, holder: registry.MyKey) -> dict:
    return {
        **registry.holder_view(holder),
        "certificate": registry.current_certificate(conn, holder),
        "audit": registry.audit_log(conn, holder),
    }


@operator_bp.get("/mykeys/<mykey_id>", tags=[admin_tag], responses={200: wire.MyKeyAdminView, **ERRORS})
def show_mykey(path: wire.MyKeyPath):
    """A MyKey ID's state, certificate and audit (never its service IDs)."""
    operator()
    with read(engine()) as conn:
        return _admin_view(conn, registry.find(conn, path.mykey_id))


@operator_bp.post(
    "/mykeys/<mykey_id>/suspend", tags=[admin_tag], responses={200: wire.MyKeyAdminView, **ERRORS}
)
def suspend(path: wire.MyKeyPath, body: wire.MyKeySuspend):
    """Suspend at once (a lost card): lookups, spending and vouchers refuse it (``mykey_suspended``)."""
    op = operator()

    def work(conn: Connection) -> dict:
        holder, _ = registry.suspend(conn, registry.find(conn, path.mykey_id), op.actor, body.reason)
        return _admin_view(conn, holder)

    scope = f"mykey.suspend:{op.name}:{path.mykey_id}"
    return write_once(engine(), caller_key(body.client_id), scope, body.model_dump(), work, status=200)


@operator_bp.post(
    "/mykeys/<mykey_id>/resume", tags=[admin_tag], responses={200: wire.MyKeyAdminView, **ERRORS}
)
def resume(path: wire.MyKeyPath, body: wire.MyKeyResume):
    """Undo a suspension, after checking the holder's identity."""
    op = operator()

    def work(conn: Connection) -> dict:
        holder = registry.resume(conn, registry.find(conn, path.mykey_id), op.actor, body.reason)
        return _admin_view(conn, holder)

    scope = f"mykey.resume:{op.name}:{path.mykey_id}"
    return write_once(engine(), caller_key(body.client_id), scope, body.model_dump(), work, status=200)


@operator_bp.post(
    "/mykeys/<mykey_id>/renewal-codes", tags=[admin_tag], responses={201: wire.RenewalCode, **ERRORS}
)
def renewal_code(path: wire.MyKeyPath, body: wire.RenewalCodeCreate):
    """A one-time code with which the holder's new card takes over the MyKey ID (shown once)."""
    op = operator()
    hours = body.ttl_hours or config().renewal_code_hours

    def work(conn: Connection) -> dict:
        holder = registry.find(conn, path.mykey_id)
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
