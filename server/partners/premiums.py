"""Premium campaigns: a bonus on conversions in a period, capped per holder and in total.

A campaign of a partner gives ``percent`` % of each conversion's points (rounded down) or a
``fixed`` bonus, between ``starts_at`` and ``ends_at``, at most ``cap_per_holder`` to one holder,
at most ``budget`` in all. It is funded by the partner (``partner:<ID>`` pays) or by one
municipality (``muni:<code>`` pays, and only for conversions into that municipality's points).
The bonus is its own ``premium`` transfer into holding, so the settlement shows who paid it.

Past the budget: a conversion that would go over it gets the rest of the budget (the campaign then
stops by itself: ``exhausted``), and the conversions after it none; the conversion itself always
goes through. The campaign row is locked while its bonus is decided, so two conversions at once
never spend the same rest twice.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, bindparam, func, insert, select, update

from mkp_core.errors import MkpError
from server.db.engine import chunked, inserted_id
from server.partners.registry import Partner
from server.partners.tables import conversions, premium_campaigns
from server.platform.municipalities.service import get_municipality
from server.platform.operators.service import Operator


@dataclass(frozen=True)
class Premium:
    campaign_id: int
    amount: int
    funder: str  # the account that pays it


@dataclass(frozen=True)
class CampaignTerms:
    name: str
    starts_at: datetime
    ends_at: datetime
    budget: int
    percent: int | None = None
    fixed: int | None = None
    cap_per_holder: int | None = None
    funded_by: str = "partner"
    municipality: str | None = None


def _check(conn: Connection, op: Operator, terms: CampaignTerms) -> None:
    if (terms.percent is None) == (terms.fixed is None):
        raise MkpError(
            "invalid_premium", "a campaign gives either a percentage or a fixed bonus, one of them"
        )
    if terms.ends_at <= terms.starts_at:
        raise MkpError("invalid_period", "a campaign ends after it starts")
    if terms.funded_by == "municipality":
        if terms.municipality is None:
            raise MkpError("municipality_required", "a campaign funded by a municipality names it")
        get_municipality(conn, terms.municipality)
        op.require_scope(terms.municipality)
    else:
        op.require_central()
        if terms.municipality is not None:
            raise MkpError("invalid_funder", "a partner-funded campaign names no municipality")


def add(conn: Connection, op: Operator, partner: Partner, terms: CampaignTerms) -> dict[str, Any]:
    """Start a campaign (a municipality's operator may fund one for its own points only)."""
    _check(conn, op, terms)
    result = conn.execute(
        insert(premium_campaigns).values(
            partner_id=partner.id,
            name=terms.name,
            percent=terms.percent,
            fixed=terms.fixed,
            starts_at=terms.starts_at,
            ends_at=terms.ends_at,
            cap_per_holder=terms.cap_per_holder,
            budget=terms.budget,
            used=0,
            funded_by=terms.funded_by,
            municipality_code=terms.municipality,
            created_by=op.actor,
            created_at=datetime.now(UTC),
        )
    )
    return get(conn, inserted_id(result))


def _status(row: Any, now: datetime) -> str:
    if row.used >= row.budget:
        return "exhausted"
    if now < row.starts_at:
        return "scheduled"
    return "running" if now < row.ends_at else "ended"


def _view(row: Any, now: datetime | None = None) -> dict[str, Any]:
    return {
        "campaign_id": row.id,
        "partner": row.partner_id,
        "name": row.name,
        "percent": row.percent,
        "fixed": row.fixed,
        "starts_at": row.starts_at,
        "ends_at": row.ends_at,
        "cap_per_holder": row.cap_per_holder,
        "budget": int(row.budget),
        "used": int(row.used),
        "funded_by": row.funded_by,
        "municipality": row.municipality_code,
        "status": _status(row, now or datetime.now(UTC)),
    }


def get(conn: Connection, campaign_id: int) -> dict[str, Any]:
    return _view(conn.execute(select(premium_campaigns).where(premium_campaigns.c.id == campaign_id)).one())


def list_campaigns(conn: Connection, partner: Partner) -> list[dict[str, Any]]:
    rows = conn.execute(
        select(premium_campaigns)
        .where(premium_campaigns.c.partner_id == partner.id)
        .order_by(premium_campaigns.c.id)
    )
    return [_view(r) for r in rows]


#: A partner's campaigns running at ``now`` with budget left, locked: built once, as every
#: conversion asks.
_RUNNING = (
    select(premium_campaigns)
    .where(
        premium_campaigns.c.partner_id == bindparam("partner"),
        premium_campaigns.c.starts_at <= bindparam("now"),
        premium_campaigns.c.ends_at > bindparam("now"),
        premium_campaigns.c.used < premium_campaigns.c.budget,
    )
    .order_by(premium_campaigns.c.id)
    .with_for_update()
)


@dataclass
class PremiumBook:
    """A partner's running campaigns, locked for the transaction, and the bonuses of many conversions
    decided in memory one after the other (a batch's orders, in their order): each sees what the
    ones before it used of the budgets and of each holder's cap, as one conversion a request would.
    :meth:`save` then books what they used, one statement a campaign."""

    partner: Partner
    campaigns: list[Any]
    used: dict[int, int]
    had: dict[tuple[int, int], int]  # (campaign, holder) -> the premium paid to them so far
    spent: dict[int, int] = field(default_factory=dict)

    @classmethod
    def open(cls, conn: Connection, partner: Partner, holders: Collection[int], now: datetime) -> PremiumBook:
        """The campaigns running at ``now`` with budget left (locked), and what ``holders`` had of them
        (none asked for when the partner was read with no campaign open in this transaction)."""
        if partner.campaigns_open is False:
            return cls(partner, [], {}, {})
        rows = conn.execute(_RUNNING, {"partner": partner.id, "now": now}).all()
        capped = [r.id for r in rows if r.cap_per_holder is not None]
        had: dict[tuple[int, int], int] = {}
        for part in chunked(sorted(set(holders)) if capped else []):
            paid = conn.execute(
                select(conversions.c.campaign_id, conversions.c.mykey, func.sum(conversions.c.premium))
                .where(conversions.c.campaign_id.in_(capped), conversions.c.mykey.in_(part))
                .group_by(conversions.c.campaign_id, conversions.c.mykey)
            )
            had.update({(int(c), int(m)): int(total) for c, m, total in paid})
        return cls(partner, list(rows), {int(r.id): int(r.used) for r in rows}, had)

    def offer(self, holder: int, point_code_municipality: str, points: int) -> Premium | None:
        """The bonus one conversion of ``points`` for ``holder`` would get (nothing counted yet)."""
        for row in self.campaigns:
            if row.funded_by == "municipality" and row.municipality_code != point_code_municipality:
                continue
            amount = self._capped(row, holder, points)
            if amount <= 0:
                continue
            funder = self.partner.account if row.funded_by == "partner" else f"muni:{row.municipality_code}"
            return Premium(int(row.id), amount, funder)
        return None

    def take(self, holder: int, premium: Premium) -> None:
        """Count an offered bonus against its campaign's budget and the holder's cap."""
        campaign = premium.campaign_id
        self.used[campaign] += premium.amount
        self.spent[campaign] = self.spent.get(campaign, 0) + premium.amount
        self.had[(campaign, holder)] = self.had.get((campaign, holder), 0) + premium.amount

    def _capped(self, row: Any, holder: int, points: int) -> int:
        amount = points * row.percent // 100 if row.percent is not None else int(row.fixed)
        amount = min(amount, int(row.budget) - self.used[int(row.id)])
        if row.cap_per_holder is not None:
            amount = min(amount, int(row.cap_per_holder) - self.had.get((int(row.id), holder), 0))
        return amount

    def save(self, conn: Connection) -> None:
        """Book what the decided bonuses used of each campaign's budget."""
        for campaign, amount in self.spent.items():
            conn.execute(
                update(premium_campaigns)
                .where(premium_campaigns.c.id == campaign)
                .values(used=premium_campaigns.c.used + amount)
            )
        self.spent.clear()
