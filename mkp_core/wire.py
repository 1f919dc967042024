"""Request and response schemas of the ledger API, shared by the server, mkp-admin and the agent.

The server validates requests with these models and generates /openapi.json from them, so
the documented API and the checked API are one thing. Models are strict: ``"5"`` and ``5.0``
are not amounts, unknown fields are refused.
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


#: Why the central operator acts on a resident's behalf (a correction; see server/authority.py).
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


class MunicipalityCreate(Strict):
    client_id: ClientId
    code: MunicipalityCode


class MunicipalityPath(Strict):
    code: MunicipalityCode


class Municipality(Out):
    code: str
    name: str
    prefecture: str
    kana: str
    kind: str
    point_code: str
    created_at: datetime


class MunicipalityList(Out):
    municipalities: list[Municipality]


class PointCodeCreate(Strict):
    """An event's own point code: the municipality's code, '-', and this suffix."""

    client_id: ClientId
    suffix: Annotated[str, Field(pattern=r"^[A-Z0-9]{1,16}$", examples=["FEST2026"])]
    name: LongName


class PointCodeInfo(Out):
    code: str
    municipality: str
    name: str
    kind: str
    created_at: datetime


class PointCodeList(Out):
    point_codes: list[PointCodeInfo]


# --- transfers ------------------------------------------------------------------------------


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


class Grant(Transfer):
    department: str
    grant_kind: str
    mykey_id: str


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


class RefundCreate(Strict):
    client_id: ClientId
    memo: Memo | None = None


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


class Balances(Out):
    mykey_id: str
    balances: list[Balance]


# --- ledger verification --------------------------------------------------------------------


class Breach(Out):
    code: str
    message: str


class VerifyReport(Out):
    ok: bool
    accounts: int
    transfers: int
    point_codes: int
    lots: int = 0
    breaches: list[Breach]


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


class PlaceCreate(Strict):
    client_id: ClientId
    place_id: PlaceId
    name: LongName
    kind: PlaceKind
    municipality: MunicipalityCode
    street: LongName | None = None
    service: ServiceCode | None = None


class Place(Out):
    id: str
    name: str
    kind: str
    municipality: str
    street: str | None = None
    service: str | None = None
    created_at: datetime


class PlaceList(Out):
    places: list[Place]


class EnrollmentCreate(Strict):
    client_id: ClientId
    place: PlaceId
    name: Name
    ttl_hours: Annotated[int, Field(strict=True, ge=1, le=168)] = 24


class Enrollment(Out):
    """A pending terminal and its one-time code.

    The code is in the first reply only: the server keeps nothing but its hash. A retry with the
    same client id gets ``code: null`` and ``code_shown_before: true``; ask for a new code then.
    """

    code: str | None
    code_shown_before: bool = False
    terminal_id: str
    place: str
    name: str
    expires_at: datetime


TerminalId = Annotated[str, Field(pattern=r"^t[0-9a-f]{12}$")]


class TerminalPath(Strict):
    terminal_id: TerminalId


class TerminalRevoke(Strict):
    client_id: ClientId
    reason: Memo | None = None


class Terminal(Out):
    id: str
    name: str
    place: str
    status: str
    created_at: datetime
    enrolled_at: datetime | None = None
    revoked_at: datetime | None = None
    revoke_reason: str | None = None
    key_fingerprint: str | None = None


class TerminalList(Out):
    terminals: list[Terminal]


class EnrollRequest(Strict):
    """Sent by mkp-provision: the one-time code and a CSR for the key made on the terminal."""

    code: Name
    csr: Annotated[str, Field(min_length=1, max_length=8192)]


class Enrolled(Out):
    terminal_id: str
    certificate: str
    ca_certificate: str
    server_time: datetime


class Ping(Out):
    terminal_id: str
    place: str
    server_time: datetime


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


class TerminalConfig(Out):
    terminal_id: str
    name: str
    place: TerminalPlace
    point_codes: list[str]
    price_list: list[PriceListItem] = []
    offline: OfflineLimits
    version: str
    conntest: ConntestAnnouncement | None = None  # the connection test to run next


class TrustList(Out):
    version: str
    jpki_anchors: list[str]
    terminal_ca: str
    release_keys: list[str]
    # The server's voucher keys as a key ring (mkp_core.keyring: key id, PEM, valid from, retired;
    # withdrawn ids): what a terminal verifies paper vouchers with, offline.
    voucher_keys: dict[str, Any] = {"keys": [], "withdrawn": []}


class CrlUpload(Strict):
    client_id: ClientId
    crl: Annotated[str, Field(min_length=1, max_length=64 * 1024 * 1024, description="PEM, or DER in base64")]


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


class ChallengeRequest(Strict):
    purpose: HolderPurpose


class TerminalChallengeRequest(Strict):
    purpose: TerminalPurpose


class Challenge(Out):
    challenge: str
    purpose: str
    expires_at: datetime


class MyKeyRegister(Strict):
    client_id: ClientId
    proof: CardProofBody
    mykey_id: ChosenMyKeyId | None = None
    home_municipality: MunicipalityCode | None = None


class MyKeyRegistered(Out):
    mykey_id: str
    created: bool
    status: str


class MyKeyProve(Strict):
    """A request whose only content is the card's proof (show my MyKey ID; a lookup)."""

    proof: CardProofBody


