"""A town's programmes in the console: events (a point code whose pool goes to an organiser),
rewards residents claim with points, and the premium campaigns the town funds on conversions.

Each is the domain's own service, called as the admin; the town's own objects only.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from flask import Response, request
from sqlalchemy import select

from mkp_core.dates import start_of_day
from mkp_core.errors import MkpError, NotFound
from mkp_core.i18n import N_
from mkp_core.ids import validate_point_code
from server.console.blueprint import bp, me, staff_page
from server.console.resent import once_per_form
from server.db.engine import read
from server.partners import premiums, registry
from server.partners.tables import premium_campaigns
from server.platform.municipalities.service import add_point_code
from server.platform.places.service import list_places
from server.points.events import service as events
from server.points.rewards import service as rewards
from server.site import gettext, render
from server.web.context import engine

#: States of events and campaigns, as the page shows them.
STATE_WORDS = (N_("open"), N_("handed_over"), N_("exhausted"), N_("ended"))


def _text(name: str, limit: int) -> str:
    value = request.form.get(name, "").strip()
    if not value or len(value) > limit or not value.isprintable():
        raise MkpError("invalid_field", f"{name}: 1 to {limit} printable characters")
    return value


def _whole(name: str, required: bool = True) -> int | None:
    text = request.form.get(name, "").strip()
    if not text and not required:
        return None
    if not text.isdigit() or len(text) > 12:
        raise MkpError("invalid_amount", f"{name}: a whole number")
    return int(text)


def _day(name: str, *, end: bool = False) -> datetime:
    """A day of the form as an instant in Japan: its start, or (``end``) the next day's start."""
    try:
        day = date.fromisoformat(request.form.get(name, ""))
    except ValueError:
        raise MkpError("invalid_date", f"{name}: a date as 2027-04-01") from None
    return start_of_day(day + timedelta(days=1) if end else day)


def _page(status: int = 200, error: str | None = None) -> Response:
    member = me()
    with read(engine()) as conn:
        shown: dict[str, Any] = {
            "events": events.list_events(conn, member),
            "rewards": rewards.list_rewards(conn, member),
            "places": list_places(conn, member),
            "partners": registry.list_partners(conn),
            "campaigns": _campaigns(conn, member.municipality),
        }
    return render("console/programmes.html", status=status, error=error, **shown)


def _campaigns(conn: Any, municipality: str | None) -> list[dict[str, Any]]:
    query = select(premium_campaigns.c.id).order_by(premium_campaigns.c.id.desc())
    if municipality is not None:
        query = query.where(premium_campaigns.c.municipality_code == municipality)
    return [premiums.get(conn, campaign_id) for campaign_id in conn.execute(query).scalars()]


@bp.get("/programmes")
@staff_page
def programmes() -> Response:
    return _page()


def _admin_change(what: str, work: Any) -> Response:
    """Run an admin's change once for the form's client id; a refusal is one line on the page,
    nothing changed."""
    me().require_admin()
    if me().municipality is None:
        raise NotFound("not_found", "This page does not exist.")
    try:
        once_per_form(what, work)
    except MkpError as e:
        return _page(422, gettext(e.message))
    return _page(201)


@bp.post("/programmes/events")
@staff_page
def add_event() -> Response:
    """An event: its own point code (``<town>-<suffix>``) and the place its pool goes to."""

    def work(conn: Any) -> None:
        town = str(me().municipality)
        suffix = _text("suffix", 16).upper()
        validate_point_code(f"{town}-{suffix}")
        code = add_point_code(conn, town, suffix, _text("name", 128))
        events.add_event(conn, me(), code["code"], _text("organiser", 40))

    return _admin_change("add_event", work)


@bp.post("/programmes/rewards")
@staff_page
def add_reward() -> Response:
    def work(conn: Any) -> None:
        offer = {
            "name": _text("name", 128),
            "description": request.form.get("description", "").strip()[:500] or None,
            "price": _whole("price"),
            "stock": _whole("stock"),
            "per_holder": _whole("per_holder", required=False) or 1,
            "starts_at": _day("starts"),
            "ends_at": _day("ends", end=True),
            "place": request.form.get("place") or None,
        }
        rewards.add_reward(conn, me(), _text("code", 32), str(me().municipality), offer)

    return _admin_change("add_reward", work)


@bp.post("/programmes/campaigns")
@staff_page
def add_campaign() -> Response:
    """A premium on conversions from a partner, funded by the town for its own points."""

    def work(conn: Any) -> None:
        partner = registry.get(conn, request.form.get("partner", ""))
        percent, fixed = _whole("percent", required=False), _whole("fixed", required=False)
        terms = premiums.CampaignTerms(
            name=_text("name", 64),
            starts_at=_day("starts"),
            ends_at=_day("ends", end=True),
            budget=_whole("budget") or 0,
            percent=percent,
            fixed=fixed,
            cap_per_holder=_whole("cap_per_holder", required=False),
            funded_by="municipality",
            municipality=me().municipality,
        )
        premiums.add(conn, me(), partner, terms)

    return _admin_change("add_campaign", work)
