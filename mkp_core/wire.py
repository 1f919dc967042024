"""Request and response schemas of the ledger API, shared by the server, mkp-admin and the agent.

The server validates requests with these models and generates /openapi.json from them, so
the documented API and the checked API are one thing. Models are strict: ``"5"`` and ``5.0``
are not amounts, unknown fields are refused.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, WithJsonSchema
from pydantic_core import PydanticCustomError

from mkp_core import cardproof, ids
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
HolderId = Annotated[str, _checked_by(ids.validate_holder_id), _string_schema(ids.HOLDER_ID_RE.pattern)]
ClientId = Annotated[str, _checked_by(ids.validate_client_id), _string_schema(ids.CLIENT_ID_RE.pattern)]
Amount = Annotated[int, Field(strict=True, gt=0, le=ids.MAX_AMOUNT, description="points, a whole number")]


def _plain_text(value: str) -> str:
    """Names and notes people read: no control characters (a NUL cannot even be stored)."""
    if any(ord(ch) < 0x20 or 0x7F <= ord(ch) < 0xA0 for ch in value):
        raise PydanticCustomError("invalid_text", "text must not contain control characters")
    return value


PlainText = AfterValidator(_plain_text)
Name = Annotated[str, Field(min_length=1, max_length=64), PlainText]
LongName = Annotated[str, Field(min_length=1, max_length=128), PlainText]
Memo = Annotated[str, Field(max_length=200), PlainText]

# Codes reported for a field whose value breaks a generic constraint (type, range, length).
FIELD_ERROR_CODES = {
    "amount": "invalid_amount",
    "code": "invalid_municipality_code",
    "municipality": "invalid_municipality_code",
    "point_code": "invalid_point_code",
    "holder": "invalid_holder",
    "payee": "invalid_holder",
    "client_id": "invalid_client_id",
    "service": "invalid_service_code",
    "local_id": "invalid_service_id",
    "mykey_id": "invalid_mykey_id",
    "new_id": "invalid_mykey_id",
    "purpose": "invalid_purpose",
    "reason": "invalid_reason",
    "proof": "invalid_card_proof",
    "old_proof": "invalid_card_proof",
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
    """A municipality grants points from its budget to a holder's wallet."""

    client_id: ClientId
    municipality: MunicipalityCode
    holder: HolderId
    amount: Amount
    point_code: PointCode | None = None
    memo: Memo | None = None


class SpendCreate(Strict):
    """A holder spends points at a payee (a shop or facility)."""

    client_id: ClientId
    holder: HolderId
    payee: HolderId
    point_code: PointCode
    amount: Amount
    memo: Memo | None = None


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


class HolderPath(Strict):
    holder: HolderId


class Balance(Out):
    point_code: str
    balance: int


class Balances(Out):
    holder: str
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
    breaches: list[Breach]


class Health(Out):
    status: str
    database: str
    schema_version: str | None


# --- places and terminals -------------------------------------------------------------------

PlaceId = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]{2,39}$", description="slug: a-z, 0-9, '-'")]
PlaceKind = Annotated[str, Field(pattern="^(" + "|".join(ids.PLACE_KINDS) + ")$")]


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


class TerminalConfig(Out):
    terminal_id: str
    name: str
    place: TerminalPlace
    point_codes: list[str]
    offline: OfflineLimits
    version: str


class TrustList(Out):
    version: str
    jpki_anchors: list[str]
    terminal_ca: str
    release_keys: list[str]


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

MyKeyIdText = Annotated[
    str, _checked_by(mykey_rules.validate_format), _string_schema(mykey_rules.MYKEY_ID_RE.pattern)
]
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
