"""Request and response schemas of partner points.

Only the server imports these; what the agent or mkp-admin also reads stays in ``mkp_core.wire``,
with the field types every schema is built from.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import Field

from mkp_core import ids
from mkp_core.wire import (
    MAX_BUDGET,
    Amount,
    CardProofBody,
    ClientId,
    Conversion,
    ConversionBatchAnswer,
    CouponText,
    Destination,
    Instant,
    LinkCodeText,
    MemberNumber,
    MunicipalityCode,
    Name,
    OrderId,
    Out,
    PartnerAmount,
    PartnerId,
    ReleaseRefused,
    Strict,
)


class PartnerCreate(Strict):
    client_id: ClientId
    partner_id: PartnerId
    name: Name
    rate_from: Annotated[int, Field(strict=True, gt=0, le=ids.MAX_AMOUNT)] = 1
    rate_to: Annotated[int, Field(strict=True, gt=0, le=ids.MAX_AMOUNT)] = 1
    hold_days: Annotated[int, Field(strict=True, ge=0, le=365)] = 14
    public_key: Annotated[str, Field(min_length=1, max_length=4096, description="P-256 public key, PEM")]


class Partner(Out):
    partner_id: str
    name: str
    rate_from: int
    rate_to: int
    hold_days: int
    status: str
    key_id: str
    created_at: datetime
    revoked_at: datetime | None = None


class PartnerList(Out):
    partners: list[Partner]


class PartnerPath(Strict):
    partner_id: PartnerId


class PartnerLinkCreate(Strict):
    """The holder asks to link their member number at a partner; the answer's one-time link code is
    what the partner confirms it with (the member enters it in the partner's own site or app)."""

    client_id: ClientId
    proof: CardProofBody
    partner: PartnerId
    member: MemberNumber


class PartnerLink(Out):
    partner: str
    member: str
    status: str  # pending | active
    created_at: datetime
    confirmed_at: datetime | None = None
    #: The request's one-time link code, in the answer to the holder's request only (shown once).
    link_code: str | None = None
    code_expires_at: datetime | None = None


class PartnerLinkConfirm(Strict):
    """The partner confirms the member number with the link code the member gave it in the
    partner's own site or app (where the partner knows its member from its own login)."""

    member: MemberNumber
    link_code: LinkCodeText


class ConversionCreate(Strict):
    order_id: OrderId
    member: MemberNumber
    amount: PartnerAmount
    destination: Destination | None = None


class ConversionBatchCreate(Strict):
    """Up to 500 orders in one signed request, each as ``POST /partner/v1/conversions`` takes one
    (a :class:`ConversionCreate`). Each is read on its own: a malformed order (not an object, a
    field out of range) is refused alone with its field's code, as a refused order is."""

    orders: Annotated[
        list[Any],
        Field(min_length=1, max_length=500, description="orders, each a ConversionCreate"),
    ]


class ConversionBatchResult(Out):
    accepted: int
    refused: int
    results: list[ConversionBatchAnswer]


class ConversionList(Out):
    mykey_id: str
    home_municipality: str | None = None
    conversions: list[Conversion]


class HolderProve(Strict):
    proof: CardProofBody


class HomeSet(Strict):
    client_id: ClientId
    proof: CardProofBody
    municipality: MunicipalityCode | None = None


class HomeInfo(Out):
    mykey_id: str
    home_municipality: str | None = None


class ReleaseHeld(Strict):
    """Release what is due by ``as_of`` from holding into the holders' wallets."""

    client_id: ClientId
    as_of: Instant


class ReleaseReport(Out):
    as_of: datetime
    conversions: int
    points: int
    holders: int
    refused: list[ReleaseRefused] = []


class CouponBatchCreate(Strict):
    client_id: ClientId
    count: Annotated[int, Field(strict=True, gt=0, le=100_000)]
    points: Amount
    expires_at: Instant | None = None


class CouponBatch(Out):
    batch_id: int
    partner: str
    points: int
    count: int
    expires_at: datetime
    cancelled_at: datetime | None = None
    created_at: datetime
    codes: list[str] | None = None  # shown once: a retry gets none


class CouponBatchPath(Strict):
    batch_id: Annotated[int, Field(strict=False, gt=0, le=2**62)]


class CouponRedeem(Strict):
    client_id: ClientId
    proof: CardProofBody
    code: CouponText
    destination: Destination | None = None


class CouponCancel(Strict):
    client_id: ClientId
    code: CouponText


class CouponCancelled(Out):
    status: str


class CampaignCreate(Strict):
    client_id: ClientId
    name: Name
    percent: Annotated[int, Field(strict=True, gt=0, le=1000)] | None = None
    fixed: Amount | None = None
    starts_at: Instant
    ends_at: Instant
    cap_per_holder: Amount | None = None
    budget: Annotated[int, Field(strict=True, gt=0, le=MAX_BUDGET)]
    funded_by: Annotated[str, Field(pattern="^(partner|municipality)$")] = "partner"
    municipality: MunicipalityCode | None = None


class Campaign(Out):
    campaign_id: int
    partner: str
    name: str
    percent: int | None = None
    fixed: int | None = None
    starts_at: datetime
    ends_at: datetime
    cap_per_holder: int | None = None
    budget: int
    used: int
    funded_by: str
    municipality: str | None = None
    status: str  # scheduled | running | exhausted | ended


class CampaignList(Out):
    campaigns: list[Campaign]
