"""Request and response schemas of the connection test.

Only the server imports these; what the agent or mkp-admin also reads stays in ``mkp_core.wire``,
with the field types every schema is built from.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import Field

from mkp_core.wire import (
    CONNTEST_CHECKS,
    CONNTEST_MAX_WINDOW,
    ClientId,
    ConntestArea,
    ConntestCheck,
    ConntestFailure,
    ConntestFailureCount,
    ConntestLatency,
    ConntestMissing,
    Instant,
    MunicipalityCode,
    Out,
    PlainText,
    Strict,
)


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


class ConntestStatus(Out):
    test: Conntest
    expected: int
    reported: int
    ok: int
    failed: int
    late: int
    failures: list[ConntestFailureCount]
    latency_ms: ConntestLatency


class ConntestReport(ConntestStatus):
    areas: list[ConntestArea]
    missing: list[ConntestMissing]
    failed_terminals: list[ConntestFailure]


class ServerClock(Out):
    """The server's clock, to the millisecond: what a terminal's clock and round trip are measured by."""

    server_time: datetime