class MyKeyIdChange(Strict):
    client_id: ClientId
    proof: CardProofBody
    new_id: ChosenMyKeyId


class LinkCreate(Strict):
    client_id: ClientId
    proof: CardProofBody
    service: ServiceCode
    local_id: LocalServiceId


class LinkRemove(Strict):
    client_id: ClientId
    proof: CardProofBody
    service: ServiceCode


class LinkConfirm(Strict):
    client_id: ClientId
    proof: CardProofBody


class ServiceLink(Out):
    service: str
    name: str
    kind: str
    local_id: str
    status: str  # pending | active | removed


class MyKeyRenew(Strict):
    """Move a MyKey ID to a new card: ``proof`` by the new card, and the old card's proof or an
    operator's one-time renewal code."""

    client_id: ClientId
    proof: CardProofBody
    old_proof: CardProofBody | None = None
    renewal_code: Name | None = None


class MyKeySelfSuspend(Strict):
    client_id: ClientId
    proof: CardProofBody


class MyKeyInfo(Out):
    mykey_id: str
    status: str
    changes_left: int
    home_municipality: str | None = None
    created_at: datetime
    suspended_at: datetime | None = None
    suspend_reason: str | None = None
    certificate_not_after: datetime | None = None
    links: list[ServiceLink] = []


class LookupResult(Out):
    service: str
    service_id: str


class ServiceCreate(Strict):
    client_id: ClientId
    code: ServiceCode
    name: LongName
    kind: ServiceKind
    municipality: MunicipalityCode
    confirm_links: Annotated[bool, Field(strict=True)] = False


class Service(Out):
    code: str
    name: str
    kind: str
    municipality: str
    confirm_links: bool
    created_at: datetime


class ServiceList(Out):
    services: list[Service]


class MyKeyPath(Strict):
    mykey_id: MyKeyIdText


class MyKeySuspend(Strict):
    client_id: ClientId
    reason: Reason


class MyKeyResume(Strict):
    client_id: ClientId
    reason: Memo | None = None


class RenewalCodeCreate(Strict):
    client_id: ClientId
    ttl_hours: Annotated[int, Field(strict=True, ge=1, le=168)] | None = None


class RenewalCode(Out):
    """A one-time code for the new card (shown in the first reply only; the server keeps its hash)."""

    code: str | None
    code_shown_before: bool = False
    mykey_id: str
    expires_at: datetime


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


class MyKeyAdminView(Out):
    """What an operator sees: the ID's state and audit, never its service IDs."""

    mykey_id: str
    status: str
    changes_left: int
    home_municipality: str | None = None
    created_at: datetime
    suspended_at: datetime | None = None
    suspend_reason: str | None = None
    certificate: MyKeyCertificate | None = None
    audit: list[AuditEntry]


# --- agent releases --------------------------------------------------------------------------

FileName = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,127}$")]
ReleaseVersion = Annotated[
    str,
    Field(
        pattern=r"^(0|[1-9][0-9]{0,8})\.(0|[1-9][0-9]{0,8})\.(0|[1-9][0-9]{0,8})$",
        description="MAJOR.MINOR.PATCH, e.g. 1.4.2",
    ),
]


class ReleasePublish(Strict):
    client_id: ClientId
    manifest: Annotated[str, Field(min_length=1, description="manifest.json, base64")]
    signature: Annotated[str, Field(min_length=1, max_length=200, description="Ed25519 signature, base64")]
    files: Annotated[
        dict[FileName, str], Field(min_length=1, max_length=32, description="name -> base64 content")
    ]


