"""The ledger API's field types and error codes, and the schemas more than one part reads.

The server validates requests with pydantic models and generates /openapi.json from them, so
the documented API and the checked API are one thing. A schema only one server domain uses
lives in that domain's ``schemas.py``; here stay the field types every schema is built from,
the schemas several domains (or mkp-admin and the tests) share, and their constants. Models
are strict: ``"5"`` and ``5.0`` are not amounts, unknown fields are refused.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, WithJsonSchema
from pydantic_core import PydanticCustomError

from mkp_core import cardproof, dates, ids
from mkp_core import mykey_id as mykey_rules
from mkp_core.errors import MkpError


def _checked_by(check: Callable[[str], str]) -> AfterValidator:
    """A validator running an ``ids`` rule and reporting the rule's own error code."""

    def validate(value: str) -> str:
        try:
            return check(value)
        except MkpError as e:  # ids.InvalidId, mykey_id.InvalidMyKeyId ...
            raise PydanticCustomError(e.code, e.message) from None

    return AfterValidator(validate)


def _string_schema(pattern: str) -> WithJsonSchema:
    return WithJsonSchema({"type": "string", "pattern": pattern})


MunicipalityCode = Annotated[str, _checked_by(ids.validate_municipality_code), _string_schema(r"^[0-9]{6}$")]
PointCode = Annotated[str, _checked_by(ids.validate_point_code), _string_schema(ids.POINT_CODE_RE.pattern)]
ClientId = Annotated[str, _checked_by(ids.validate_client_id), _string_schema(ids.CLIENT_ID_RE.pattern)]
Amount = Annotated[int, Field(strict=True, gt=0, le=ids.MAX_AMOUNT, description="points, a whole number")]
PlaceId = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]{2,39}$", description="slug: a-z, 0-9, '-'")]
DepartmentId = Annotated[
    str, _checked_by(ids.validate_department_id), _string_schema(ids.DEPARTMENT_ID_RE.pattern)
]
DepartmentCode = Annotated[
    str, _checked_by(ids.validate_department_code), _string_schema("^" + ids.DEPARTMENT_CODE_RE.pattern + "$")
]
Slug = Annotated[str, Field(pattern="^" + ids.SLUG_RE.pattern + "$", description="a-z, 0-9, '-'; up to 32")]
MyKeyIdText = Annotated[
    str, _checked_by(mykey_rules.validate_format), _string_schema(mykey_rules.MYKEY_ID_RE.pattern)
]


def _plain_text(value: str) -> str:
    """Names and notes people read: no control characters (a NUL cannot even be stored)."""
    if any(ord(ch) < 0x20 or 0x7F <= ord(ch) < 0xA0 for ch in value):
        raise PydanticCustomError("invalid_text", "text must not contain control characters")
    return value


PlainText = AfterValidator(_plain_text)
Name = Annotated[str, Field(min_length=1, max_length=64), PlainText]
LongName = Annotated[str, Field(min_length=1, max_length=128), PlainText]
Memo = Annotated[str, Field(max_length=200), PlainText]


def _not_blank(value: str) -> str:
    if not value.strip():
        raise PydanticCustomError("invalid_reason", "the reason must say something")
    return value.strip()


#: Why the central operator acts on a resident's behalf (a correction; see server/platform/authority.py).
CorrectionReason = Annotated[
    str,
    Field(min_length=1, max_length=180, examples=["damaged card; paper form signed at the town hall"]),
    PlainText,
    AfterValidator(_not_blank),
]

