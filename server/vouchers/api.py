"""HTTP for paper vouchers: operators issue, void, reprint and manage the keys; terminals issue
for a card holder and redeem. Thin: the rules live in :mod:`server.vouchers.service`."""

from __future__ import annotations

from datetime import timedelta

from flask_openapi3 import APIBlueprint, Tag
from sqlalchemy import Connection

from mkp_core import cardproof, dates, wire
from mkp_core.errors import Forbidden
from mkp_core.ids import general_point_code
from server.db.engine import read
from server.db.idempotency import write_once
from server.platform.mykey import cards, registry
from server.platform.mykey.card_checks import card_check, card_proof
from server.platform.operators.auth import BEARER, operator, operator_endpoints
from server.platform.places.service import get_place
from server.platform.terminal_auth import TERMINAL_SIGNATURE, terminal_endpoints, terminal_id
from server.terminals import service as terminals
from server.vouchers import keys, schemas, service
from server.web.context import Json, View, caller_key, config, engine, error_responses

bp = APIBlueprint("vouchers", __name__, url_prefix="/v1", abp_security=BEARER)
operator_endpoints(bp)
terminal_bp = APIBlueprint(
    "terminal_vouchers", __name__, url_prefix="/v1/terminal/vouchers", abp_security=TERMINAL_SIGNATURE
)
terminal_endpoints(terminal_bp)
tag = Tag(name="vouchers", description="Paper point vouchers: issue, print, void, reprint, voucher keys")
terminal_tag = Tag(name="terminal", description="What an enrolled terminal calls (RFC 9421 signed requests)")
ERRORS = error_responses(401, 403, 404, 409, 422)
CARD_ERRORS = error_responses(401, 403, 404, 409, 422, 503)  # 503: no current CRL to check the card on


def _secrets() -> str:
    return config().secrets_dir


@bp.post("/vouchers/batches", tags=[tag], responses={201: schemas.VoucherBatch, **ERRORS})
def issue_batch(body: schemas.VoucherBatchCreate) -> View:
    """Issue ``count`` vouchers (state ``issued``) from the municipality's or a department's account.

    Print each text, then say which were printed (``/vouchers/printed``) and void the rest
    (``/vouchers/void``): a voucher is valid only once printed. Only for point codes whose rules
    allow vouchers (``vouchers_not_allowed``)."""
    op = operator()
    last = dates.start_of_day(dates.parse_date(body.last_day) + timedelta(days=1)) if body.last_day else None

    def work(conn: Connection) -> Json:
        source = service.source_for_batch(conn, op, body.point_code, body.department)
        request = service.Issue(
            body.point_code, body.amount, body.count, source, caller_key(body.client_id), last
        )
        return service.issue(conn, request, _secrets(), op.actor)

    return write_once(
        engine(),
        caller_key(body.client_id),
        f"vouchers.issue:{op.name}",
        body.model_dump(),
        work,
        keep=service.without_texts,
    )


@bp.post("/vouchers/printed", tags=[tag], responses={200: schemas.VoucherPrinted, **ERRORS})
def printed(body: schemas.VoucherSerials) -> View:
    """The printer took these vouchers: from now on they can be redeemed."""
    op = operator()
    return write_once(
        engine(),
        caller_key(body.client_id),
        f"vouchers.printed:{op.name}",
        body.model_dump(),
        lambda conn: service.mark_printed(conn, body.serials, op),
        status=200,
    )


@bp.post("/vouchers/void", tags=[tag], responses={200: schemas.VoucherVoided, **ERRORS})
def void(body: schemas.VoucherVoid) -> View:
    """Void vouchers not yet redeemed (a failed print, a lost one): their points go back."""
    op = operator()
    return write_once(
        engine(),
        caller_key(body.client_id),
        f"vouchers.void:{op.name}",
        body.model_dump(),
        lambda conn: service.void(conn, body.serials, body.reason, op, op.actor),
        status=200,
    )