class ReleaseFileInfo(Out):
    name: str
    sha256: str
    size: int


class ReleaseInfo(Out):
    version: str
    created: str
    files: list[ReleaseFileInfo]
    published_at: datetime | None = None
    withdrawn_at: datetime | None = None
    withdraw_reason: str | None = None


class ReleaseList(Out):
    releases: list[ReleaseInfo]


class ReleasePath(Strict):
    version: ReleaseVersion


class ReleaseWithdraw(Strict):
    """Stop offering a release to terminals; the newest remaining one is offered instead."""

    client_id: ClientId
    reason: Memo | None = None


class ReleaseDownload(Out):
    version: str
    manifest: str
    signature: str


class ReleaseFilePath(Strict):
    version: ReleaseVersion
    name: FileName


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


class PointCodePath(Strict):
    point_code: PointCode


class ExpiryBody(Strict):
    """none | days (N days from the credit) | month_end (end of the credit's month + N months) | fixed."""

    policy: Annotated[str, Field(pattern="^(none|days|month_end|fixed)$")] = "none"
    count: Annotated[int, Field(strict=True, ge=0, le=3660)] | None = None
    last_day: IsoDate | None = None


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


class ExpiryOut(Out):
    policy: str
    count: int | None = None
    last_day: str | None = None
    text: str


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


class GrantKind(Out):
    code: str
    name: str
    max_amount: int | None = None


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


class GrantBatchKind(Out):
    grant_kind: str
    name: str
    rows: int
    points: int


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


class ClientOnly(Strict):
    client_id: ClientId


class PriceItem(Out):
    code: str
    name: str
    price: int


class PriceList(Out):
    place: str
    name: str
    items: list[PriceItem]


class ExpireCreate(Strict):
    """Sweep what expired by ``as_of`` (a date: its start in JST; never in the future)."""

    client_id: ClientId
    as_of: Instant
    municipality: MunicipalityCode | None = None


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


class Support(Transfer):
    mykey_id: str
    nickname: str | None = None
    lots: list[LotMove] = []


class Supporter(Out):
    mykey_id: str
    nickname: str | None = None
    amount: int
    supports: int


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


class TransitExchange(SpendResult):
    card_number: str
    service: str


class TransitDailyQuery(Strict):
    date: IsoDate


class TransitLine(Out):
    transfer_id: int
    card_number: str
    points: int
    at: datetime


class TransitDaily(Out):
    place: str
    name: str
    date: str
    exchanges: list[TransitLine]
    total: int


# --- the counter ----------------------------------------------------------------------------


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


class SyncResult(Out):
    results: list[SyncAnswer]


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


class HeartbeatReply(Out):
    server_time: datetime
    conntest: ConntestAnnouncement | None = None


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


class OfflineExceptionList(Out):
    exceptions: list[OfflineException]


class ExceptionQuery(Strict):
    place: PlaceId | None = None
    since: Annotated[datetime, Field(strict=False)] | None = None


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


class TerminalStatusList(Out):
    terminals: list[TerminalStatus]


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


class ConntestCreate(Strict):
    """A test at ``starts_at``: terminals report at a random moment inside ``window_seconds``."""

    client_id: ClientId
    starts_at: Instant
    window_seconds: Annotated[int, Field(strict=True, ge=1, le=CONNTEST_MAX_WINDOW)] = 60
    municipality: MunicipalityCode | None = None


class ConntestPath(Strict):
    test_id: Annotated[int, Field(strict=False, ge=1, le=2**63 - 1)]


class Conntest(Out):
    id: int
    starts_at: datetime
    window_seconds: int
    ends_at: datetime
    municipality: str | None = None
    state: str  # scheduled | running | closed
    created_by: str
    created_at: datetime


class ConntestList(Out):
    tests: list[Conntest]


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


class ConntestReportCreate(Strict):
    """One terminal's checklist for one test. Sent again (a retry), the same body gets the first answer."""

    started_at: Instant
    checks: Annotated[list[ConntestCheck], Field(min_length=1, max_length=len(CONNTEST_CHECKS))]
    latency_ms: Annotated[int, Field(strict=True, ge=0, le=600_000)] | None = None
    clock_offset_ms: Annotated[int, Field(strict=True, ge=-(10**10), le=10**10)] | None = None
    software_version: Annotated[str, Field(min_length=1, max_length=32), PlainText]
    crl_version: Annotated[str, Field(max_length=64), PlainText] | None = None


