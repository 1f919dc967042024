"""Converted points on hold: booked into ``holding:<mykey>``, released to the wallet when due.

A conversion (online, or a redeemed coupon) is, in the ledger, a ``convert`` transfer from the
partner's issuer account ``partner:<ID>`` into the holder's holding account, in the destination's
point code, and its premium (if a campaign pays one) a ``premium`` transfer from the partner or
the municipality into the same holding account. Both wait there ``hold_days`` (the partner's;
14 by default). :func:`release_due` then moves each due conversion, points and premium together,
with one ``release`` transfer to the holder's wallet; the lot it makes expires as the point code's
rules say, counted from the day the hold ended. Nothing goes back: conversion is one-way.

The destination is the municipality or event point code the caller named, else the holder's home
municipality (set at registration, changeable with the card); with neither the conversion is
refused (``no_destination``) and nothing is booked.

Limits that hold: a conversion whose release (points plus premium) would be more than one
transfer may carry (``mkp_core.ids.MAX_AMOUNT``) is refused when it is converted
(``conversion_too_large``), never left to stop the release; the release refuses an ``as_of``
in the future (``as_of_in_future``: that would end holds before their time); and a release
that the ledger cannot book is refused alone and reported, the others go.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

from sqlalchemy import Connection, bindparam, insert, select, update

from mkp_core import ids
from mkp_core.errors import MkpError, NotFound
from server import ledger
from server.db.client_ids import server_key
from server.db.engine import chunked, db_timestamp, executemany, new_ids
from server.ledger.tables import point_codes
from server.partners import premiums
from server.partners.registry import Partner
from server.partners.tables import conversions
from server.platform.mykey.registry import MyKey
from server.points.rules import rule_at

log = logging.getLogger(__name__)


def holding_account(holder: int) -> str:
    return f"holding:{holder}"


def destination(conn: Connection, holder: MyKey, requested: str | None) -> str:
    """The point code converted points go to: the one asked for, else the home municipality's."""
    code = chosen_destination(holder, requested)
    return checked_destination(code, known_point_codes(conn, [code]))


def chosen_destination(holder: MyKey, requested: str | None) -> str:
    """The point code asked for, else the holder's home municipality (``no_destination``: neither)."""
    code = requested or holder.home_municipality
    if code is None:
        raise MkpError(
            "no_destination",
            f"MyKey ID {holder.mykey_id} has no home municipality and none was named: "
            "name a destination or set the home municipality",
        )
    ids.validate_point_code(code)
    return code


def checked_destination(code: str, known: Collection[str]) -> str:
    """``code`` if it is one of the platform's point codes (``known``), else ``unknown_point_code``."""
    if code not in known:
        raise NotFound("unknown_point_code", f"no point code {code} on the platform")
    return code


def known_point_codes(conn: Connection, codes: Iterable[str]) -> set[str]:
    """Which of ``codes`` the platform has (one query a chunk: a batch's destinations read once;
    one code, a single conversion's, by a plain equality SQLAlchemy keeps compiled)."""
    wanted = sorted(set(codes))
    if len(wanted) == 1:
        return set(conn.execute(_KNOWN_CODE, {"code": wanted[0]}).scalars())
    found: set[str] = set()
    for part in chunked(wanted):
        found.update(conn.execute(_KNOWN_CODES, {"codes": list(part)}).scalars())
    return found


_KNOWN_CODES = select(point_codes.c.code).where(point_codes.c.code.in_(bindparam("codes", expanding=True)))
_KNOWN_CODE = select(point_codes.c.code).where(point_codes.c.code == bindparam("code"))


@dataclass(frozen=True)
class Order:
    """What is converted, for whom, into which points."""

    holder: int
    point_code: str
    points: int
    partner_amount: int | None = None
    order_id: str | None = None
    coupon_hash: str | None = None


#: Clock difference allowed between the operator's machine and the server for ``as_of``.
CLOCK_ALLOWANCE = timedelta(minutes=5)


def convert(
    conn: Connection, partner: Partner, order: Order, actor: str, now: datetime | None = None
) -> dict[str, Any]:
    """Book ``order`` into holding (with its premium, if a campaign pays one); the conversion."""
    (done,) = convert_many(conn, partner, [order], actor, now)
    if isinstance(done, MkpError):
        raise done
    return done


