"""Point Navi's pages: the search, a municipality, the partners; each also answers JSON.

Every page is public and read-only (no login, no form that changes anything), so each answer
carries an ETag and a browser or kiosk asking again gets 304. ``Accept: application/json`` gets
the same data the page shows, sentences included, in the visitor's language.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import Response, current_app, jsonify, request
from sqlalchemy import Engine

from mkp_core.errors import MkpError
from mkp_core.i18n import N_
from mkp_core.ids import InvalidId
from mkp_core.municipalities import all_municipalities, lookup_municipality
from server.db.engine import read
from server.navi import directory, words
from server.navi.search import PAGE_SIZE, Search, find, parse_search, prefectures, row
from server.site import conditional, current_language, gettext, page_blueprint, render
from server.web.logs import request_id

bp = page_blueprint("navi", __name__, url_prefix="/navi")
bp.add_app_template_filter(words.when, "navi_when")
NOT_A_MUNICIPALITY = N_(
    "There is no municipality with this code in the national list. Search for it by name."
)


def _engine() -> Engine:
    found: Engine = current_app.extensions["mkp.engine"]
    return found


def wants_json() -> bool:
    """Whether the caller asked for JSON rather than a page (a browser asks for HTML first)."""
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return best == "application/json"


def answer(template: str, data: dict[str, Any], status: int = 200, **page: Any) -> Response:
    """``data`` as JSON or as the page ``template`` (with ``page``'s extras), with its ETag."""
    if wants_json():
        response = jsonify(data)
        response.status_code = status
        response.headers["Content-Language"] = current_language()
    else:
        response = render(template, status=status, **data, **page)
    response.vary.update(("Accept", "Accept-Language", "Cookie"))
    return conditional(response) if status == 200 else response


def refused(error: MkpError, status: int, template: str = "site/error.html", **page: Any) -> Response:
    """One clear line, in the visitor's language, as a page or in the API's one error shape."""
    message = gettext(error.message)
    if wants_json():
        response = jsonify({"error": {"code": error.code, "message": message, "request_id": request_id()}})
        response.status_code = status
        response.vary.update(("Accept", "Accept-Language"))
        return response
    return render(template, status=status, message=message, **page)


@bp.get("/")
def index() -> Response:
    """The search: by words (name or kana) and prefecture; with none, the participating ones."""
    with read(_engine()) as conn:
        joined = directory.participating(conn)
    choices: dict[str, Any] = {"prefectures": prefectures()}
    try:
        search = parse_search(request.args)
    except MkpError as e:
        return refused(e, 400, "navi/index.html", search=_asked(Search()), found=None, **choices)
    if not search.asked:
        featured = [row(all_municipalities()[c], True) for c in sorted(joined) if c in all_municipalities()]
        featured_data = {"search": _asked(search), "participating": [_worded(r) for r in featured]}
        return answer("navi/index.html", featured_data, found=None, **choices)
    found = find(search, joined)
    data: dict[str, Any] = {
        "search": _asked(search),
        "results": [_worded(r) for r in found.rows],
        "total": found.total,
        "page": found.page,
        "pages": found.pages,
        "page_size": PAGE_SIZE,
    }
    return answer("navi/index.html", data, found=found, **choices)


def _asked(search: Search) -> dict[str, Any]:
    return {"q": search.text, "prefecture": search.prefecture, "page": search.page}


def _worded(found: dict[str, Any]) -> dict[str, Any]:
    return {**found, "kind_in_words": words.municipality_kind(found["kind"])}


@bp.get("/partners")
def partners() -> Response:
    """The partners whose points become municipal points: rate, hold days, campaigns."""
    with read(_engine()) as conn:
        guide = directory.partners_guide(conn, datetime.now(UTC))
    for partner in guide["partners"]:
        partner["in_words"] = words.partner_words(partner)
        for campaign in partner["campaigns"]:
            campaign["in_words"] = words.campaign_words(campaign)
    return answer("navi/partners.html", guide)


@bp.get("/<code>")
def municipality(code: str) -> Response:
    """One municipality of MIC's list: what it offers, or plainly that it does not take part."""
    try:
        info = lookup_municipality(code)
    except InvalidId:
        return refused(MkpError("unknown_municipality", NOT_A_MUNICIPALITY), 404)
    with read(_engine()) as conn:
        guide = directory.municipality_guide(conn, info, datetime.now(UTC))
    guide["municipality"]["kind_in_words"] = words.municipality_kind(info.kind)
    for point_code in guide.get("point_codes", ()):
        point_code["in_words"] = words.rule_words(info.name, point_code["rule"])
        if point_code["next_rule"] is not None:
            point_code["next_rule"]["in_words"] = words.rule_words(info.name, point_code["next_rule"])
    for place in guide.get("places", ()):
        place["kind_in_words"] = words.place_kind(place["kind"])
    for campaign in guide.get("campaigns", ()):
        campaign["in_words"] = words.campaign_words(campaign)
    for reward in guide.get("rewards", ()):
        reward["period"] = gettext(
            "From %(start)s to %(end)s.",
            start=words.when(reward["starts_at"]),
            end=words.when(reward["ends_at"]),
        )
    return answer("navi/municipality.html", guide)
