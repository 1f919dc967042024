"""Accounts: one per (owner, point code). The owner's prefix says what kind of account it is.

Owners are strings ``<prefix>:<id>``: ``muni:142018`` is a municipality's budget (it issues
points, so it may go below zero), ``mykey:17`` a MyKey holder's wallet (never below zero),
``dept:142018-kosodate`` a department's budget (below zero only down to its floor, minus the
budget the municipality gave it), ``payee:yokosuka-museum`` a place that accepts points.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Connection, select, update

from mkp_core.errors import MkpError, NotFound
from server.db.engine import insert_ignoring_conflicts
from server.ledger.tables import accounts


@dataclass(frozen=True)
class AccountKind:
    name: str
    may_go_negative: bool
    #: Opened only by :func:`open_account`, with its floor: a transfer never opens one by itself.
    has_floor: bool = False
    #: Every credit is an expiry lot, and debits take lots (wallets).
    holds_lots: bool = False


# Prefix -> kind. Issuers (municipality budgets, partner companies) may go negative: their
# negative balance is exactly the points they have put into circulation.
ACCOUNT_KINDS: dict[str, AccountKind] = {
    "muni": AccountKind("budget", True),
    "dept": AccountKind("department", True, has_floor=True),
    "partner": AccountKind("partner", True),
    "holder": AccountKind("wallet", False, holds_lots=True),
    "mykey": AccountKind("wallet", False, holds_lots=True),
    "payee": AccountKind("merchant", False),
    "holding": AccountKind("holding", False),
    "voucher": AccountKind("voucher", False),
    "breakage": AccountKind("breakage", False),
    "pool": AccountKind("pool", False),
    # A MyKey service (a shopping street) whose own points were migrated: it issued them, so its
    # negative balance is what its members have claimed (server/street_points).
    "service": AccountKind("service", True),
}
NON_NEGATIVE_KINDS = sorted({k.name for k in ACCOUNT_KINDS.values() if not k.may_go_negative})
LOT_KINDS = sorted({k.name for k in ACCOUNT_KINDS.values() if k.holds_lots})


def account_kind(owner: str) -> AccountKind:
    """The kind of the account an owner string names; ``MkpError`` for an unknown prefix."""
    kind = _KIND_OF.get(owner)
    if kind is not None:
        return kind
    prefix, sep, rest = owner.partition(":")
    kind = ACCOUNT_KINDS.get(prefix)
    if not sep or not rest or kind is None:
        raise MkpError("invalid_owner", f"not an account owner: {owner!r}")
    if len(_KIND_OF) >= KINDS_REMEMBERED:
        _KIND_OF.clear()
    _KIND_OF[owner] = kind
    return kind


#: Owners whose kind :func:`account_kind` remembers (some 150 bytes each); past it, all are
#: forgotten and worked out anew. A batch of transfers asks for the kind of every owner it names,
#: and the next batch names mostly the same wallets again: remembered, the answer is one lookup.
#: Safe without a check: an owner's kind is its prefix's, fixed in :data:`ACCOUNT_KINDS`.
KINDS_REMEMBERED = 100_000
_KIND_OF: dict[str, AccountKind] = {}


def balances(conn: Connection, owner: str) -> dict[str, int]:
    """Balance per point code of one owner (credits minus debits)."""
    rows = conn.execute(
        select(accounts.c.point_code, accounts.c.credits_posted - accounts.c.debits_posted)
        .where(accounts.c.owner == owner)
        .order_by(accounts.c.point_code)
    )
    return {code: int(balance) for code, balance in rows}


def open_account(conn: Connection, owner: str, point_code: str, floor: int | None = None) -> None:
    """Open an account if it does not exist; an account with a floor gets ``floor`` (<= 0) here."""
    kind = account_kind(owner)
    if kind.has_floor and floor is None:
        raise MkpError("floor_required", f"{owner} needs a floor (its budget) to be opened")
    insert_ignoring_conflicts(
        conn,
        accounts,
        [
            {
                "owner": owner,
                "point_code": point_code,
                "kind": kind.name,
                "created_at": datetime.now(UTC),
                "floor": floor if kind.has_floor else None,
            }
        ],
    )


def set_floor(conn: Connection, owner: str, point_code: str, floor: int) -> None:
    """Move an account's floor (a department's budget changed); never above its balance now."""
    row = conn.execute(
        select(accounts.c.id, accounts.c.credits_posted - accounts.c.debits_posted)
        .where(accounts.c.owner == owner, accounts.c.point_code == point_code)
        .with_for_update()
    ).first()
    if row is None:
        raise NotFound("unknown_account", f"no account {owner} for {point_code}")
    if int(row[1]) < floor:
        raise MkpError(
            "budget_below_spent",
            f"{owner} has given out {-int(row[1])} {point_code} points already, more than {-floor}",
        )
    conn.execute(update(accounts).where(accounts.c.id == row[0]).values(floor=floor))


def account_state(conn: Connection, owner: str, point_code: str) -> tuple[int, int | None] | None:
    """(balance, floor) of one account, or None if it was never opened."""
    row = conn.execute(
        select(accounts.c.credits_posted - accounts.c.debits_posted, accounts.c.floor).where(
            accounts.c.owner == owner, accounts.c.point_code == point_code
        )
    ).first()
    return None if row is None else (int(row[0]), None if row[1] is None else int(row[1]))
