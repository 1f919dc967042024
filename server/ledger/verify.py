"""Ledger invariants, checked in one snapshot: what `mkp-admin ledger verify` reports."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, func, literal, select, union_all

from server.db.tables import accounts, transfers
from server.ledger.accounts import NON_NEGATIVE_KINDS


@dataclass
class VerifyReport:
    accounts: int = 0
    transfers: int = 0
    point_codes: int = 0
    breaches: list[dict[str, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.breaches

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "accounts": self.accounts,
            "transfers": self.transfers,
            "point_codes": self.point_codes,
            "breaches": self.breaches,
        }


def verify(conn: Connection) -> VerifyReport:
    """Every point code sums to zero, no wallet is below zero, posted totals equal the transfers."""
    report = VerifyReport()
    balance = accounts.c.credits_posted - accounts.c.debits_posted
    report.accounts = conn.execute(select(func.count()).select_from(accounts)).scalar_one()
    report.transfers = conn.execute(select(func.count()).select_from(transfers)).scalar_one()

    sums = conn.execute(
        select(accounts.c.point_code, func.sum(balance))
        .group_by(accounts.c.point_code)
        .order_by(accounts.c.point_code)
    ).all()
    report.point_codes = len(sums)
    for code, total in sums:
        if int(total) != 0:
            report.breaches.append(
                {"code": "point_code_unbalanced", "message": f"point code {code} sums to {int(total)}, not 0"}
            )

    for owner, code, value in conn.execute(
        select(accounts.c.owner, accounts.c.point_code, balance)
        .where(accounts.c.kind.in_(NON_NEGATIVE_KINDS), balance < 0)
        .order_by(accounts.c.id)
    ):
        report.breaches.append(
            {"code": "negative_balance", "message": f"{owner} holds {int(value)} of {code}, below zero"}
        )

    moves = union_all(
        select(
            transfers.c.debit_account_id.label("aid"), transfers.c.amount.label("d"), literal(0).label("c")
        ),
        select(
            transfers.c.credit_account_id.label("aid"), literal(0).label("d"), transfers.c.amount.label("c")
        ),
    ).subquery()
    totals = (
        select(moves.c.aid, func.sum(moves.c.d).label("d"), func.sum(moves.c.c).label("c"))
        .group_by(moves.c.aid)
        .subquery()
    )
    for owner, code, dp, cp, d, c in conn.execute(
        select(
            accounts.c.owner,
            accounts.c.point_code,
            accounts.c.debits_posted,
            accounts.c.credits_posted,
            func.coalesce(totals.c.d, 0),
            func.coalesce(totals.c.c, 0),
        )
        .select_from(accounts.outerjoin(totals, totals.c.aid == accounts.c.id))
        .where(
            (accounts.c.debits_posted != func.coalesce(totals.c.d, 0))
            | (accounts.c.credits_posted != func.coalesce(totals.c.c, 0))
        )
        .order_by(accounts.c.id)
    ):
        report.breaches.append(
            {
                "code": "posted_mismatch",
                "message": f"{owner} {code}: posted debits/credits {int(dp)}/{int(cp)}, transfers say {int(d)}/{int(c)}",
            }
        )
    return report
