"""Request and response schemas of the point domains' endpoints (rules, spending, departments and grants, events, rewards, transit).

Only the server imports these; what the agent or mkp-admin also reads stays in ``mkp_core.wire``,
with the field types every schema is built from.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import Field

from mkp_core import ids
from mkp_core.wire import (
    MAX_BUDGET,
    Amount,
    Balance,
    Breach,
    ClaimEntry,
    ClientId,
    CorrectionReason,
    DepartmentCode,
    DepartmentId,
    Description,
    ExpiredCode,
    ExpiryBody,
    ExpiryOut,
    Flag,
    GrantBatchKind,
    GrantKind,
    GrantReportRow,
    GrantReportTotal,
    Instant,
    IsoDate,
    LongName,
    Memo,
    MunicipalityCode,
    MyKeyIdText,
    Name,
    Nickname,
    Out,
    PlaceId,
    PlaceKind,
    PlainText,
    PointCode,
    PriceItem,
    PublicReward,
    Slug,
    Strict,
    Supporter,
    Transfer,
    TransitLine,
    VoucherExpiry,
)


class GrantCreate(Strict):
    """A department grants points from its budget to a MyKey holder (the expiry comes from the rule)."""

    client_id: ClientId
    department: DepartmentId
    mykey_id: MyKeyIdText
    amount: Amount
    grant_kind: Slug
    memo: Memo | None = None


class SpendCreate(Strict):
    """A MyKey holder spends points at a place: an ``amount``, or an ``item`` of its price list.

    ``point_code`` omitted: of the holder's codes valid at the place, the one expiring first."""

    client_id: ClientId
    mykey_id: MyKeyIdText
    place: PlaceId
    amount: Amount | None = None
    point_code: PointCode | None = None
    item: Slug | None = None
    quantity: Annotated[int, Field(strict=True, ge=1, le=100)] = 1
    memo: Memo | None = None
    reason: CorrectionReason


class ReverseCreate(Strict):
    client_id: ClientId
    memo: Memo | None = None


class TransferPath(Strict):
    transfer_id: Annotated[int, Field(strict=False, ge=1, le=2**63 - 1)]


class Grant(Transfer):
    department: str
    grant_kind: str
    mykey_id: str


class RefundCreate(Strict):
    client_id: ClientId
    memo: Memo | None = None


class Balances(Out):
    mykey_id: str
    balances: list[Balance]


class VerifyReport(Out):
    ok: bool
    accounts: int
    transfers: int
    point_codes: int
    lots: int = 0
    breaches: list[Breach]


class PointCodePath(Strict):
    point_code: PointCode


class RuleCreate(Strict):
    """A new version of a point code's rules; ``effective_from`` omitted: from now (never the past)."""

    client_id: ClientId
    effective_from: Instant | None = None
    place_kinds: Annotated[list[PlaceKind], Field(max_length=len(ids.PLACE_KINDS))] = list(ids.PLACE_KINDS)
    places: Annotated[list[PlaceId], Field(max_length=500)] = []
    expiry: ExpiryBody = ExpiryBody()
    min_amount: Amount = 1
    max_amount: Amount | None = None
    vouchers: Flag = False


class Rule(Out):
    point_code: str
    version: int | None = None
    effective_from: datetime | None = None
    place_kinds: list[str]
    places: list[str]
    expiry: ExpiryOut
    min_amount: int
    max_amount: int | None = None
    vouchers: bool


class RuleList(Out):
    point_code: str
    in_force: Rule
    versions: list[Rule]


class AgreementRecord(Strict):
    """One municipality's side of a たすきがけ agreement: ``points_of``'s points usable in ``usable_in``."""

    client_id: ClientId
    points_of: MunicipalityCode
    usable_in: MunicipalityCode
    by: MunicipalityCode


class Agreement(Out):
    points_of: str
    usable_in: str
    points_of_recorded_at: datetime | None = None
    usable_in_recorded_at: datetime | None = None
    ended_at: datetime | None = None
    ended_by: str | None = None
    in_force: bool


class AgreementList(Out):
    agreements: list[Agreement]


class DepartmentCreate(Strict):
    client_id: ClientId
    code: DepartmentCode
    name: LongName
    budget: Annotated[int, Field(strict=True, ge=0, le=MAX_BUDGET)]
    point_code: PointCode | None = None


class DepartmentPath(Strict):
    department: DepartmentId


class BudgetSet(Strict):
    client_id: ClientId
    budget: Annotated[int, Field(strict=True, ge=0, le=MAX_BUDGET)]