def convert_many(
    conn: Connection, partner: Partner, orders: Sequence[Order], actor: str, now: datetime | None = None
) -> list[dict[str, Any] | MkpError]:
    """Book ``orders`` into holding, in their order: their premiums decided one after the other (as
    many requests would), their rows inserted together and their transfers posted with one
    ``ledger.create_transfers``; the conversions, in order, or each one's refusal
    (``conversion_too_large``: nothing of it booked, nothing of a budget spent on it). A ledger
    refusal refuses them all."""
    if not orders:
        return []
    now = now or datetime.now(UTC)
    book = premiums.PremiumBook.open(conn, partner, [o.holder for o in orders], now)
    decided = [_row(partner, order, book, now) for order in orders]
    booked = [d for d in decided if not isinstance(d, MkpError)]
    if booked:
        _insert(conn, [row for row, _ in booked])
        requests = [r for row, funder in booked for r in _transfers(partner, row, funder)]
        for posted in ledger.create_transfers(conn, requests, actor, now):
            if isinstance(posted, MkpError):
                raise posted
        book.save(conn)
    return [d if isinstance(d, MkpError) else view(SimpleNamespace(**d[0])) for d in decided]


_COLUMNS = tuple(c.name for c in conversions.columns)
_INSERT_ONE = insert(conversions).returning(conversions.c.id)  # built once: found compiled
_TIMES = {"created_at", "due_at", "released_at"}


def _insert(conn: Connection, rows: list[dict[str, Any]]) -> None:
    """Insert the conversions, each given its id: one row by an INSERT .. RETURNING, many straight
    through the driver (COPY on PostgreSQL), as the ledger inserts its transfers."""
    if len(rows) == 1:
        rows[0]["id"] = int(conn.execute(_INSERT_ONE, rows[0]).scalar_one())
        return
    for row, conversion_id in zip(rows, new_ids(conn, "conversions", len(rows)), strict=True):
        row["id"] = conversion_id
    executemany(
        conn,
        f"INSERT INTO conversions ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' * len(_COLUMNS))})",
        [tuple(db_timestamp(conn, r[c]) if c in _TIMES else r[c] for c in _COLUMNS) for r in rows],
    )


def _row(
    partner: Partner, order: Order, book: premiums.PremiumBook, now: datetime
) -> tuple[dict[str, Any], str | None] | MkpError:
    """The conversion's row (its premium decided by ``book``), without its id yet, and who pays the
    premium; or ``conversion_too_large`` if its release would be more than one transfer may carry."""
    municipality = ids.validate_point_code(order.point_code)[:6]
    premium = book.offer(order.holder, municipality, order.points)
    released = order.points + (premium.amount if premium else 0)
    if released > ids.MAX_AMOUNT:
        bonus = f" with its premium of {premium.amount:,}" if premium else ""
        return MkpError(
            "conversion_too_large",
            f"this conversion would release {released:,} points{bonus}: at most "
            f"{ids.MAX_AMOUNT:,} can reach a wallet in one transfer; convert less at a time",
        )
    if premium:
        book.take(order.holder, premium)
    row = {
        "partner_id": partner.id,
        "order_id": order.order_id,
        "coupon_hash": order.coupon_hash,
        "mykey": order.holder,
        "point_code": order.point_code,
        "partner_amount": order.partner_amount,
        "points": order.points,
        "premium": premium.amount if premium else 0,
        "campaign_id": premium.campaign_id if premium else None,
        "created_at": now,
        "due_at": now + timedelta(days=partner.hold_days),
        "released_at": None,
    }
    return row, premium.funder if premium else None


def _transfers(partner: Partner, row: dict[str, Any], funder: str | None) -> list[ledger.TransferRequest]:
    """The conversion's ``convert`` transfer into holding, and its ``premium`` one if it earned one."""
    holding = holding_account(row["mykey"])
    requests = [
        ledger.TransferRequest(
            server_key(f"conversion:{row['id']}"),
            row["point_code"],
            partner.account,
            holding,
            row["points"],
            "convert",
            memo=_memo(partner, row["order_id"]),
        )
    ]
    if funder is not None:
        requests.append(
            ledger.TransferRequest(
                server_key(f"premium:{row['id']}"),
                row["point_code"],
                funder,
                holding,
                row["premium"],
                "premium",
                memo=f"campaign {row['campaign_id']}",
            )
        )
    return requests