# Codes reported for a field whose value breaks a generic constraint (type, range, length).
FIELD_ERROR_CODES = {
    "amount": "invalid_amount",
    "code": "invalid_municipality_code",
    "municipality": "invalid_municipality_code",
    "point_code": "invalid_point_code",
    "client_id": "invalid_client_id",
    "service": "invalid_service_code",
    "local_id": "invalid_service_id",
    "mykey_id": "invalid_mykey_id",
    "new_id": "invalid_mykey_id",
    "purpose": "invalid_purpose",
    "reason": "invalid_reason",
    "proof": "invalid_card_proof",
    "old_proof": "invalid_card_proof",
    "department": "invalid_department",
    "grant_kind": "invalid_grant_kind",
    "place": "invalid_place",
    "places": "invalid_place",
    "place_kinds": "invalid_place_kind",
    "item": "invalid_item",
    "quantity": "invalid_quantity",
    "nickname": "invalid_nickname",
    "price": "invalid_amount",
    "budget": "invalid_amount",
    "min_amount": "invalid_amount",
    "max_amount": "invalid_amount",
    "stock": "invalid_stock",
    "per_holder": "invalid_limit",
    "expiry": "invalid_expiry",
    "as_of": "invalid_date",
    "effective_from": "invalid_date",
    "starts_at": "invalid_date",
    "ends_at": "invalid_date",
    "date": "invalid_date",
    "from": "invalid_date",
    "to": "invalid_date",
    "file": "invalid_file",
    "points_of": "invalid_municipality_code",
    "usable_in": "invalid_municipality_code",
    "by": "invalid_municipality_code",
    "organiser": "invalid_place",
}


