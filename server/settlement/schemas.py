"""Request and response schemas of settlement.

Only the server imports these; what the agent or mkp-admin also reads stays in ``mkp_core.wire``,
with the field types every schema is built from.
"""

from __future__ import annotations

from mkp_core.wire import (
    ClientId,
    MunicipalityCode,
    Out,
    PeriodText,
    SettlementClosed,
    SettlementStatement,
    Strict,
)


class SettlementClose(Strict):
    """Close a month (JST) for one municipality, or (central operators, no municipality) for all."""

    client_id: ClientId
    period: PeriodText
    municipality: MunicipalityCode | None = None


class SettlementCloseResult(Out):
    period: str
    closed: list[SettlementClosed]


class SettlementQuery(Strict):
    period: PeriodText
    municipality: MunicipalityCode | None = None


class SettlementStatements(Out):
    period: str
    statements: list[SettlementStatement]


class SettlementCloseList(Out):
    closes: list[SettlementClosed]


class SettlementQueryMunicipality(Strict):
    municipality: MunicipalityCode | None = None