@bp.post("/vouchers/<serial>/reprint", tags=[tag], responses={201: schemas.VoucherBatch, **ERRORS})
def reprint(path: schemas.VoucherPath, body: wire.ClientOnly) -> View:
    """A lost voucher: void its serial, and issue a new voucher of the same points to print."""
    op = operator()
    return write_once(
        engine(),
        caller_key(body.client_id),
        f"vouchers.reprint:{op.name}:{path.serial}",
        body.model_dump(),
        lambda conn: service.reprint(conn, path.serial, op, _secrets(), op.actor),
        keep=service.without_texts,
    )


@bp.get("/vouchers/<serial>", tags=[tag], responses={200: schemas.VoucherInfo, **ERRORS})
def show(path: schemas.VoucherPath) -> View:
    """A voucher's state: printed, used (when and where), voided, expired."""
    op = operator()
    with read(engine()) as conn:
        return service.show(conn, path.serial, op)


@bp.get("/voucher-keys", tags=[tag], responses={200: schemas.VoucherKeyList, **ERRORS})
def list_keys() -> View:
    """The server's voucher keys (public facts only: the private halves never leave the server)."""
    operator().require_central()
    with read(engine()) as conn:
        return {"keys": keys.list_keys(conn)}


@bp.post("/voucher-keys/rotate", tags=[tag], responses={201: schemas.VoucherKey, **ERRORS})
def rotate_key(body: wire.ClientOnly) -> View:
    """A new signing key from now; the old one still verifies what it signed until that expires."""
    op = operator()
    op.require_central()
    return write_once(
        engine(),
        caller_key(body.client_id),
        f"vouchers.key-rotate:{op.name}",
        body.model_dump(),
        lambda conn: keys.rotate(conn, _secrets(), op.actor),
    )


@bp.post("/voucher-keys/<key_id>/withdraw", tags=[tag], responses={200: schemas.VoucherKey, **ERRORS})
def withdraw_key(path: schemas.VoucherKeyPath, body: schemas.VoucherKeyWithdraw) -> View:
    """A leaked key: nothing it signed is accepted any more (terminals, once they sync)."""
    op = operator()
    op.require_central()
    return write_once(
        engine(),
        caller_key(body.client_id),
        f"vouchers.key-withdraw:{op.name}:{path.key_id}",
        body.model_dump(),
        lambda conn: keys.withdraw(conn, path.key_id, body.reason),
        status=200,
    )


@bp.post(
    "/voucher-keys/<key_id>/void-unused", tags=[tag], responses={200: schemas.VoucherKeyVoided, **ERRORS}
)
def void_unused(path: schemas.VoucherKeyPath, body: wire.ClientOnly) -> View:
    """A withdrawn key's unused vouchers are voided: their points go back where they came from;
    the serials are listed, to reprint for whoever brings one (``/vouchers/<serial>/reprint``)."""
    op = operator()
    op.require_central()
    return write_once(
        engine(),
        caller_key(body.client_id),
        f"vouchers.key-void-unused:{op.name}:{path.key_id}",
        body.model_dump(),
        lambda conn: service.void_unused_of_key(conn, path.key_id, op.actor),
        status=200,
    )


@bp.post("/vouchers/phone-links", tags=[tag], responses={201: schemas.PhoneLink, **ERRORS})
def phone_link(body: schemas.PhoneLinkCreate) -> View:
    """A link for a shop without a terminal to redeem vouchers on its phone (shown once)."""
    op = operator()
    return write_once(
        engine(),
        caller_key(body.client_id),
        f"vouchers.phone-link:{op.name}",
        body.model_dump(),
        lambda conn: service.create_phone_link(conn, op, body.place),
        keep=service.phone_link_without_token,
    )


