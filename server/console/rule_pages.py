"""Point codes and their rules in the console: versions with effective dates, and a preview.

A rule change is a new version from a date on (never an edit: the ledger must be able to say
which rule a past spend followed, ``server.points.rules``). The page shows each point code's
versions; a proposed version is first shown beside the one it replaces, each difference marked,
and only a second click records it.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from flask import Response, request
from werkzeug.datastructures import MultiDict

from mkp_core.dates import start_of_day
from mkp_core.errors import MkpError, NotFound
from mkp_core.i18n import N_
from mkp_core.ids import PLACE_KINDS
from server.console.blueprint import bp, me, staff_page
from server.console.resent import once_per_form
from server.db.engine import read
from server.platform.municipalities.service import list_point_codes
from server.points import rules
from server.points.expiry_policy import ExpiryPolicy
from server.site import gettext, render
from server.web.context import engine

#: What each field of a rule is called on the page.
FIELDS = {
    "effective_from": N_("From"),
    "place_kinds": N_("Place kinds"),
    "expiry": N_("Expiry"),
    "min_amount": N_("Least a spend"),
    "max_amount": N_("Most a spend"),
    "vouchers": N_("Paper vouchers"),
}
KIND_WORDS = (N_("shop"), N_("museum"), N_("library"), N_("office"), N_("facility"), N_("transport"))


def _codes() -> list[dict[str, Any]]:
    """The town's point codes with their rule versions, newest first."""
    member = me()
    if member.municipality is None:
        return []
    with read(engine()) as conn:
        codes = list_point_codes(conn, member.municipality)
        return [{**code, "versions": list(reversed(rules.history(conn, code["code"])))} for code in codes]


def _page(status: int = 200, **shown: Any) -> Response:
    return render(
        "console/rules.html",
        status=status,
        codes=_codes(),
        place_kinds=PLACE_KINDS,
        expiry_words=expiry_words,
        **shown,
    )


@bp.get("/rules")
@staff_page
def rules_page() -> Response:
    return _page()


def change_from(form: MultiDict[str, str]) -> rules.RuleChange:
    """A rule change as the form states it; a bad field is one clear refusal."""
    since = form.get("effective_from", "").strip()
    try:
        effective = start_of_day(date.fromisoformat(since)) if since else None
        policy = form.get("expiry_policy", "none")
        count = int(form["expiry_count"]) if form.get("expiry_count", "").strip() else None
        last = date.fromisoformat(form["expiry_date"]) if form.get("expiry_date", "").strip() else None
        least = int(form.get("min_amount", "1") or "1")
        most = int(form["max_amount"]) if form.get("max_amount", "").strip() else None
    except (ValueError, KeyError):
        raise MkpError("invalid_rule", "dates as 2027-04-01, amounts and counts as whole numbers") from None
    return rules.RuleChange(
        effective_from=effective,
        place_kinds=form.getlist("place_kinds"),
        places=(),
        expiry=ExpiryPolicy(policy, count, last),
        min_amount=least,
        max_amount=most,
        vouchers=form.get("vouchers") == "yes",
    )


def expiry_words(expiry: ExpiryPolicy) -> str:
    """An expiry policy in the visitor's language."""
    if expiry.policy == "days":
        return gettext("%(count)s days from the grant", count=expiry.count)
    if expiry.policy == "month_end" and expiry.count:
        return gettext("end of the month of the grant, + %(count)s months", count=expiry.count)
    if expiry.policy == "month_end":
        return gettext("end of the month of the grant")
    if expiry.policy == "fixed":
        return gettext("until %(day)s", day=expiry.last_day)
    return gettext("never expire")


def _shown(rule: rules.Rule | rules.RuleChange) -> dict[str, str]:
    """A rule's fields as the preview compares them."""
    since = rule.effective_from
    return {
        "effective_from": f"{since:%Y-%m-%d}" if isinstance(since, datetime) else gettext("now"),
        "place_kinds": ", ".join(gettext(k) for k in rule.place_kinds),
        "expiry": expiry_words(rule.expiry),
        "min_amount": f"{rule.min_amount:,}",
        "max_amount": f"{rule.max_amount:,}" if rule.max_amount is not None else "—",
        "vouchers": gettext("yes") if rule.vouchers else gettext("no"),
    }


@bp.post("/rules/<point_code>/preview")
@staff_page
def preview_rule(point_code: str) -> Response:
    """The proposed version beside the one in force then; nothing is recorded yet."""
    member = me()
    member.require_admin()
    with read(engine()) as conn:
        code = _point_code_of(conn, point_code)
        try:
            change = change_from(request.form)
        except MkpError as e:
            return _page(422, error=gettext(e.message))
        current = rules.rule_at(conn, code, change.effective_from or datetime.now().astimezone())
    before, after = _shown(current), _shown(change)
    rows = [
        (gettext(label), before[key], after[key], before[key] != after[key]) for key, label in FIELDS.items()
    ]
    return _page(preview=rows, point_code=code, form=request.form)


@bp.post("/rules/<point_code>")
@staff_page
def add_rule(point_code: str) -> Response:
    member = me()
    member.require_admin()
    with read(engine()) as conn:
        code = _point_code_of(conn, point_code)
    try:
        change = change_from(request.form)
        added = once_per_form(
            f"add_rule:{code}",
            lambda conn: rules.add_rule(conn, member, code, change),
            lambda rule: {"version": rule.version, "point_code": rule.point_code},
        )
    except MkpError as e:
        return _page(422, error=gettext(e.message))
    return _page(201, added=added)


def _point_code_of(conn: Any, point_code: str) -> str:
    """A point code of the member's town; another town's is missing."""
    member = me()
    found = list_point_codes(conn, member.municipality, only=point_code) if member.municipality else []
    if not found:
        raise NotFound("unknown_point_code", f"no point code {point_code}")
    return str(found[0]["code"])
