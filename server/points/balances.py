"""What a holder holds, per point code: the balance, what can be spent now, what has expired and
waits for the sweep, and what expires next and when (from the wallet's lots)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select

from mkp_core.dates import last_valid_day
from server.db.tables import accounts, point_codes
from server.ledger.lots import open_lots


@dataclass(frozen=True)
class Holding:
    point_code: str
    name: str
    balance: int
    spendable: int
    expired: int
    next_expiry: datetime | None  # the earliest expiry among the spendable points
    next_expiry_amount: int

    @property
    def expiry_key(self) -> tuple[bool, float, str]:
        """Points expiring first sort first; points that never expire last."""
        when = self.next_expiry.timestamp() if self.next_expiry else float("inf")
        return (self.next_expiry is None, when, self.point_code)

    def to_dict(self) -> dict[str, Any]:
        nxt = None
        if self.next_expiry is not None:
            nxt = {
                "amount": self.next_expiry_amount,
                "expires_at": self.next_expiry,
                "last_day": last_valid_day(self.next_expiry).isoformat(),
            }
        return {
            "point_code": self.point_code,
            "name": self.name,
            "balance": self.balance,
            "spendable": self.spendable,
            "expired": self.expired,
            "next_expiry": nxt,
        }


def holdings(conn: Connection, wallet: str, now: datetime) -> list[Holding]:
    """The wallet's holdings per point code, in point-code order."""
    rows = conn.execute(
        select(
            accounts.c.id,
            accounts.c.point_code,
            point_codes.c.name,
            accounts.c.credits_posted - accounts.c.debits_posted,
        )
        .join(point_codes, point_codes.c.code == accounts.c.point_code)
        .where(accounts.c.owner == wallet)
        .order_by(accounts.c.point_code)
    ).all()
    lots = open_lots(conn, [r[0] for r in rows])
    return [_holding(code, name, int(balance), lots[aid], now) for aid, code, name, balance in rows]


def _holding(
    code: str, name: str, balance: int, lots: list[tuple[datetime | None, int]], now: datetime
) -> Holding:
    valid = [(when, n) for when, n in lots if when is None or when > now]
    spendable = sum(n for _, n in valid)
    first = valid[0][0] if valid else None
    first_amount = sum(n for when, n in valid if when == first) if first is not None else 0
    return Holding(code, name, balance, spendable, balance - spendable, first, first_amount)
