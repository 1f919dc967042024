"""What a holder holds, per point code: the balance, what can be spent now, what has expired and
waits for the sweep, and what expires next and when (from the wallet's lots)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, select

from mkp_core.dates import last_valid_day
from server.db.engine import chunked
from server.ledger.lots import open_lots
from server.ledger.tables import accounts, point_codes


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
    return [held.holding(now) for held in held_by(conn, [wallet])[wallet]]


@dataclass
class Held:
    """One of a wallet's accounts as a batch of its spends sees it: the balance and the open lots
    (earliest-expiring first), less what the batch has taken so far (see :meth:`take`)."""

    point_code: str
    name: str
    balance: int
    lots: list[tuple[datetime | None, int]]

    def holding(self, now: datetime) -> Holding:
        return _holding(self.point_code, self.name, self.balance, self.lots, now)

    def take(self, amount: int, now: datetime) -> bool:
        """Take ``amount`` from the lots valid ``now``, earliest-expiring first, as the ledger's
        lot book does; False (nothing taken) if they hold less."""
        if self.holding(now).spendable < amount:
            return False
        kept: list[tuple[datetime | None, int]] = []
        needed = amount
        for when, points in self.lots:
            step = min(points, needed) if when is None or when > now else 0
            needed -= step
            if points > step:
                kept.append((when, points - step))
        self.lots = kept
        self.balance -= amount
        return True


def held_by(conn: Connection, wallets: list[str]) -> dict[str, list[Held]]:
    """Each wallet's accounts with their open lots, in point-code order: two queries a chunk."""
    found: dict[str, list[Held]] = {w: [] for w in wallets}
    rows: list[Row[Any, Any, Any, Any, Any]] = []
    for part in chunked(sorted(set(wallets))):
        rows.extend(
            conn.execute(
                select(
                    accounts.c.owner,
                    accounts.c.id,
                    accounts.c.point_code,
                    point_codes.c.name,
                    accounts.c.credits_posted - accounts.c.debits_posted,
                )
                .join(point_codes, point_codes.c.code == accounts.c.point_code)
                .where(accounts.c.owner.in_(part))
                .order_by(accounts.c.owner, accounts.c.point_code)
            ).all()
        )
    lots = open_lots(conn, [r[1] for r in rows])
    for owner, aid, code, name, balance in rows:
        found[owner].append(Held(code, name, int(balance), lots[aid]))
    return found


def _holding(
    code: str, name: str, balance: int, lots: list[tuple[datetime | None, int]], now: datetime
) -> Holding:
    valid = [(when, n) for when, n in lots if when is None or when > now]
    spendable = sum(n for _, n in valid)
    first = valid[0][0] if valid else None
    first_amount = sum(n for when, n in valid if when == first) if first is not None else 0
    return Holding(code, name, balance, spendable, balance - spendable, first, first_amount)
