"""Request and response schemas of the shopping-street points migration.

Only the server imports these; what the agent or mkp-admin also reads stays in ``mkp_core.wire``,
with the field types every schema is built from.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import Field

from mkp_core.wire import (
    ClientId,
    Flag,
    IsoDate,
    MigrationCount,
    MigrationUnclaimed,
    Out,
    PointCode,
    ServiceCode,
    Strict,
)


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


class MigrationReport(Out):
    service: str
    service_name: str
    claimed: MigrationCount
    waiting: MigrationCount
    lapsed: MigrationCount
    unclaimed: list[MigrationUnclaimed]