@bp.post("/vouchers/phone-links/revoke", tags=[tag], responses={200: schemas.PhoneLinksRevoked, **ERRORS})
def revoke_phone_links(body: schemas.PhoneLinkCreate) -> View:
    """Every phone link of the place stops working at once (issue a new one afterwards)."""
    op = operator()
    return write_once(
        engine(),
        caller_key(body.client_id),
        f"vouchers.phone-link-revoke:{op.name}",
        body.model_dump(),
        lambda conn: service.revoke_phone_links(conn, op, body.place),
        status=200,
    )


# --- terminals -----------------------------------------------------------------------------------


@terminal_bp.post("/redeem", tags=[terminal_tag], responses={201: schemas.VoucherRedeemed, **ERRORS})
def redeem(body: schemas.VoucherRedeem) -> View:
    """Redeem a voucher at this terminal's place: once, anywhere (``voucher_used`` says when and where)."""
    tid = terminal_id()

    def work(conn: Connection) -> Json:
        place = terminals.get_terminal(conn, tid)["place"]
        request = service.Redemption(place, f"terminal:{tid}", body.voucher, body.serial)
        return service.redeem(conn, request, keys.ring(conn), f"terminal:{tid}")

    return write_once(engine(), caller_key(body.client_id), f"vouchers.redeem:{tid}", body.model_dump(), work)


@terminal_bp.post("/issue", tags=[terminal_tag], responses={201: schemas.VoucherBatch, **CARD_ERRORS})
def issue_for_card(body: schemas.TerminalVoucherIssue) -> View:
    """The card's holder turns points into one voucher, printed on this terminal's printer (then
    ``/printed``, or ``/void`` if the print failed). Point code default: the place's municipality's."""
    tid, check = terminal_id(), card_check()
    proof = card_proof(body.proof)
    action = cardproof.voucher_action(body.client_id, body.amount, body.point_code)

    def work(conn: Connection) -> Json:
        place = get_place(conn, terminals.get_terminal(conn, tid)["place"])
        card = cards.prove(conn, check, proof, cardproof.VOUCHER, action, terminal_id=tid)
        holder = registry.active_holder_of(conn, card)
        code = body.point_code or general_point_code(place["municipality"])
        return service.issue_for_holder(
            conn, holder, code, body.amount, caller_key(body.client_id), _secrets(), f"terminal:{tid}"
        )

    return write_once(
        engine(),
        caller_key(body.client_id),
        f"vouchers.terminal-issue:{tid}",
        body.model_dump(),
        work,
        keep=service.without_texts,
    )


def _own(conn: Connection, tid: str, serials: list[str]) -> None:
    """A terminal settles only the vouchers it issued itself."""
    for serial in serials:
        if service.created_by(conn, serial) != f"terminal:{tid}":
            raise Forbidden("not_your_voucher", f"voucher {serial} was not issued at this terminal")


@terminal_bp.post("/printed", tags=[terminal_tag], responses={200: schemas.VoucherPrinted, **ERRORS})
def terminal_printed(body: schemas.VoucherSerials) -> View:
    """This terminal printed the vouchers it issued."""
    tid = terminal_id()

    def work(conn: Connection) -> Json:
        _own(conn, tid, body.serials)
        return service.mark_printed(conn, body.serials, None)

    return write_once(
        engine(),
        caller_key(body.client_id),
        f"vouchers.terminal-printed:{tid}",
        body.model_dump(),
        work,
        status=200,
    )


@terminal_bp.post("/void", tags=[terminal_tag], responses={200: schemas.VoucherVoided, **ERRORS})
def terminal_void(body: schemas.VoucherVoid) -> View:
    """The terminal's print failed: void its vouchers, the points go back to the holder."""
    tid = terminal_id()

    def work(conn: Connection) -> Json:
        _own(conn, tid, body.serials)
        return service.void(conn, body.serials, body.reason, None, f"terminal:{tid}")

    return write_once(
        engine(),
        caller_key(body.client_id),
        f"vouchers.terminal-void:{tid}",
        body.model_dump(),
        work,
        status=200,
    )