class GrantKindCreate(Strict):
    client_id: ClientId
    code: Slug
    name: LongName
    max_amount: Amount | None = None


class Department(Out):
    id: str
    municipality: str
    name: str
    point_code: str
    budget: int
    granted: int
    left: int
    grant_kinds: list[GrantKind]
    created_at: datetime


class DepartmentList(Out):
    departments: list[Department]


class GrantBatchCreate(Strict):
    """A CSV file of grants (base64 of its bytes: UTF-8 or cp932). ``dry_run``: check and total only."""

    client_id: ClientId
    department: DepartmentId
    file: Annotated[str, Field(min_length=1, max_length=64 * 1024 * 1024)]
    filename: Annotated[str, Field(max_length=200), PlainText] | None = None
    dry_run: Flag = False


class GrantBatch(Out):
    department: str
    point_code: str
    file_sha256: str
    encoding: str | None = None
    rows: int
    holders: int
    points: int
    by_kind: list[GrantBatchKind]
    budget_left_before: int | None = None
    budget_left_after: int
    expires_at: datetime | None = None
    applied: bool
    already_applied: bool
    batch_id: int | None = None
    applied_at: datetime | None = None


class GrantReportQuery(Strict):
    municipality: MunicipalityCode
    from_date: IsoDate
    to_date: IsoDate
    department: DepartmentId | None = None


class GrantReport(Out):
    municipality: str
    from_date: str
    to_date: str
    department: str | None = None
    rows: list[GrantReportRow]
    total: GrantReportTotal


class PlacePath(Strict):
    place_id: PlaceId


class PlaceItemPath(Strict):
    place_id: PlaceId
    code: Slug


class PriceItemSet(Strict):
    client_id: ClientId
    code: Slug
    name: Name
    price: Amount


class PriceList(Out):
    place: str
    name: str
    items: list[PriceItem]


class ExpireCreate(Strict):
    """Sweep what expired by ``as_of`` (a date: its start in JST; never in the future)."""

    client_id: ClientId
    as_of: Instant
    municipality: MunicipalityCode | None = None


class ExpiryReport(Out):
    as_of: datetime
    municipality: str | None = None
    transfers: int
    lots: int
    holders: int
    points: int
    point_codes: list[ExpiredCode]
    # Unused paper vouchers past their date, returned to their municipality.
    vouchers: list[VoucherExpiry] = []


class EventCreate(Strict):
    client_id: ClientId
    point_code: PointCode
    organiser: PlaceId


class Event(Out):
    point_code: str
    name: str
    organiser: str
    status: str
    pool_balance: int
    created_at: datetime
    handed_over_at: datetime | None = None
    handover_transfer: int | None = None


class EventList(Out):
    events: list[Event]


class SupportCreate(Strict):
    """A holder directs points of the event's code to its pool; ``nickname``: how the organiser may
    thank them (the MyKey ID and this are all the organiser sees)."""

    client_id: ClientId
    mykey_id: MyKeyIdText
    amount: Amount
    nickname: Nickname | None = None
    reason: CorrectionReason


class EventReport(Event):
    supporters: list[Supporter]
    total: int
    handover: Transfer | None = None


class RewardCreate(Strict):
    client_id: ClientId
    code: Slug
    municipality: MunicipalityCode
    name: LongName
    description: Description | None = None
    price: Amount
    stock: Annotated[int, Field(strict=True, ge=1, le=1_000_000)]
    per_holder: Annotated[int, Field(strict=True, ge=1, le=1000)] = 1
    starts_at: Instant
    ends_at: Instant
    point_code: PointCode | None = None
    place: PlaceId | None = None


class Reward(PublicReward):
    stock: int
    claimed: int
    created_at: datetime


class RewardList(Out):
    rewards: list[Reward]


class PublicRewardList(Out):
    rewards: list[PublicReward]


class RewardPath(Strict):
    code: Slug


class ClaimCreate(Strict):
    client_id: ClientId
    mykey_id: MyKeyIdText
    reason: CorrectionReason


class RewardClaims(Reward):
    claims: list[ClaimEntry]


class TransitExchangeCreate(Strict):
    """Points to the transit card the holder linked at the company's service (kind transport)."""

    client_id: ClientId
    mykey_id: MyKeyIdText
    place: PlaceId
    amount: Amount
    point_code: PointCode | None = None
    reason: CorrectionReason


class TransitDailyQuery(Strict):
    date: IsoDate


class TransitDaily(Out):
    place: str
    name: str
    date: str
    exchanges: list[TransitLine]
    total: int
