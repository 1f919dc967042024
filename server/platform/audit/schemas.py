"""The audit trail's request and reply shapes (validated and documented in /openapi.json)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import Field

from mkp_core.wire import Instant, MunicipalityCode, Out, Strict


class AuditQuery(Strict):
    """Which entries: a municipality's (a scoped operator always sees only its own), since when
    (a date is its start in JST), and a page of them, newest first."""

    municipality: MunicipalityCode | None = None
    since: Instant | None = None
    before_id: Annotated[int, Field(strict=False, gt=0, le=2**62)] | None = None
    limit: Annotated[int, Field(strict=False, gt=0, le=1000)] = 100


class AuditEntry(Out):
    id: int
    at: datetime
    actor: str
    municipality: str | None
    action: str
    target: str
    request_id: str
    reason: str | None


class AuditList(Out):
    entries: list[AuditEntry]
    next_before_id: int | None = Field(
        default=None, description="pass as before_id for the next (older) page; null at the end"
    )
