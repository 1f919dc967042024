"""Places, their price lists, and たすきがけ agreements in the console.

A place (a shop, a museum) is where points are spent; its price list names what a card tap may
buy (一般 500, 高校生 300). An agreement lets one town's points be spent at another's places, in
force once both towns have recorded it: one town records its side, the other accepts by recording
its own, and either may end it. Each action is the domain's own service, called as the admin.
"""

from __future__ import annotations

import re
from typing import Any

from flask import Response, request

from mkp_core.errors import MkpError
from mkp_core.ids import PLACE_KINDS, validate_municipality_code
from server.console.blueprint import bp, me, staff_page
from server.console.resent import once_per_form
from server.db.engine import read, run_write
from server.platform.places import service as places
from server.points import agreements, price_lists
from server.site import gettext, render
from server.web.context import engine

PLACE_ID = re.compile(r"^[a-z0-9][a-z0-9-]{2,39}$")
ITEM_CODE = re.compile(r"^[A-Za-z0-9_-]{1,32}$")


def _places_page(status: int = 200, error: str | None = None) -> Response:
    with read(engine()) as conn:
        found = [
            {**place, "prices": price_lists.items(conn, place["id"])["items"]}
            for place in places.list_places(conn, me())
        ]
    return render("console/places.html", status=status, places=found, kinds=PLACE_KINDS, error=error)


@bp.get("/places")
@staff_page
def places_page() -> Response:
    return _places_page()


def _text(name: str, limit: int) -> str:
    value = request.form.get(name, "").strip()
    if not value or len(value) > limit or not value.isprintable():
        raise MkpError("invalid_field", f"{name}: 1 to {limit} printable characters")
    return value


def _price() -> int:
    text = request.form.get("price", "").strip()
    if not text.isdigit() or not 0 < int(text) <= 10_000_000:
        raise MkpError("invalid_amount", "the price is a whole number of points above 0")
    return int(text)


@bp.post("/places")
@staff_page
def add_place() -> Response:
    member = me()
    member.require_admin()
    try:
        place_id = request.form.get("place_id", "").strip()
        if not PLACE_ID.match(place_id):
            raise MkpError("invalid_place_id", "the place ID is 3 to 40 of a-z, 0-9 and -")
        kind = request.form.get("kind", "")
        if kind not in PLACE_KINDS:
            raise MkpError("invalid_place_kind", f"the kind is one of {', '.join(PLACE_KINDS)}")
        name, street = _text("name", 128), request.form.get("street", "").strip()[:128] or None
        once_per_form(
            "add_place",
            lambda conn: places.add_place(
                conn, member, place_id, name, kind, str(member.municipality), street
            ),
        )
    except MkpError as e:
        return _places_page(422, gettext(e.message))
    return _places_page(201)


def _require_place(place_id: str) -> None:
    """Another town's place is missing, whatever the form says (checked before the form)."""
    with read(engine()) as conn:
        places.get_place(conn, place_id, me())


@bp.post("/places/<place_id>/prices")
@staff_page
def set_price(place_id: str) -> Response:
    member = me()
    member.require_admin()
    _require_place(place_id)
    try:
        code = request.form.get("code", "").strip()
        if not ITEM_CODE.match(code):
            raise MkpError("invalid_item", "the item code is 1 to 32 letters, digits, _ or -")
        name, price = _text("name", 64), _price()
        run_write(engine(), lambda conn: price_lists.set_item(conn, member, place_id, code, name, price))
    except MkpError as e:
        return _places_page(422, gettext(e.message))
    return _places_page()


@bp.post("/places/<place_id>/prices/<code>/remove")
@staff_page
def remove_price(place_id: str, code: str) -> Response:
    member = me()
    member.require_admin()
    _require_place(place_id)
    run_write(engine(), lambda conn: price_lists.remove_item(conn, member, place_id, code))
    return _places_page()


# --- たすきがけ agreements -------------------------------------------------------------------------


def _agreements_page(status: int = 200, error: str | None = None) -> Response:
    with read(engine()) as conn:
        found = agreements.list_agreements(conn, me())
    here = me().municipality
    for agreement in found:
        mine = "points_of_recorded_at" if agreement["points_of"] == here else "usable_in_recorded_at"
        agreement["waits_for_us"] = agreement[mine] is None and agreement["ended_at"] is None
    return render("console/agreements.html", status=status, agreements=found, error=error)


@bp.get("/agreements")
@staff_page
def agreements_page() -> Response:
    return _agreements_page()


def _sides() -> tuple[str, str]:
    """(points of, usable in) from the form: the other town, and which way the points go."""
    other = validate_municipality_code(request.form.get("other", "").strip())
    here = str(me().municipality)
    return (here, other) if request.form.get("direction") == "ours_there" else (other, here)


@bp.post("/agreements")
@staff_page
def record_agreement() -> Response:
    """Record (or accept) our side of an agreement."""
    return _agreement_change(agreements.record)


@bp.post("/agreements/end")
@staff_page
def end_agreement() -> Response:
    return _agreement_change(agreements.end)


def _agreement_change(change: Any) -> Response:
    member = me()
    member.require_admin()
    try:
        points_of, usable_in = _sides()
        once_per_form(
            f"agreement.{change.__name__}",
            lambda conn: change(conn, member, points_of, usable_in, member.municipality),
        )
    except MkpError as e:
        return _agreements_page(422, gettext(e.message))
    return _agreements_page()
