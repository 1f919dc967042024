"""Request and response schemas of the platform's endpoints (municipalities, operators, places, MyKey, CRLs, audit).

Only the server imports these; what the agent or mkp-admin also reads stays in ``mkp_core.wire``,
with the field types every schema is built from.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import Field

from mkp_core.wire import (
    AuditEntry,
    CardProofBody,
    ChosenMyKeyId,
    ClientId,
    HolderPurpose,
    LocalServiceId,
    LongName,
    Memo,
    MunicipalityCode,
    MyKeyCertificate,
    Name,
    Out,
    Reason,
    ServiceCode,
    ServiceKind,
    Strict,
    TerminalPurpose,
)


class MunicipalityCreate(Strict):
    client_id: ClientId
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


class CrlUpload(Strict):
    client_id: ClientId
    crl: Annotated[str, Field(min_length=1, max_length=64 * 1024 * 1024, description="PEM, or DER in base64")]


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
