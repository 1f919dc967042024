"""The staff endpoints' request and reply shapes (validated and documented in /openapi.json)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field

from mkp_core.wire import ClientId, MunicipalityCode, Out, Strict


class ApplicationPath(Strict):
    application_id: Annotated[int, Field(strict=False, gt=0, le=2**62)]


class ApplicationQuery(Strict):
    status: Literal["pending", "approved", "rejected", "all"] = "pending"


class Application(Out):
    id: int
    municipality: str
    name: str
    prefecture: str
    department: str
    contact_name: str
    contact_email: str
    status: str
    created_at: datetime
    decided_at: datetime | None
    decided_by: str | None


class ApplicationList(Out):
    applications: list[Application]


class InvitationCreate(Strict):
    """Whom to invite: an admin, a department's clerk or a viewer of a municipality (omitted: one
    of the platform's own staff, by the central operator)."""

    client_id: ClientId
    municipality: MunicipalityCode | None = None
    role: Literal["admin", "clerk", "viewer"]
    department: Annotated[str, Field(min_length=1, max_length=40)] | None = None


class Invitation(Out):
    link: str = Field(description="the one-time link (shown once; valid 72 hours)")
    municipality: str | None
    role: str
    department: str | None
    expires_at: datetime


class Approved(Application):
    invitation: Invitation
