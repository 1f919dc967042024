"""The dashboard's figures: what a town's points did, month by month, read from the ledger.

Why from the ledger and not from counters kept aside: the transfers are the one truth (append-only,
verified by ``mkp-admin ledger verify``), so a chart can never disagree with a statement. Each
figure is a :class:`Figure`: a title, its columns and rows, what the chart and its CSV both draw.

The categories, per transfer of the town's point codes:

* **granted**: ``grant`` transfers (departments to residents);
* **spent**: any transfer (not a reversal) that credits a place (``payee:``): card spends, voucher
  redemptions, event handovers, transit exchanges;
* **expired**: ``expire`` transfers (wallets to breakage);
* **converted**: ``convert`` and ``premium`` transfers (partner points coming in).

Months are calendar months in Japan time, like settlement periods; a figure covers the last
:data:`MONTHS` of them, the current one included. Nothing here imports Flask: the pages draw it.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, and_, case, func, literal, or_, select
from sqlalchemy.sql import ColumnElement

from mkp_core.dates import JST
from mkp_core.i18n import N_
from server.ledger.tables import accounts, point_codes, transfers
from server.platform.tables import places
from server.points.tables import departments, grants
from server.vouchers.tables import vouchers

MONTHS = 12
CATEGORIES = (N_("granted"), N_("spent"), N_("expired"), N_("converted"))
WALLET_PREFIXES = ("mykey:", "holder:")


@dataclass(frozen=True)
class Figure:
    """One chart's data: ``columns`` name each row's cells (the first is the row's label)."""

    name: str
    title: str
    columns: tuple[str, ...]
    rows: list[tuple[Any, ...]]

    def total(self, column: int) -> int:
        return sum(int(row[column]) for row in self.rows)


def months(now: datetime, count: int = MONTHS) -> list[tuple[str, datetime, datetime]]:
    """The last ``count`` JST months up to ``now``'s: label ("2026-11"), start and end (UTC)."""
    local = now.astimezone(JST)
    year, month = local.year, local.month
    found: list[tuple[str, datetime, datetime]] = []
    for _ in range(count):
        start = datetime(year, month, 1, tzinfo=JST)
        end = datetime(year + (month == 12), month % 12 + 1, 1, tzinfo=JST)
        found.append((f"{year:04d}-{month:02d}", start.astimezone(UTC), end.astimezone(UTC)))
        year, month = (year - 1, 12) if month == 1 else (year, month - 1)
    return list(reversed(found))


def codes_of(conn: Connection, municipality: str | None) -> list[str]:
    """The point codes a figure counts: one town's, or every town's (``None``: the platform's staff)."""
    query = select(point_codes.c.code).order_by(point_codes.c.code)
    if municipality is not None:
        query = query.where(point_codes.c.municipality_code == municipality)
    return list(conn.execute(query).scalars())


def _category() -> ColumnElement[str]:
    credit = accounts.c.owner
    return case(
        (transfers.c.kind == "grant", literal("granted")),
        (transfers.c.kind == "expire", literal("expired")),
        (transfers.c.kind.in_(("convert", "premium")), literal("converted")),
        (and_(transfers.c.kind != "reverse", credit.like("payee:%")), literal("spent")),
        else_=literal("other"),
    )


def points_by_month(conn: Connection, codes: list[str], now: datetime) -> Figure:
    """Points granted, spent, expired and converted in each of the last months."""
    category = _category().label("category")
    rows: list[tuple[Any, ...]] = []
    for label, start, end in months(now):
        query = (
            select(category, func.coalesce(func.sum(transfers.c.amount), 0))
            .select_from(transfers.join(accounts, accounts.c.id == transfers.c.credit_account_id))
            .where(
                transfers.c.point_code.in_(codes),
                transfers.c.created_at >= start,
                transfers.c.created_at < end,
            )
            .group_by(category)
        )
        sums = {name: int(total) for name, total in conn.execute(query)}
        rows.append((label, *(sums.get(name, 0) for name in CATEGORIES)))
    return Figure("months", N_("Points per month"), (N_("Month"), *CATEGORIES), rows)


def granted_by_department(conn: Connection, codes: list[str], now: datetime) -> Figure:
    """Points each department granted over the last months (reversed grants still count: the
    ledger shows both)."""
    since = months(now)[0][1]
    query = (
        select(departments.c.name, func.coalesce(func.sum(transfers.c.amount), 0))
        .select_from(
            grants.join(transfers, transfers.c.id == grants.c.transfer_id).join(
                departments, departments.c.id == grants.c.department_id
            )
        )
        .where(transfers.c.point_code.in_(codes), transfers.c.created_at >= since)
        .group_by(departments.c.name)
        .order_by(func.sum(transfers.c.amount).desc())
    )
    rows = [(name, int(total)) for name, total in conn.execute(query)]
    return Figure("departments", N_("Granted by department"), (N_("Department"), N_("granted")), rows)


def spent_by_place(conn: Connection, codes: list[str], now: datetime) -> Figure:
    """Points that reached each place over the last months."""
    since = months(now)[0][1]
    owner = func.substr(accounts.c.owner, len("payee:") + 1)
    query = (
        select(places.c.name, func.coalesce(func.sum(transfers.c.amount), 0))
        .select_from(
            transfers.join(accounts, accounts.c.id == transfers.c.credit_account_id).join(
                places, places.c.id == owner
            )
        )
        .where(
            transfers.c.point_code.in_(codes),
            transfers.c.created_at >= since,
            transfers.c.kind != "reverse",
            accounts.c.owner.like("payee:%"),
        )
        .group_by(places.c.name)
        .order_by(func.sum(transfers.c.amount).desc())
    )
    rows = [(name, int(total)) for name, total in conn.execute(query)]
    return Figure("places", N_("Spent by place"), (N_("Place"), N_("spent")), rows)


def liability(conn: Connection, codes: list[str]) -> Figure:
    """What the town still owes in points: in residents' wallets, on hold, in unused paper vouchers."""
    held = accounts.c.credits_posted - accounts.c.debits_posted
    kind = case(
        (or_(*(accounts.c.owner.like(prefix + "%") for prefix in WALLET_PREFIXES)), literal("wallets")),
        (accounts.c.owner.like("holding:%"), literal("on hold")),
        (accounts.c.owner.like("voucher:%"), literal("vouchers")),
        else_=literal("other"),
    ).label("kind")
    query = (
        select(accounts.c.point_code, kind, func.coalesce(func.sum(held), 0))
        .where(accounts.c.point_code.in_(codes))
        .group_by(accounts.c.point_code, kind)
    )
    by_code: dict[str, dict[str, int]] = defaultdict(dict)
    for code, name, total in conn.execute(query):
        by_code[code][name] = int(total)
    parts = (N_("wallets"), N_("on hold"), N_("vouchers"))
    rows = [(code, *(by_code[code].get(part, 0) for part in parts)) for code in codes]
    return Figure("liability", N_("Outstanding points"), (N_("Point code"), *parts), rows)


def vouchers_by_month(conn: Connection, codes: list[str], now: datetime) -> Figure:
    """Paper vouchers issued and redeemed each month (points)."""
    rows: list[tuple[Any, ...]] = []
    for label, start, end in months(now):
        issued = _voucher_sum(conn, codes, vouchers.c.issued_at, start, end)
        redeemed = _voucher_sum(conn, codes, vouchers.c.redeemed_at, start, end)
        rows.append((label, issued, redeemed))
    return Figure("vouchers", N_("Paper vouchers"), (N_("Month"), N_("issued"), N_("redeemed")), rows)


def _voucher_sum(conn: Connection, codes: list[str], at: Any, start: datetime, end: datetime) -> int:
    query = select(func.coalesce(func.sum(vouchers.c.amount), 0)).where(
        vouchers.c.point_code.in_(codes), at >= start, at < end
    )
    return int(conn.execute(query).scalar_one())


def breakage(months_figure: Figure) -> Figure:
    """Breakage: points that expired unused, and their share of the points granted and converted
    (cumulative over the months shown, in per mille so a row stays whole numbers)."""
    rows: list[tuple[Any, ...]] = []
    issued = expired = 0
    for label, granted, _spent, lapsed, converted in months_figure.rows:
        issued += granted + converted
        expired += lapsed
        rows.append((label, lapsed, expired, expired * 1000 // issued if issued else 0))
    columns = (N_("Month"), N_("expired"), N_("expired so far"), N_("share of issued (‰)"))
    return Figure("breakage", N_("Breakage"), columns, rows)


def one(conn: Connection, name: str, municipality: str | None, now: datetime | None = None) -> Figure | None:
    """One figure by its name (a chart or a CSV needs only its own); None for no such figure."""
    when = now or datetime.now(UTC)
    codes = codes_of(conn, municipality)
    makers = {
        "months": lambda: points_by_month(conn, codes, when),
        "departments": lambda: granted_by_department(conn, codes, when),
        "places": lambda: spent_by_place(conn, codes, when),
        "liability": lambda: liability(conn, codes),
        "vouchers": lambda: vouchers_by_month(conn, codes, when),
        "breakage": lambda: breakage(points_by_month(conn, codes, when)),
    }
    make = makers.get(name)
    return make() if make is not None else None


def dashboard(conn: Connection, municipality: str | None, now: datetime | None = None) -> list[Figure]:
    """Every figure of the dashboard, in the order the page shows them."""
    when = now or datetime.now(UTC)
    codes = codes_of(conn, municipality)
    per_month = points_by_month(conn, codes, when)
    return [
        per_month,
        granted_by_department(conn, codes, when),
        spent_by_place(conn, codes, when),
        liability(conn, codes),
        vouchers_by_month(conn, codes, when),
        breakage(per_month),
    ]
