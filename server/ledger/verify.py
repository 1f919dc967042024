"""Ledger invariants, checked in one snapshot: what `mkp-admin ledger verify` reports."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, func, literal, select, union_all

from server.ledger.accounts import LOT_KINDS, NON_NEGATIVE_KINDS
from server.ledger.periods import check_closed_periods
from server.ledger.tables import accounts, lot_moves, lots, transfers


@dataclass
class VerifyReport:
    accounts: int = 0
    transfers: int = 0
    point_codes: int = 0
    lots: int = 0
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
            "lots": self.lots,
            "breaches": self.breaches,
        }

    def breach(self, code: str, message: str) -> None:
        self.breaches.append({"code": code, "message": message})


def verify(conn: Connection) -> VerifyReport:
    """Every point code sums to zero, no wallet is below zero and no account below its floor,
    posted totals equal the transfers, every transfer's two accounts exist and hold its point
    code (the database has no foreign keys there: migration 0019), each wallet's lots sum to its balance, and every closed
    settlement period still holds what its stored statement says (``server.ledger.periods``)."""
    report = VerifyReport()
    report.accounts = conn.execute(select(func.count()).select_from(accounts)).scalar_one()
    report.transfers = conn.execute(select(func.count()).select_from(transfers)).scalar_one()
    report.lots = conn.execute(select(func.count()).select_from(lots)).scalar_one()
    _point_codes_sum_to_zero(conn, report)
    _no_account_below_its_limit(conn, report)
    _posted_totals_equal_transfers(conn, report)
    _transfers_name_their_accounts(conn, report)
    _lots_sum_to_balances(conn, report)
    _lots_equal_their_moves(conn, report)
    for code, message in check_closed_periods(conn):
        report.breach(code, message)
    return report


def _point_codes_sum_to_zero(conn: Connection, report: VerifyReport) -> None:
    balance = accounts.c.credits_posted - accounts.c.debits_posted

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


def _no_account_below_its_limit(conn: Connection, report: VerifyReport) -> None:
    balance = accounts.c.credits_posted - accounts.c.debits_posted
    for owner, code, value in conn.execute(
        select(accounts.c.owner, accounts.c.point_code, balance)
        .where(accounts.c.kind.in_(NON_NEGATIVE_KINDS), balance < 0)
        .order_by(accounts.c.id)
    ):
        report.breach("negative_balance", f"{owner} holds {int(value)} of {code}, below zero")
    for owner, code, value, floor in conn.execute(
        select(accounts.c.owner, accounts.c.point_code, balance, accounts.c.floor)
        .where(accounts.c.floor.is_not(None), balance < accounts.c.floor)
        .order_by(accounts.c.id)
    ):
        report.breach("below_floor", f"{owner} holds {int(value)} of {code}, below its floor {int(floor)}")


def _posted_totals_equal_transfers(conn: Connection, report: VerifyReport) -> None:
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
        report.breach(
            "posted_mismatch",
            f"{owner} {code}: posted debits/credits {int(dp)}/{int(cp)}, transfers say {int(d)}/{int(c)}",
        )


def _transfers_name_their_accounts(conn: Connection, report: VerifyReport) -> None:
    """Each transfer's debit and credit accounts exist and are of the transfer's point code (which
    then exists too: an account's point code has its foreign key)."""
    debit, credit = accounts.alias("debit"), accounts.alias("credit")
    for transfer_id, code, debit_code, credit_code in conn.execute(
        select(transfers.c.id, transfers.c.point_code, debit.c.point_code, credit.c.point_code)
        .select_from(
            transfers.outerjoin(debit, debit.c.id == transfers.c.debit_account_id).outerjoin(
                credit, credit.c.id == transfers.c.credit_account_id
            )
        )
        .where(
            debit.c.point_code.is_(None)
            | credit.c.point_code.is_(None)
            | (debit.c.point_code != transfers.c.point_code)
            | (credit.c.point_code != transfers.c.point_code)
        )
        .order_by(transfers.c.id)
        .limit(100)
    ):
        report.breach(
            "transfer_accounts_mismatch",
            f"transfer {transfer_id} of {code} names accounts of {debit_code or 'none'} and "
            f"{credit_code or 'none'}",
        )


def _lots_sum_to_balances(conn: Connection, report: VerifyReport) -> None:
    """A wallet's balance is exactly the points left in its lots."""
    left = select(lots.c.account_id, func.sum(lots.c.remaining).label("left")).group_by(lots.c.account_id)
    left_sq = left.subquery()
    balance = accounts.c.credits_posted - accounts.c.debits_posted
    in_lots = func.coalesce(left_sq.c.left, 0)
    for owner, code, value, held in conn.execute(
        select(accounts.c.owner, accounts.c.point_code, balance, in_lots)
        .select_from(accounts.outerjoin(left_sq, left_sq.c.account_id == accounts.c.id))
        .where(accounts.c.kind.in_(LOT_KINDS), balance != in_lots)
        .order_by(accounts.c.id)
    ):
        report.breach("lots_mismatch", f"{owner} holds {int(value)} of {code}, but its lots hold {int(held)}")
    for account_id, held in conn.execute(
        select(left_sq.c.account_id, left_sq.c.left)
        .select_from(left_sq.join(accounts, accounts.c.id == left_sq.c.account_id))
        .where(accounts.c.kind.not_in(LOT_KINDS))
    ):
        report.breach("lots_mismatch", f"account {account_id} is no wallet but has lots holding {int(held)}")


def _lots_equal_their_moves(conn: Connection, report: VerifyReport) -> None:
    """What is left of each lot is what it was given minus what transfers took from it."""
    moved = (
        select(lot_moves.c.lot_id, func.sum(lot_moves.c.amount).label("moved"))
        .group_by(lot_moves.c.lot_id)
        .subquery()
    )
    taken = func.coalesce(moved.c.moved, 0)
    for lot_id, amount, remaining, total in conn.execute(
        select(lots.c.id, lots.c.amount, lots.c.remaining, taken)
        .select_from(lots.outerjoin(moved, moved.c.lot_id == lots.c.id))
        .where(lots.c.remaining != lots.c.amount - taken)
        .order_by(lots.c.id)
        .limit(100)
    ):
        report.breach(
            "lot_moves_mismatch",
            f"lot {lot_id} of {int(amount)} has {int(remaining)} left, but its moves took {int(total)}",
        )