def _memo(partner: Partner, order_id: str | None) -> str:
    if order_id is not None:
        return f"{partner.id} order {order_id}"
    return f"{partner.id} coupon"


def view(row: Any) -> dict[str, Any]:
    return {
        "conversion_id": row.id,
        "partner": row.partner_id,
        "order_id": row.order_id,
        "point_code": row.point_code,
        "partner_amount": row.partner_amount,
        "points": int(row.points),
        "premium": int(row.premium),
        "campaign_id": row.campaign_id,
        "created_at": row.created_at,
        "due_at": row.due_at,
        "released_at": row.released_at,
    }


def get(conn: Connection, conversion_id: int) -> dict[str, Any]:
    return view(conn.execute(select(conversions).where(conversions.c.id == conversion_id)).one())


def pending_of(conn: Connection, holder: MyKey) -> list[dict[str, Any]]:
    """The holder's conversions still on hold, soonest due first."""
    rows = conn.execute(
        select(conversions)
        .where(conversions.c.mykey == holder.number, conversions.c.released_at.is_(None))
        .order_by(conversions.c.due_at, conversions.c.id)
    )
    return [view(r) for r in rows]


def release_due(conn: Connection, as_of: datetime, actor: str, now: datetime | None = None) -> dict[str, Any]:
    """Move every conversion due by ``as_of`` from holding to its holder's wallet; the report.

    ``as_of`` may not be in the future (``as_of_in_future``; ``CLOCK_ALLOWANCE`` of a fast clock is
    forgiven, but nothing is released before it is due by the server's clock). Each conversion is
    one ``release`` transfer with client id ``srv/release:<conversion>``, and is marked released in
    the same transaction: a second run finds nothing due and moves nothing. A release the ledger
    refuses (or whose point code takes no new points) stays on hold and is reported in
    ``refused``: the others go."""
    now = now or datetime.now(UTC)
    if as_of > now + CLOCK_ALLOWANCE:
        raise MkpError(
            "as_of_in_future",
            f"--as-of {as_of:%Y-%m-%d %H:%M} UTC is in the future: converted points are released "
            "when their hold has ended, never before (the server's time is "
            f"{now:%Y-%m-%d %H:%M} UTC)",
        )
    as_of = min(as_of, now)
    due = conn.execute(
        select(conversions)
        .where(conversions.c.released_at.is_(None), conversions.c.due_at <= as_of)
        .order_by(conversions.c.id)
        .with_for_update()
    ).all()
    rules: dict[str, Any] = {}
    asked: list[tuple[Any, ledger.TransferRequest]] = []
    refused: list[dict[str, Any]] = []
    for row in due:
        rule = rules.get(row.point_code) or rules.setdefault(
            row.point_code, rule_at(conn, row.point_code, row.due_at)
        )
        try:
            expires_at = rule.expires_at(row.due_at)
        except MkpError as e:
            refused.append(_refusal(row, e))
            continue
        request = ledger.TransferRequest(
            server_key(f"release:{row.id}"),
            row.point_code,
            holding_account(row.mykey),
            f"mykey:{row.mykey}",
            int(row.points) + int(row.premium),
            "release",
            memo=f"conversion {row.id}",
            expires_at=expires_at,
        )
        asked.append((row, request))
    released = []
    posted = ledger.create_transfers(conn, [request for _, request in asked], actor, now)
    for (row, request), result in zip(asked, posted, strict=True):
        if isinstance(result, MkpError):
            refused.append(_refusal(row, result))
        else:
            released.append((row, request))
    for part in chunked([row.id for row, _ in released]):
        conn.execute(
            update(conversions)
            .where(conversions.c.id.in_(part), conversions.c.released_at.is_(None))
            .values(released_at=now)
        )
    if refused:
        log.warning("release-held: %d conversions stay on hold, refused: %s", len(refused), refused)
    return {
        "as_of": as_of,
        "conversions": len(released),
        "points": sum(request.amount for _, request in released),
        "holders": len({row.mykey for row, _ in released}),
        "refused": sorted(refused, key=lambda r: r["conversion_id"]),
    }


def _refusal(row: Any, error: MkpError) -> dict[str, Any]:
    return {
        "conversion_id": row.id,
        "points": int(row.points) + int(row.premium),
        "code": error.code,
        "message": error.message,
    }