class ConntestReceipt(Out):
    test_id: int
    terminal_id: str
    received_at: datetime
    late: bool
    ok: bool


class ConntestFailureCount(Out):
    check: str
    code: str
    count: int


class ConntestLatency(Out):
    count: int
    p50: int | None = None
    p95: int | None = None
    p99: int | None = None


class ConntestStatus(Out):
    test: Conntest
    expected: int
    reported: int
    ok: int
    failed: int
    late: int
    failures: list[ConntestFailureCount]
    latency_ms: ConntestLatency


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


class ConntestReport(ConntestStatus):
    areas: list[ConntestArea]
    missing: list[ConntestMissing]
    failed_terminals: list[ConntestFailure]


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


class VoucherBatchCreate(Strict):
    """``count`` vouchers of ``amount`` points from the municipality's account (or a department's),
    good through ``last_day`` (default: as the code's rule would expire points credited now)."""

    client_id: ClientId
    point_code: PointCode
    amount: Amount
    count: VoucherCount = 1
    department: DepartmentId | None = None
    last_day: IsoDate | None = None


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


class VoucherBatch(Out):
    batch: str
    point_code: str
    amount: int
    count: int
    total: int
    source: str
    key_id: str
    municipality_name: str
    point_name: str
    places: list[str]
    vouchers: list[IssuedVoucher]
    replaces: str | None = None
    # True when this is the stored answer to a retry (same client id): the texts are not in it.
    replayed: bool = False


class VoucherSerials(Strict):
    client_id: ClientId
    serials: Serials


class VoucherVoid(Strict):
    client_id: ClientId
    serials: Serials
    reason: VoidReason = "operator"


class VoucherPath(Strict):
    serial: VoucherSerial


class VoucherPrinted(Out):
    printed: int
    serials: list[str]


class VoucherVoided(Out):
    voided: int
    points_returned: int
    serials: list[str]


class VoucherInfo(Out):
    serial: str
    point_code: str
    amount: int
    status: str
    issued_at: datetime
    expires_at: datetime
    last_day: str
    key_id: str
    batch: str | None = None
    printed_at: datetime | None = None
    voided_at: datetime | None = None
    void_reason: str | None = None
    replaced_by: str | None = None
    redeemed_at: datetime | None = None
    redeemed_place: str | None = None
    redeemed_place_name: str | None = None


class VoucherRedeem(Strict):
    """A voucher shown at this terminal's place: its scanned text (or the serial, typed)."""

    client_id: ClientId
    voucher: VoucherText | None = None
    serial: VoucherSerial | None = None


class VoucherRedeemed(Out):
    serial: str
    point_code: str
    amount: int
    place: str
    place_name: str
    redeemed_at: datetime
    transfer_id: int


class TerminalVoucherIssue(Strict):
    """The card holder turns ``amount`` of their points into a voucher printed here."""

    client_id: ClientId
    amount: Amount
    point_code: PointCode | None = None
    proof: CardProofBody


class VoucherKey(Out):
    key_id: str
    status: str  # signing | retired | withdrawn
    valid_from: datetime
    retired_at: datetime | None = None
    withdrawn_at: datetime | None = None
    withdraw_reason: str | None = None
    # On withdrawal: its vouchers still unused, and their points (void them: void-unused).
    outstanding: int | None = None
    outstanding_points: int | None = None


class VoucherKeyVoided(Out):
    """A withdrawn key's unused vouchers, voided: their points went back where they came from."""

    key_id: str
    voided: int
    points_returned: int
    serials: list[str]  # to reprint when their holders bring them (mkp-admin voucher reprint)


class VoucherKeyList(Out):
    keys: list[VoucherKey]


class VoucherKeyPath(Strict):
    key_id: VoucherKeyId


class VoucherKeyWithdraw(Strict):
    client_id: ClientId
    reason: Annotated[str, Field(min_length=1, max_length=200), PlainText] | None = None


class PhoneLinkCreate(Strict):
    client_id: ClientId
    place: PlaceId


class PhoneLinksRevoked(Out):
    place: str
    place_name: str
    revoked: int


class PhoneLink(Out):
    place: str
    place_name: str
    token: str | None = None  # shown once; a retry gets none
    path: str | None = None


TerminalConfig.model_rebuild()  # its ``conntest`` field names a model of this section


