"""Request and response schemas of the counter's endpoints (card sessions, the offline queue, residents at the counter).

Only the server imports these; what the agent or mkp-admin also reads stays in ``mkp_core.wire``,
with the field types every schema is built from.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import Field

from mkp_core.wire import (
    Amount,
    Balance,
    CardProofBody,
    ClientId,
    ConntestAnnouncement,
    Nickname,
    OfflineException,
    Out,
    PlaceId,
    PointCode,
    Slug,
    Strict,
    SyncAnswer,
    TerminalStatus,
)


class CounterSpend(Strict):
    """The card's holder spends at this terminal's place: an ``amount``, or an ``item`` of its
    price list. The card signed the request (``cardproof.spend_action``) over a server challenge."""

    client_id: ClientId
    proof: CardProofBody
    amount: Amount | None = None
    item: Slug | None = None
    quantity: Annotated[int, Field(strict=True, ge=1, le=100)] = 1
    point_code: PointCode | None = None


class CounterSupport(Strict):
    """The card's holder directs ``amount`` of an event's points to its pool; the card signed
    ``cardproof.support_action`` over a server challenge."""

    client_id: ClientId
    proof: CardProofBody
    point_code: PointCode
    amount: Amount
    nickname: Nickname | None = None


class CounterClaim(Strict):
    """The card's holder claims one of a special reward for ``points`` (its price, as the card
    signed it in ``cardproof.reward_action``: a changed price is refused)."""

    client_id: ClientId
    proof: CardProofBody
    reward: Slug
    points: Amount


class CounterTransit(Strict):
    """The card's holder sends ``amount`` points to the transit card linked at ``place``'s company
    (``cardproof.transit_action``)."""

    client_id: ClientId
    proof: CardProofBody
    place: PlaceId
    amount: Amount
    point_code: PointCode | None = None


class CounterRefund(Strict):
    """Give back a spend made at this place today, with the card that paid for it."""

    client_id: ClientId
    transfer_id: Annotated[int, Field(strict=True, ge=1)]
    proof: CardProofBody


class CounterBalances(Out):
    mykey_id: str
    status: str
    balances: list[Balance]
    total: int


class SyncRequest(Strict):
    """Offline entries as the terminal queued them (``mkp_core.offline.seal`` for a card spend,
    ``seal_voucher`` for a paper voucher), oldest first. Each is read on its own: one that is not
    an object, or not a good entry, is refused alone in the answers."""

    entries: Annotated[list[Any], Field(min_length=1, max_length=500)]


class SyncResult(Out):
    results: list[SyncAnswer]


class HeartbeatReply(Out):
    server_time: datetime
    conntest: ConntestAnnouncement | None = None


class OfflineExceptionList(Out):
    exceptions: list[OfflineException]


class ExceptionQuery(Strict):
    place: PlaceId | None = None
    since: Annotated[datetime, Field(strict=False)] | None = None


class TerminalStatusList(Out):
    terminals: list[TerminalStatus]
