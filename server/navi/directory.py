"""What Point Navi tells the public about a municipality and the partners, read from the ledger.

Why its own reads: Navi is public and has no operator, so it may not go through the operator
views (they scope by the caller and show budgets, claims and accounts). Each function here picks
only what a resident may see: names, addresses, rules, prices, periods. Nothing about a holder,
an account balance or a budget is read. The rules come from :mod:`server.points.rules` (the
version in force now), the rewards from :mod:`server.points.rewards.service`'s public view, so Navi
says what the ledger will do.

Every function returns plain data (dicts and lists) that the page renders and the JSON answer
gives as it is.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, or_, select

from mkp_core.municipalities import MunicipalityInfo, all_municipalities
from server.ledger.tables import point_codes
from server.partners.tables import partners, premium_campaigns
from server.platform.tables import municipalities, places
from server.points.rewards import service as rewards
from server.points.rules import Rule, history, rules_at
from server.points.tables import agreements, events


def participating(conn: Connection) -> set[str]:
    """The codes of the municipalities on the platform."""
    return set(conn.execute(select(municipalities.c.code)).scalars())


def municipality_guide(conn: Connection, info: MunicipalityInfo, now: datetime) -> dict[str, Any]:
    """Everything Navi shows of one municipality; one that is not on: that, and who in its prefecture is."""
    # One read for both: whether it is on, and (if not) who of its prefecture is.
    on_in_prefecture = set(
        conn.execute(
            select(municipalities.c.code).where(municipalities.c.prefecture == info.prefecture)
        ).scalars()
    )
    joined = info.code in on_in_prefecture
    guide: dict[str, Any] = {"municipality": _named(info.code) | {"participating": joined}}
    if not joined:
        guide["participating_nearby"] = [_named(c) for c in sorted(on_in_prefecture)]
        return guide
    codes = _point_codes(conn, info.code, now)
    guide.update(
        point_codes=codes,
        takes_vouchers=any(c["rule"]["vouchers"] for c in codes),
        accepts_points_of=[_named(c) for c in sorted(_agreed(conn, usable_in=info.code))],
        places=_places(conn, [places.c.municipality_code == info.code]),
        events=_events(conn, info.code),
        rewards=_rewards(conn, info.code, now),
        campaigns=_campaigns(conn, now, info.code),
    )
    return guide


def partners_guide(conn: Connection, now: datetime) -> dict[str, Any]:
    """The partners whose points convert into municipal points: rate, hold, campaigns."""
    campaigns = _campaigns(conn, now)
    rows = conn.execute(select(partners).where(partners.c.status == "active").order_by(partners.c.id))
    return {
        "partners": [
            {
                "partner_id": r.id,
                "name": r.name,
                "rate_from": int(r.rate_from),
                "rate_to": int(r.rate_to),
                "hold_days": int(r.hold_days),
                "campaigns": [c for c in campaigns if c["partner_id"] == r.id],
            }
            for r in rows
        ]
    }


def _named(code: str) -> dict[str, Any]:
    m = all_municipalities()[code]
    return {"code": m.code, "prefecture": m.prefecture, "name": m.name, "kana": m.kana, "kind": m.kind}


def _point_codes(conn: Connection, municipality: str, now: datetime) -> list[dict[str, Any]]:
    rows = conn.execute(
        select(point_codes.c.code, point_codes.c.name, point_codes.c.kind)
        .where(point_codes.c.municipality_code == municipality)
        .order_by(point_codes.c.kind.desc(), point_codes.c.code)  # general first, then events
    ).all()
    in_force = rules_at(conn, [r.code for r in rows], now)
    usable_in = [_named(c) for c in sorted(_agreed(conn, points_of=municipality))]
    return [
        {
            "code": r.code,
            "name": r.name,
            "kind": r.kind,
            "rule": _rule(conn, in_force[r.code], usable_in),
            "next_rule": _next_rule(conn, r.code, now, usable_in),
        }
        for r in rows
    ]


def _next_rule(conn: Connection, point_code: str, now: datetime, usable_in: list[dict[str, Any]]) -> Any:
    """The next version of the rules, if one is recorded to apply later (a resident should know)."""
    coming = [v for v in history(conn, point_code) if v.effective_from is not None and v.effective_from > now]
    if not coming:
        return None
    return {"effective_from": coming[0].effective_from, **_rule(conn, coming[0], usable_in)}


def _rule(conn: Connection, rule: Rule, usable_in: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "place_kinds": list(rule.place_kinds),
        "usable_in": usable_in if rule.place_kinds else [],
        "listed_places": _places(conn, [places.c.id.in_(sorted(rule.places))]) if rule.places else [],
        "expiry": {
            "policy": rule.expiry.policy,
            "count": rule.expiry.count,
            "last_day": rule.expiry.last_day.isoformat() if rule.expiry.last_day else None,
        },
        "min_amount": rule.min_amount,
        "max_amount": rule.max_amount,
        "vouchers": rule.vouchers,
    }


def _agreed(conn: Connection, **side: str) -> set[str]:
    """The other side of the agreements in force where ``points_of`` or ``usable_in`` is given."""
    ((column, code),) = side.items()
    other = agreements.c.usable_in if column == "points_of" else agreements.c.points_of
    return set(
        conn.execute(
            select(other).where(
                agreements.c[column] == code,
                agreements.c.points_of_recorded_at.is_not(None),
                agreements.c.usable_in_recorded_at.is_not(None),
                agreements.c.ended_at.is_(None),
            )
        ).scalars()
    )


def _places(conn: Connection, where: Iterable[Any]) -> list[dict[str, Any]]:
    rows = conn.execute(select(places).where(*where).order_by(places.c.kind, places.c.name, places.c.id))
    return [_place(r.id, r.name, r.kind, r.municipality_code, r.street) for r in rows]


def _place(place_id: str, name: str, kind: str, municipality: str, street: str | None) -> dict[str, Any]:
    m = all_municipalities().get(municipality)
    town = f"{m.prefecture}{m.name}" if m and m.kind != "prefecture" else (m.name if m else "")
    return {
        "id": place_id,
        "name": name,
        "kind": kind,
        "municipality": municipality,
        "address": town + (street or ""),
    }


def _events(conn: Connection, municipality: str) -> list[dict[str, Any]]:
    rows = conn.execute(
        select(events.c.point_code, point_codes.c.name, places.c.name.label("organiser"))
        .join(point_codes, point_codes.c.code == events.c.point_code)
        .join(places, places.c.id == events.c.organiser)
        .where(point_codes.c.municipality_code == municipality, events.c.status == "open")
        .order_by(events.c.point_code)
    )
    return [{"point_code": r.point_code, "name": r.name, "organiser": r.organiser} for r in rows]


def _rewards(conn: Connection, municipality: str, now: datetime) -> list[dict[str, Any]]:
    offers = [
        rewards.public_view(r)
        for r in rewards.list_rewards(conn, None, now)
        if r["municipality"] == municipality
    ]
    handing_over = sorted({o["place"] for o in offers if o["place"]})
    where = {p["id"]: p for p in _places(conn, [places.c.id.in_(handing_over)])}
    return [
        {
            **{k: v for k, v in offer.items() if k != "place"},
            "place": where.get(offer["place"]) if offer["place"] else None,
        }
        for offer in offers
    ]


def _campaigns(conn: Connection, now: datetime, municipality: str | None = None) -> list[dict[str, Any]]:
    """Premium campaigns running or coming with budget left (a municipality's: its own and the
    partners' own, which add to conversions into any municipality's points)."""
    query = (
        select(premium_campaigns, partners.c.name.label("partner_name"))
        .join(partners, partners.c.id == premium_campaigns.c.partner_id)
        .where(
            partners.c.status == "active",
            premium_campaigns.c.ends_at > now,
            premium_campaigns.c.used < premium_campaigns.c.budget,
        )
        .order_by(premium_campaigns.c.starts_at, premium_campaigns.c.id)
    )
    if municipality is not None:
        query = query.where(
            or_(
                premium_campaigns.c.funded_by == "partner",
                premium_campaigns.c.municipality_code == municipality,
            )
        )
    return [
        {
            "partner_id": r.partner_id,
            "partner": r.partner_name,
            "name": r.name,
            "percent": r.percent,
            "fixed": None if r.fixed is None else int(r.fixed),
            "cap_per_holder": None if r.cap_per_holder is None else int(r.cap_per_holder),
            "starts_at": r.starts_at,
            "ends_at": r.ends_at,
            "running": r.starts_at <= now,
            "only_for": _named(r.municipality_code) if r.municipality_code else None,
        }
        for r in conn.execute(query)
    ]