class Strict(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")


class Out(BaseModel):
    model_config = ConfigDict(extra="ignore")


# --- errors ---------------------------------------------------------------------------------


class ErrorDetail(Out):
    code: str = Field(examples=["insufficient_points"])
    message: str
    details: list[dict[str, Any]] | None = None
    # The request's id (X-Request-Id), also in the server's log lines: quote it to the operator.
    request_id: str | None = None


class ErrorResponse(Out):
    error: ErrorDetail


# --- municipalities -------------------------------------------------------------------------


class MunicipalityPath(Strict):
    code: MunicipalityCode


# --- transfers ------------------------------------------------------------------------------


class Transfer(Out):
    id: int
    client_id: str
    kind: str
    point_code: str
    debit: str
    credit: str
    amount: int
    memo: str | None = None
    reverses: int | None = None
    created_at: datetime
    # The expiry of the lot a credit to a wallet made (None: never expires, or no lot made).
    expires_at: datetime | None = None


class LotMove(Out):
    """Points a transfer took from one lot of the wallet (or gave back to it), and that lot's expiry."""

    expires_at: datetime | None = None
    last_day: str | None = None
    amount: int


class SpendItem(Out):
    code: str
    name: str
    price: int
    quantity: int


class SpendResult(Transfer):
    mykey_id: str | None = None
    place: str
    place_name: str | None = None
    item: SpendItem | None = None
    lots: list[LotMove] = []
    # At a counter: the points of this code the holder can still spend after it.
    balance_after: int | None = None


class NextExpiry(Out):
    amount: int
    expires_at: datetime
    last_day: str


class Balance(Out):
    point_code: str
    name: str
    balance: int
    spendable: int
    expired: int
    next_expiry: NextExpiry | None = None


# --- ledger verification --------------------------------------------------------------------


class Breach(Out):
    code: str
    message: str


class Health(Out):
    status: str
    database: str
    schema_version: str | None


# --- places and terminals -------------------------------------------------------------------

#: A refused kind is answered with the list of kinds (a pattern's error would show a regular expression).
PlaceKind = Annotated[
    str,
    _checked_by(ids.validate_place_kind),
    WithJsonSchema({"type": "string", "enum": list(ids.PLACE_KINDS)}),
]


ServiceCode = Annotated[
    str, _checked_by(ids.validate_service_code), _string_schema(ids.SERVICE_CODE_RE.pattern)
]


TerminalId = Annotated[str, Field(pattern=r"^t[0-9a-f]{12}$")]


class OfflineLimits(Out):
    """What a terminal may take on a card's word while the server cannot be reached."""

    max_spend: int  # points, one spend
    max_card_day: int = 5000  # points, one card, one day, at this terminal
    max_total: int  # points held unsent
    max_hours: int  # longest time without the server
    max_crl_hours: int = 48  # oldest CRL cards are checked against


class TerminalPlace(Out):
    id: str
    name: str
    kind: str
    municipality: str
    street: str | None = None
    service: str | None = None


class PriceListItem(Out):
    code: str
    name: str
    price: int


class SweepReport(Out):
    """What a CRL sweep did: certificates checked and found revoked, the MyKey IDs it suspended, and
    those it found suspended already (a lost card reported before its CRL entry arrived)."""

    checked: int
    revoked: int
    suspended: list[str]
    already_suspended: list[str]


class CrlInfo(Out):
    kind: str
    number: int
    base_number: int | None = None
    issuer_fingerprint: str
    this_update: datetime
    next_update: datetime
    entries: int
    # The sweep the upload ran (MyKey IDs whose certificate is now revoked are suspended).
    sweep: SweepReport | None = None


class CrlDownload(Out):
    """The newest full CRL per CA generation and the deltas on top of it, as the CA signed them."""

    version: str
    crls: list[CrlInfo]
    pem: list[str]


# --- MyKey Platform --------------------------------------------------------------------------

ChosenMyKeyId = Annotated[
    str, _checked_by(mykey_rules.validate_chosen), _string_schema(mykey_rules.MYKEY_ID_RE.pattern)
]
LocalServiceId = Annotated[
    str, _checked_by(ids.validate_local_service_id), _string_schema(ids.LOCAL_SERVICE_ID_RE.pattern)
]
ServiceKind = Annotated[str, Field(pattern="^(" + "|".join(ids.SERVICE_KINDS) + ")$")]
HolderPurpose = Annotated[str, Field(pattern="^(" + "|".join(cardproof.HOLDER_PURPOSES) + ")$")]
TerminalPurpose = Annotated[str, Field(pattern="^(" + "|".join(cardproof.TERMINAL_PURPOSES) + ")$")]
Reason = Annotated[str, Field(min_length=1, max_length=32, examples=["lost"]), PlainText]


class CardProofBody(Strict):
    """A card's answer to a challenge: its certificate and its signature (both base64)."""

    certificate: Annotated[str, Field(min_length=1, max_length=cardproof.MAX_CERTIFICATE_BYTES * 4 // 3 + 4)]
    challenge: Annotated[str, Field(min_length=1, max_length=64)]
    signature: Annotated[str, Field(min_length=1, max_length=cardproof.MAX_SIGNATURE_BYTES * 4 // 3 + 4)]


class MyKeyProve(Strict):
    """A request whose only content is the card's proof (show my MyKey ID; a lookup)."""

    proof: CardProofBody


class MyKeyPath(Strict):
    mykey_id: MyKeyIdText


class AuditEntry(Out):
    action: str
    actor: str
    reason: str | None = None
    at: datetime


class MyKeyCertificate(Out):
    sha256: str
    issuer_fingerprint: str
    serial: str
    not_after: datetime
    status: str


# --- agent releases --------------------------------------------------------------------------

FileName = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,127}$")]
ReleaseVersion = Annotated[
    str,
    Field(
        pattern=r"^(0|[1-9][0-9]{0,8})\.(0|[1-9][0-9]{0,8})\.(0|[1-9][0-9]{0,8})$",
        description="MAJOR.MINOR.PATCH, e.g. 1.4.2",
    ),
]


class ReleaseFileInfo(Out):
    name: str
    sha256: str
    size: int


# --- municipal points: rules, departments and grants, expiry, events, rewards, transit ---------


def _checked_text(check: Callable[[str], object]) -> AfterValidator:
    """A validator running a rule that raises an ``MkpError`` (dates), reporting the rule's code."""

    def validate(value: str) -> str:
        try:
            check(value)
        except MkpError as e:
            raise PydanticCustomError(e.code, e.message) from None
        return value

    return AfterValidator(validate)


IsoDate = Annotated[
    str, _checked_text(dates.parse_date), WithJsonSchema({"type": "string", "format": "date"})
]
Instant = Annotated[
    str,
    _checked_text(dates.parse_instant),
    WithJsonSchema(
        {
            "type": "string",
            "description": "YYYY-MM-DD (the day's start in JST), or an ISO 8601 time with offset",
        }
    ),
]
Nickname = Annotated[str, Field(min_length=1, max_length=32), PlainText]
Description = Annotated[str, Field(max_length=400), PlainText]
Flag = Annotated[bool, Field(strict=True)]
MAX_BUDGET = 10**12


class ExpiryBody(Strict):
    """none | days (N days from the credit) | month_end (end of the credit's month + N months) | fixed."""

    policy: Annotated[str, Field(pattern="^(none|days|month_end|fixed)$")] = "none"
    count: Annotated[int, Field(strict=True, ge=0, le=3660)] | None = None
    last_day: IsoDate | None = None


class ExpiryOut(Out):
    policy: str
    count: int | None = None
    last_day: str | None = None
    text: str


class GrantKind(Out):
    code: str
    name: str
    max_amount: int | None = None


class GrantBatchKind(Out):
    grant_kind: str
    name: str
    rows: int
    points: int


class GrantReportRow(Out):
    department: str
    department_name: str
    grant_kind: str
    grant_kind_name: str
    grants: int
    holders: int
    points: int
    reversed: int
    net: int


class GrantReportTotal(Out):
    grants: int
    points: int
    reversed: int
    net: int


class ClientOnly(Strict):
    client_id: ClientId


class PriceItem(Out):
    code: str
    name: str
    price: int


class ExpiredCode(Out):
    point_code: str
    municipality: str
    breakage_account: str
    lots: int
    holders: int
    points: int


class VoucherExpiry(Out):
    """Unused vouchers of one point code past their date, returned to the municipality."""

    point_code: str
    returned_to: str
    vouchers: int
    points: int
    # Vouchers past their date whose print was never confirmed: voided, points back to their source.
    never_printed: int = 0


class Support(Transfer):
    mykey_id: str
    nickname: str | None = None
    lots: list[LotMove] = []


class Supporter(Out):
    mykey_id: str
    nickname: str | None = None
    amount: int
    supports: int


class PublicReward(Out):
    code: str
    municipality: str
    point_code: str
    name: str
    description: str | None = None
    price: int
    left: int
    per_holder: int
    starts_at: datetime
    ends_at: datetime
    place: str | None = None


class Claim(Out):
    claim_number: str
    reward: str
    name: str
    mykey_id: str
    points: int
    point_code: str
    transfer_id: int
    claimed_at: datetime
    lots: list[LotMove] = []


class ClaimEntry(Out):
    claim_number: str
    mykey_id: str
    transfer_id: int
    claimed_at: datetime


class TransitExchange(SpendResult):
    card_number: str
    service: str


class TransitLine(Out):
    transfer_id: int
    card_number: str
    points: int
    at: datetime


# --- the counter ----------------------------------------------------------------------------


class SyncAnswerError(Out):
    code: str
    message: str


class SyncAnswer(Out):
    client_id: str | None
    seq: int | None
    status: str  # accepted | refused
    transfer_id: int | None = None
    amount: int | None = None
    error: SyncAnswerError | None = None


def _storable_time(value: datetime) -> datetime:
    """A time a terminal reports, kept as it is: from 1970 to 9000 in UTC (year 1 with an offset
    was kept by PostgreSQL as 1 BC, and a list holding it failed)."""
    try:
        utc = value.astimezone(UTC) if value.tzinfo is not None else value.replace(tzinfo=UTC)
    except OverflowError:
        utc = None
    if utc is None or not datetime(1970, 1, 1, tzinfo=UTC) <= utc < datetime(9000, 1, 1, tzinfo=UTC):
        raise PydanticCustomError("invalid_time", "a time must lie between 1970 and 9000")
    return value


TerminalTime = Annotated[datetime, Field(strict=False), AfterValidator(_storable_time)]


class Heartbeat(Strict):
    """What a counter reports of itself every few minutes."""

    version: Annotated[str, Field(max_length=40), PlainText] | None = None
    reader: Annotated[str, Field(max_length=200), PlainText] | None = None
    printer: Annotated[str, Field(max_length=200), PlainText] | None = None
    queue_pending: Annotated[int, Field(strict=True, ge=0, le=2**31 - 1)] = 0
    queue_amount: Annotated[int, Field(strict=True, ge=0, le=2**62)] = 0
    queue_oldest: TerminalTime | None = None  # ISO 8601 in the JSON
    crl_this_update: TerminalTime | None = None


FIELD_ERROR_CODES.update(
    {
        "queue_pending": "invalid_count",
        "queue_amount": "invalid_amount",
        "queue_oldest": "invalid_time",
        "crl_this_update": "invalid_time",
    }
)


class OfflineException(Out):
    client_id: str
    terminal_id: str
    seq: int
    place: str
    place_name: str
    municipality: str
    amount: int | None
    item: str | None
    taken_at: datetime | None
    received_at: datetime
    mykey_id: str | None
    code: str | None
    message: str | None
    kind: str = "spend"  # spend | voucher
    voucher: str | None = None  # a voucher entry's serial, as printed


class TerminalStatus(Out):
    terminal_id: str
    name: str
    status: str
    place: str
    seen_at: datetime | None
    version: str | None
    reader: str | None
    printer: str | None
    queue_pending: int | None
    queue_amount: int | None
    queue_oldest: datetime | None
    crl_this_update: datetime | None


# --- paper vouchers -------------------------------------------------------------------

#: A voucher serial as printed or typed (``7K3M-Q9XD-2RWB-F0TE``; checked by the codec's rule).
VoucherSerial = Annotated[str, Field(min_length=16, max_length=40, description="e.g. 7K3M-Q9XD-2RWB-F0TE")]
#: A voucher's QR text as scanned (``MKP1:...``); the codec refuses anything else with its own code.
VoucherText = Annotated[str, Field(min_length=1, max_length=400)]
VoucherCount = Annotated[int, Field(strict=True, ge=1, le=1000)]
Serials = Annotated[list[VoucherSerial], Field(min_length=1, max_length=1000)]
VoidReason = Annotated[str, Field(min_length=1, max_length=32, examples=["print_failed"]), PlainText]
VoucherKeyId = Annotated[str, Field(pattern="^[0-9a-f]{8}$")]

FIELD_ERROR_CODES.update(
    {
        "count": "invalid_count",
        "serials": "invalid_voucher_serial",
        "serial": "invalid_voucher_serial",
        "voucher": "invalid_voucher",
        "last_day": "invalid_date",
        "key_id": "unknown_voucher_key",
    }
)


# --- the nationwide connection test (全国一斉同時アクセステスト) ------------------------------------

#: Longest window a test may spread its terminals over, seconds (an hour).
CONNTEST_MAX_WINDOW = 3600
#: The checks a terminal runs and reports, in checklist order (agent/checklist.py runs them).
CONNTEST_CHECKS = ("signed_request", "clock", "crl", "reader", "printer", "software")
ConntestCheckName = Annotated[str, Field(pattern="^(" + "|".join(CONNTEST_CHECKS) + ")$")]
CheckReason = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,47}$", description="machine-readable reason")]
Detail = Annotated[str, Field(max_length=200), PlainText]


class ConntestAnnouncement(Out):
    """What a terminal is told of a test it has not reported for yet (config download, heartbeat)."""

    test_id: int
    starts_at: datetime
    window_seconds: int
    ends_at: datetime


class ConntestCheck(Strict):
    name: ConntestCheckName
    ok: Flag
    code: CheckReason | None = None  # why it failed (or warned): clock_skew, crl_stale, no_reader ...
    detail: Detail = ""


class ConntestFailureCount(Out):
    check: str
    code: str
    count: int


class ConntestLatency(Out):
    count: int
    p50: int | None = None
    p95: int | None = None
    p99: int | None = None


class ConntestArea(Out):
    prefecture: str
    municipality: str
    municipality_name: str
    expected: int
    reported: int
    ok: int
    failed: int
    late: int
    missing: int


class ConntestMissing(Out):
    terminal_id: str
    name: str
    place: str
    place_name: str
    address: str
    municipality: str
    prefecture: str


class ConntestFailure(Out):
    terminal_id: str
    name: str
    place: str
    place_name: str
    municipality: str
    prefecture: str
    check: str
    code: str
    detail: str
    late: bool


FIELD_ERROR_CODES.update(
    {
        "window_seconds": "invalid_window",
        "started_at": "invalid_date",
        "checks": "invalid_checks",
        "latency_ms": "invalid_report",
        "clock_offset_ms": "invalid_report",
        "software_version": "invalid_report",
        "crl_version": "invalid_report",
        "test_id": "invalid_test_id",
    }
)


class IssuedVoucher(Out):
    serial: str
    # What the QR code carries: print it. Never stored: a retry of the issue gets None.
    text: str | None = None
    amount: int
    point_code: str
    issued_at: datetime
    expires_at: datetime
    last_day: str
    transfer_id: int


# --- partner points: partners, member links, conversions, holding, premiums, coupons ---

PartnerId = Annotated[str, Field(pattern=r"^[A-Z][A-Z0-9]{1,7}$", description="ANA: 2-8 of A-Z, 0-9")]
MemberNumber = Annotated[
    str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9-]{0,63}$", description="the partner's member number")
]
OrderId = Annotated[
    str,
    Field(
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,39}$",
        description="the partner's order id: its idempotency key, scoped to the partner",
    ),
]
#: A municipality (its general points) or an event's point code (142018-FEST2026).
Destination = PointCode
PartnerAmount = Annotated[
    int, Field(strict=True, gt=0, le=ids.MAX_AMOUNT, description="the partner's own points (miles)")
]
CouponText = Annotated[str, Field(min_length=1, max_length=40, description="XXXX-XXXX-XXXX-XXXX-C, as typed")]
LinkCodeText = Annotated[
    str,
    Field(min_length=1, max_length=40, description="the holder's link code, XXXX-XXXX-XXXX-XXXX-C, as typed"),
]
FIELD_ERROR_CODES.update(
    {
        "partner_id": "invalid_partner",
        "partner": "invalid_partner",
        "member": "invalid_member",
        "link_code": "invalid_link_code",
        "order_id": "invalid_order_id",
        "destination": "invalid_point_code",
        "rate_from": "invalid_rate",
        "rate_to": "invalid_rate",
        "hold_days": "invalid_hold_days",
        "public_key": "invalid_public_key",
        "count": "invalid_count",
        "points": "invalid_amount",
        "percent": "invalid_premium",
        "fixed": "invalid_premium",
        "cap_per_holder": "invalid_amount",
        "expires_at": "invalid_date",
        "funded_by": "invalid_funder",
        "batch_id": "invalid_batch",
        "orders": "invalid_orders",
    }
)


class Conversion(Out):
    conversion_id: int
    partner: str
    order_id: str | None = None
    point_code: str
    partner_amount: int | None = None
    points: int
    premium: int
    campaign_id: int | None = None
    created_at: datetime
    due_at: datetime
    released_at: datetime | None = None


class ConversionBatchError(Out):
    code: str
    message: str


class ConversionBatchAnswer(Out):
    order_id: str | None  # None: a malformed order whose order id could not be read
    status: str  # accepted | refused
    conversion: Conversion | None = None
    error: ConversionBatchError | None = None


class ReleaseRefused(Out):
    """A conversion the release could not book: it stays on hold (the operator sees why)."""

    conversion_id: int
    points: int
    code: str
    message: str


# --- settlement (会計データ連携) and the shopping-street points migration -------------------


def _period_text(value: str) -> str:
    if not (len(value) == 7 and value[4] == "-" and value[:4].isdigit() and value[5:].isdigit()):
        raise PydanticCustomError("invalid_period", "a period is a month, YYYY-MM (e.g. 2026-11)")
    if not 1 <= int(value[5:]) <= 12 or int(value[:4]) < 2000:
        raise PydanticCustomError("invalid_period", "a period is a month, YYYY-MM (e.g. 2026-11)")
    return value


PeriodText = Annotated[str, AfterValidator(_period_text), _string_schema(r"^[0-9]{4}-[0-9]{2}$")]


class SettlementClosed(Out):
    municipality: str
    period: str
    watermark: int
    closed_by: str
    closed_at: datetime


class SettlementLine(Out):
    """One counterparty's movement in the period. ``points`` = credits - debits: positive, it
    received points (a place: the municipality owes it); negative, it gave them (a partner owes
    the municipality, a department granted)."""

    point_code: str
    point_code_name: str
    counterparty_kind: str
    counterparty_id: str
    counterparty_name: str
    debits: int
    credits: int
    points: int
    transfers: int


class SettlementStatement(Out):
    municipality: str
    municipality_name: str
    period: str
    closed: bool
    closed_at: datetime | None = None
    closed_by: str | None = None
    watermark: int | None = None
    lines: list[SettlementLine]


class MigrationCount(Out):
    members: int
    points: int


class MigrationUnclaimed(Out):
    member_number: str
    balance: int
    point_code: str
    lapses_at: datetime
    state: str  # waiting | lapsed
