"""HTTP for what opens My Page with the card: a kiosk's activation code, a login link at home.

* ``POST /v1/terminal/mypage/activation-codes`` — a signed terminal request answering a card
  challenge (purpose ``mypage-code``): the code to print on the receipt, valid 24 hours.
* ``POST /v1/mykey/mypage/login-links`` — the holder's own reader at home (purpose
  ``mypage-login``): a one-time path to open in the browser, valid ten minutes.

Both are idempotent by client id (a repeat gets the same secret; see ``activation``), and both
refuse a suspended MyKey ID. Neither logs the secret.
"""

from __future__ import annotations

from datetime import UTC, datetime

from flask_openapi3 import APIBlueprint, Tag
from sqlalchemy import Connection

from mkp_core import cardproof
from mkp_core.errors import Forbidden
from server.db.client_ids import card_key, terminal_key
from server.db.idempotency import write_once
from server.mypage import activation
from server.mypage.schemas import MyPageActivationCode, MyPageCardRequest, MyPageLoginLink
from server.platform import authority
from server.platform.mykey import cards, registry
from server.platform.mykey.card_checks import card_check, card_proof, challenge_key
from server.platform.terminal_auth import TERMINAL_SIGNATURE, terminal_endpoints, terminal_id
from server.web.context import Json, View, config, engine, error_responses, limit_body

terminal_bp = APIBlueprint(
    "mypage_terminal", __name__, url_prefix="/v1/terminal/mypage", abp_security=TERMINAL_SIGNATURE
)
terminal_endpoints(terminal_bp, keep_nonce=False)
holder_bp = APIBlueprint("mypage_holder", __name__, url_prefix="/v1/mykey/mypage")
tag = Tag(name="mypage", description="My Page: an activation code at a kiosk, a login link at home")
CARD_ERRORS = error_responses(401, 403, 404, 409, 422, 503)


@holder_bp.before_request
def limit_holder_body() -> None:
    limit_body(config().max_request_bytes)


def _active(holder: registry.MyKey) -> registry.MyKey:
    if holder.status != registry.ACTIVE:
        raise Forbidden("mykey_suspended", "this MyKey ID is suspended: ask the town hall to resume it")
    return holder


@terminal_bp.post("/activation-codes", tags=[tag], responses={201: MyPageActivationCode, **CARD_ERRORS})
def activation_code(body: MyPageCardRequest) -> View:
    """A My Page activation code for the card's holder, to print on the receipt (24 hours, used
    once; a new one voids the earlier). A repeat of the client id gets the same code."""
    check, proof, key = card_check(), card_proof(body.proof), challenge_key()
    tid = terminal_id(keep_nonce=False)
    client_key = terminal_key(tid, body.client_id)

    def work(conn: Connection) -> Json:
        now = datetime.now(UTC)
        action = cardproof.mypage_action(body.client_id)
        card = cards.prove(conn, check, proof, cardproof.MYPAGE_CODE, action, terminal_id=tid, now=now)
        holder = _active(registry.holder_of(conn, card))
        proven = authority.HolderCard(holder.number, tid)
        return activation.issue_activation_code(conn, holder, proven, key, client_key, now)

    reply, status = write_once(engine(), client_key, "mypage.activation-code", body.model_dump(), work)
    return activation.secret_answers(reply, key, client_key, activation.ACTIVATION), status


@holder_bp.post("/login-links", tags=[tag], responses={201: MyPageLoginLink, **CARD_ERRORS})
def login_link(body: MyPageCardRequest) -> View:
    """A one-time My Page login link for the card's holder (ten minutes). A repeat of the client
    id gets the same link."""
    check, proof, key = card_check(), card_proof(body.proof), challenge_key()
    client_key = card_key(proof.certificate_sha256, body.client_id)

    def work(conn: Connection) -> Json:
        now = datetime.now(UTC)
        action = cardproof.mypage_action(body.client_id)
        card = cards.prove(conn, check, proof, cardproof.MYPAGE_LOGIN, action, now=now)
        holder = _active(registry.holder_of(conn, card))
        return activation.issue_login_link(
            conn, holder, authority.HolderCard(holder.number), key, client_key, now
        )

    reply, status = write_once(engine(), client_key, "mypage.login-link", body.model_dump(), work)
    return activation.secret_answers(reply, key, client_key, activation.LOGIN_LINK), status
