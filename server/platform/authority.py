"""Who may act on whose points: the one rule every service asks before it acts on a resident.

Why one module: an attack review found that nothing said who may act on whose points, so each
endpoint decided for itself and several decided wrongly (another town's operator could renew a
resident's MyKey ID onto its own card and spend the points). Here every action on a resident is
named once with the proofs that allow it; README's table "Who may act on whose points" says the
same thing, and a test keeps the two equal.

The principle: points leave a resident's wallet only with that resident's proof — their card
(at a terminal the card signs a challenge naming the action and the amount, see
:mod:`mkp_core.cardproof`) or their own logged-in session (:class:`HolderSession`: My Page
builds one after login; the services accept it already). Operators keep grants, reversals and
refunds of a named transfer, expiry by the rules, suspension; a scoped operator acts only on the
residents whose home municipality is its town. When a card cannot be used (a damaged card, a
paper form signed at the town hall) the central operator may act on the resident's behalf as a
*correction*, with a stated reason, recorded as such (:class:`OperatorCorrection`).

A scoped operator asking about another town's resident is told exactly what it would be told of
a MyKey ID that does not exist (:func:`find_holder`): the answer reveals nothing about other towns.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import Connection

from mkp_core.errors import Forbidden, MkpError
from server.platform.mykey import registry
from server.platform.mykey.registry import MyKey
from server.platform.operators.service import Operator

#: The longest reason a correction may give (it goes into the ledger's memo, 200 characters).
MAX_REASON = 180
CORRECTION_MEMO = "correction: "


class Action(StrEnum):
    """Every action on a resident (README's table has one row each, under these names)."""

    SPEND = "spend"
    REFUND = "refund"
    EVENT_SUPPORT = "event support"
    REWARD_CLAIM = "reward claim"
    TRANSIT_EXCHANGE = "transit exchange"
    COUPON_REDEEM = "coupon redeem"
    PARTNER_LINK = "partner link"
    HOME_MUNICIPALITY = "home municipality"
    MYKEY_ID_CHANGE = "MyKey ID change"
    SERVICE_LINK = "service link"
    SUSPEND = "suspend"
    RESUME = "resume"
    RENEWAL_CODE = "renewal code"
    READ_RECORD = "reading the record"
    READ_BALANCES = "reading the balances"
    WEB_LOGIN = "My Page login"


# --- proofs: what a caller shows --------------------------------------------------------------


@dataclass(frozen=True)
class HolderCard:
    """The resident's own card signed a fresh challenge naming this action (and its amount).

    ``terminal_id``: the enrolled terminal the card was read at; None at home (the holder's own
    reader, the ``/v1/mykey`` and ``/v1/holder`` endpoints)."""

    holder: int
    terminal_id: str | None = None


@dataclass(frozen=True)
class HolderSession:
    """The resident's own logged-in session (My Page, a later issue, builds it after login)."""

    holder: int
    session_id: str


@dataclass(frozen=True)
class OperatorAct:
    """An operator acting in its own right (suspension, renewal codes, refunds, reading)."""

    operator: Operator


@dataclass(frozen=True)
class OperatorCorrection:
    """The central operator acting on a resident's behalf when their card cannot be used."""

    operator: Operator
    reason: str


Proof = HolderCard | HolderSession | OperatorAct | OperatorCorrection


# --- the rule ---------------------------------------------------------------------------------

#: What an operator may do of an action.
NO_OPERATOR = "no"
#: A central operator, or one scoped to the resident's home municipality (others: as if missing).
HOME_TOWN = "central, or of the resident's home town"
#: A central operator, or one scoped to the municipality of the transfer's point code.
POINTS_TOWN = "central, or of the points' town"
#: Only the central operator, as a correction with a reason; a scoped operator: ``out_of_scope``.
CENTRAL_CORRECTION = "central only: a correction with a reason"

#: Where the resident's card is accepted.
CARD_AT_TERMINAL = "at a terminal"
CARD_ANYWHERE = "at a terminal or at home"
NO_CARD = "no"


@dataclass(frozen=True)
class Rule:
    """Who may do ``action``: with the resident's card (where), their session, an operator (how)."""

    action: Action
    card: str
    session: bool
    operator: str
    note: str


RULES: dict[Action, Rule] = {
    r.action: r
    for r in (
        Rule(Action.SPEND, CARD_AT_TERMINAL, False, CENTRAL_CORRECTION, "the card signs place and amount"),
        Rule(
            Action.REFUND,
            CARD_AT_TERMINAL,
            False,
            POINTS_TOWN,
            "the card that paid, at that place, the same day; an operator refunds a named transfer",
        ),
        Rule(
            Action.EVENT_SUPPORT,
            CARD_AT_TERMINAL,
            True,
            CENTRAL_CORRECTION,
            "the card signs event and amount",
        ),
        Rule(
            Action.REWARD_CLAIM, CARD_AT_TERMINAL, True, CENTRAL_CORRECTION, "the card signs reward and price"
        ),
        Rule(
            Action.TRANSIT_EXCHANGE,
            CARD_AT_TERMINAL,
            True,
            CENTRAL_CORRECTION,
            "the card signs place and amount",
        ),
        Rule(Action.COUPON_REDEEM, CARD_ANYWHERE, True, NO_OPERATOR, "the card signs the code"),
        Rule(Action.PARTNER_LINK, CARD_ANYWHERE, True, NO_OPERATOR, "the card signs partner and member"),
        Rule(Action.HOME_MUNICIPALITY, CARD_ANYWHERE, True, NO_OPERATOR, "where converted points go"),
        Rule(
            Action.MYKEY_ID_CHANGE,
            CARD_ANYWHERE,
            True,
            NO_OPERATOR,
            "the card signs the new ID; on My Page the session asks for it",
        ),
        Rule(Action.SERVICE_LINK, CARD_ANYWHERE, True, NO_OPERATOR, "link or unlink a service ID"),
        Rule(Action.SUSPEND, CARD_ANYWHERE, True, HOME_TOWN, "a lost card: any of these, at once"),
        Rule(Action.RESUME, NO_CARD, False, HOME_TOWN, "after checking the holder's identity"),
        Rule(Action.RENEWAL_CODE, NO_CARD, False, HOME_TOWN, "the new card then takes the MyKey ID over"),
        Rule(Action.READ_RECORD, CARD_ANYWHERE, True, HOME_TOWN, "state, certificate, audit"),
        Rule(Action.READ_BALANCES, CARD_AT_TERMINAL, True, HOME_TOWN, "a scoped operator sees its own codes"),
        Rule(
            Action.WEB_LOGIN,
            CARD_ANYWHERE,
            False,
            NO_OPERATOR,
            "the card asks for an activation code or a one-time login link",
        ),
    )
}


@dataclass(frozen=True)
class Allowed:
    """What the ledger records of an allowed action: who did it (its actor) and, for a correction, why."""

    actor: str
    correction: bool = False
    reason: str | None = None

    def memo(self, memo: str | None = None) -> str | None:
        """The ledger memo: a correction says so and why (then the caller's memo, if room is left)."""
        if not self.correction:
            return memo
        text = CORRECTION_MEMO + str(self.reason)
        return (f"{text}; {memo}" if memo else text)[:200]


def authorize(
    action: Action,
    proof: Proof,
    holder: MyKey | None = None,
    town: str | None = None,
    hidden: MkpError | None = None,
) -> Allowed:
    """Allow ``action`` on ``holder`` with ``proof``, or refuse it.

    ``town``: for :data:`POINTS_TOWN`, the municipality whose points the transfer moved, and
    ``hidden`` the refusal a missing transfer gets: a scoped operator of another town gets that.
    A scoped operator's reach over a resident (:data:`HOME_TOWN`) is checked when the resident is
    found (:func:`find_holder`), so that another town's resident looks missing; here again.
    """
    rule = RULES[action]
    if isinstance(proof, HolderCard | HolderSession):
        return _by_holder(rule, proof, holder)
    return _by_operator(rule, proof, holder, town, hidden)


def _by_holder(rule: Rule, proof: HolderCard | HolderSession, holder: MyKey | None) -> Allowed:
    if holder is None or proof.holder != holder.number:
        raise Forbidden("not_your_points", "a resident's proof acts only on their own MyKey ID")
    if isinstance(proof, HolderSession):
        if not rule.session:
            raise Forbidden("card_required", f"{rule.action}: the resident's card is needed, not a session")
        return Allowed("holder:session")
    if rule.card == NO_CARD or (rule.card == CARD_AT_TERMINAL and proof.terminal_id is None):
        raise Forbidden("card_not_accepted", f"{rule.action} cannot be done with the card here")
    return Allowed(f"terminal:{proof.terminal_id}" if proof.terminal_id else "holder")


def _by_operator(
    rule: Rule,
    proof: OperatorAct | OperatorCorrection,
    holder: MyKey | None,
    town: str | None,
    hidden: MkpError | None,
) -> Allowed:
    op = proof.operator
    if rule.operator == NO_OPERATOR:
        raise Forbidden("holder_only", f"{rule.action} is the resident's own: an operator cannot do it")
    if isinstance(proof, OperatorCorrection):
        if rule.operator != CENTRAL_CORRECTION:
            raise Forbidden("not_a_correction", f"{rule.action} is not done as a correction")
        require_correction(op, proof.reason)
        return Allowed(f"correction:{op.name}", correction=True, reason=proof.reason.strip())
    if rule.operator == CENTRAL_CORRECTION:
        raise MkpError("reason_required", f"{rule.action} by an operator is a correction: give a reason")
    if rule.operator == HOME_TOWN and holder is not None and not covers(op, holder.home_municipality):
        raise registry.unknown_mykey(holder.mykey_id)
    if rule.operator == POINTS_TOWN and not covers(op, town):
        if hidden is None:
            raise Forbidden("out_of_scope", f"operator {op.name} may act only for {op.municipality}")
        raise hidden
    return Allowed(op.actor)


def require_correction(op: Operator, reason: str | None) -> None:
    """Refuse unless ``op`` is the central operator and gives a reason: before anything is looked up,
    so the refusal says nothing of the resident."""
    if op.municipality is not None:
        raise Forbidden(
            "out_of_scope",
            f"operator {op.name} may not act on a resident's behalf: only the central operator, "
            "with a reason, as a correction",
        )
    if reason is None or not reason.strip():
        raise MkpError("reason_required", "a correction on a resident's behalf needs a reason")


def covers(op: Operator, municipality: str | None) -> bool:
    """True if ``op`` may act for ``municipality`` (the central operator may act for any)."""
    return op.covers(municipality)


def find_holder(conn: Connection, op: Operator, mykey_id: str) -> MyKey:
    """The resident typed as ``mykey_id``, as ``op`` may see them: a scoped operator finds only the
    residents of its own town; any other is ``unknown_mykey``, word for word as a missing ID."""
    holder = registry.find(conn, mykey_id)
    if not covers(op, holder.home_municipality):
        raise registry.unknown_mykey(mykey_id)
    return holder
