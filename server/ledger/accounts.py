"""Accounts: one per (owner, point code). The owner's prefix says what kind of account it is.

Owners are strings ``<prefix>:<id>``: ``muni:142018`` is a municipality's budget (it issues
points, so it may go below zero), ``holder:resident-1`` a resident's wallet (never below zero).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, select

from mkp_core.errors import MkpError
from server.db.tables import accounts


@dataclass(frozen=True)
class AccountKind:
    name: str
    may_go_negative: bool


# Prefix -> kind. Issuers (municipality budgets, partner companies) may go negative: their
# negative balance is exactly the points they have put into circulation.
ACCOUNT_KINDS: dict[str, AccountKind] = {
    "muni": AccountKind("budget", True),
    "partner": AccountKind("partner", True),
    "holder": AccountKind("wallet", False),
    "mykey": AccountKind("wallet", False),
    "payee": AccountKind("merchant", False),
    "holding": AccountKind("holding", False),
    "voucher": AccountKind("voucher", False),
}
NON_NEGATIVE_KINDS = sorted({k.name for k in ACCOUNT_KINDS.values() if not k.may_go_negative})


def account_kind(owner: str) -> AccountKind:
    """The kind of the account an owner string names; ``MkpError`` for an unknown prefix."""
    prefix, sep, rest = owner.partition(":")
    kind = ACCOUNT_KINDS.get(prefix)
    if not sep or not rest or kind is None:
        raise MkpError("invalid_owner", f"not an account owner: {owner!r}")
    return kind


def balances(conn: Connection, owner: str) -> dict[str, int]:
    """Balance per point code of one owner (credits minus debits)."""
    rows = conn.execute(
        select(accounts.c.point_code, accounts.c.credits_posted - accounts.c.debits_posted)
        .where(accounts.c.owner == owner)
        .order_by(accounts.c.point_code)
    )
    return {code: int(balance) for code, balance in rows}