class ServerClock(Out):
    """The server's clock, to the millisecond: what a terminal's clock and round trip are measured by."""

    server_time: datetime


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


class ConversionBatchCreate(Strict):
    """Up to 500 orders in one signed request, each as ``POST /partner/v1/conversions`` takes one
    (a :class:`ConversionCreate`). Each is read on its own: a malformed order (not an object, a
    field out of range) is refused alone with its field's code, as a refused order is."""

    orders: Annotated[
        list[Any],
        Field(min_length=1, max_length=500, description="orders, each a ConversionCreate"),
    ]


class ConversionBatchError(Out):
    code: str
    message: str


class ConversionBatchAnswer(Out):
    order_id: str | None  # None: a malformed order whose order id could not be read
    status: str  # accepted | refused
    conversion: Conversion | None = None
    error: ConversionBatchError | None = None


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


class ReleaseRefused(Out):
    """A conversion the release could not book: it stays on hold (the operator sees why)."""

    conversion_id: int
    points: int
    code: str
    message: str


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


# --- settlement (会計データ連携) and the shopping-street points migration -------------------


def _period_text(value: str) -> str:
    if not (len(value) == 7 and value[4] == "-" and value[:4].isdigit() and value[5:].isdigit()):
        raise PydanticCustomError("invalid_period", "a period is a month, YYYY-MM (e.g. 2026-11)")
    if not 1 <= int(value[5:]) <= 12 or int(value[:4]) < 2000:
        raise PydanticCustomError("invalid_period", "a period is a month, YYYY-MM (e.g. 2026-11)")
    return value


PeriodText = Annotated[str, AfterValidator(_period_text), _string_schema(r"^[0-9]{4}-[0-9]{2}$")]


class SettlementClose(Strict):
    """Close a month (JST) for one municipality, or (central operators, no municipality) for all."""

    client_id: ClientId
    period: PeriodText
    municipality: MunicipalityCode | None = None


class SettlementClosed(Out):
    municipality: str
    period: str
    watermark: int
    closed_by: str
    closed_at: datetime


class SettlementCloseResult(Out):
    period: str
    closed: list[SettlementClosed]


class SettlementQuery(Strict):
    period: PeriodText
    municipality: MunicipalityCode | None = None


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


class SettlementStatements(Out):
    period: str
    statements: list[SettlementStatement]


class SettlementCloseList(Out):
    closes: list[SettlementClosed]


class SettlementQueryMunicipality(Strict):
    municipality: MunicipalityCode | None = None


class MigrationImport(Strict):
    """A street's member balances (CSV, base64 of its bytes: UTF-8 or cp932): each waits until the
    member links the number to a MyKey ID, then is credited once; unclaimed after ``claim_until``
    (JST, the last day) they lapse."""

    client_id: ClientId
    service: ServiceCode
    file: Annotated[str, Field(min_length=1, max_length=64 * 1024 * 1024)]
    claim_until: IsoDate
    point_code: PointCode | None = None
    dry_run: Flag = False


class MigrationSummary(Out):
    service: str
    point_code: str
    file_sha256: str
    encoding: str | None = None
    members: int
    points: int
    zero_balances: int
    lapses_at: datetime
    batch_id: int | None = None
    imported: bool
    already_imported: bool
    claimed_at_import: int


class MigrationServicePath(Strict):
    service: ServiceCode


class MigrationCount(Out):
    members: int
    points: int


class MigrationUnclaimed(Out):
    member_number: str
    balance: int
    point_code: str
    lapses_at: datetime
    state: str  # waiting | lapsed


class MigrationReport(Out):
    service: str
    service_name: str
    claimed: MigrationCount
    waiting: MigrationCount
    lapsed: MigrationCount
    unclaimed: list[MigrationUnclaimed]


# --- My Page: an activation code at a kiosk, a one-time login link at home ---


class MyPageCardRequest(Strict):
    """The card's holder asks for a My Page activation code (at a terminal) or login link (at
    home); the card signed ``cardproof.mypage_action(client_id)`` over a server challenge."""

    client_id: ClientId
    proof: CardProofBody


class MyPageActivationCode(Out):
    """Typed at ``/mypage/signup`` once, within ``expires_at``; shown only in this answer."""

    code: str
    expires_at: datetime
    mykey_id: str


class MyPageLoginLink(Out):
    """Opened in the holder's browser once, within ``expires_at`` (``path`` on this server)."""

    path: str
    expires_at: datetime
