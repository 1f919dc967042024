"""Request and response schemas of the terminal registry's endpoints (places, enrollment, terminals).

Only the server imports these; what the agent or mkp-admin also reads stays in ``mkp_core.wire``,
with the field types every schema is built from.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import Field

from mkp_core.wire import (
    ClientId,
    LongName,
    Memo,
    MunicipalityCode,
    Name,
    Out,
    PlaceId,
    PlaceKind,
    ServiceCode,
    Strict,
    TerminalId,
)


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
