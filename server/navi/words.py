"""A point code's rules, a campaign, a partner's rate, said in plain words in the visitor's language.

Why sentences and not fields: a resident asks "where can I use these, and until when?", not
"place_kinds=shop,museum, expiry=month_end 6". The ledger's rules are precise; these sentences
say the same thing as a town office's leaflet would. They go into the page and, under
``in_words``, into the JSON answer, so an app shows what the page shows.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from mkp_core.dates import JST
from mkp_core.i18n import N_
from server.site import gettext

PLACE_KINDS = {
    "shop": N_("shops"),
    "museum": N_("museums"),
    "library": N_("libraries"),
    "office": N_("town offices"),
    "facility": N_("public facilities"),
    "transport": N_("buses and trains"),
}
MUNICIPALITY_KINDS = {
    "prefecture": N_("Prefecture"),
    "city": N_("City"),
    "town": N_("Town"),
    "village": N_("Village"),
    "ward": N_("Special ward"),
    "designated-city-ward": N_("Ward of a designated city"),
}


def listed(items: list[str]) -> str:
    """``items`` joined the way the language lists things (、 in Japanese)."""
    return gettext(", ").join(items)


def place_kind(kind: str) -> str:
    return gettext(PLACE_KINDS.get(kind, kind))


def municipality_kind(kind: str) -> str:
    return gettext(MUNICIPALITY_KINDS.get(kind, kind))


def when(instant: datetime) -> str:
    """An instant as a Japanese clock shows it (Navi's visitors are in Japan)."""
    return f"{instant.astimezone(JST):%Y-%m-%d %H:%M}"


def rule_words(town: str, rule: dict[str, Any]) -> list[str]:
    """Where the points are spent, when they expire, how much at a time, whether on paper."""
    return [*_where(town, rule), _expiry(rule["expiry"]), _limits(rule), _vouchers(rule["vouchers"])]


def _where(town: str, rule: dict[str, Any]) -> list[str]:
    said = []
    if rule["place_kinds"]:
        kinds = listed([place_kind(k) for k in rule["place_kinds"]])
        said.append(gettext("Usable at %(kinds)s in %(town)s.", kinds=kinds, town=town))
    if rule["usable_in"]:
        towns = listed([m["name"] for m in rule["usable_in"]])
        said.append(gettext("By agreement, also at the same kinds of places in %(towns)s.", towns=towns))
    if rule["listed_places"]:
        names = listed([p["name"] for p in rule["listed_places"]])
        if rule["place_kinds"]:
            said.append(gettext("Also at: %(places)s.", places=names))
        else:
            said.append(gettext("Usable only at: %(places)s.", places=names))
    return said


def _expiry(expiry: dict[str, Any]) -> str:
    policy, count = expiry["policy"], expiry["count"]
    if policy == "days":
        return gettext("Valid for %(count)s days after the day they are given.", count=count)
    if policy == "month_end" and count:
        return gettext(
            "Valid until the end of the month %(count)s months after the month they are given.", count=count
        )
    if policy == "month_end":
        return gettext("Valid until the end of the month they are given.")
    if policy == "fixed":
        return gettext("Valid until %(day)s, whenever they are given.", day=expiry["last_day"])
    return gettext("They never expire.")


def _limits(rule: dict[str, Any]) -> str:
    low, high = rule["min_amount"], rule["max_amount"]
    if high is not None and low > 1:
        return gettext("Spend %(low)s to %(high)s points at a time.", low=f"{low:,}", high=f"{high:,}")
    if high is not None:
        return gettext("Spend at most %(high)s points at a time.", high=f"{high:,}")
    if low > 1:
        return gettext("Spend at least %(low)s points at a time.", low=f"{low:,}")
    return gettext("No limit on how many points you spend at a time.")


def _vouchers(vouchers: bool) -> str:
    if vouchers:
        return gettext("The town may print them as paper vouchers for you.")
    return gettext("They are not printed as paper vouchers.")


def campaign_words(campaign: dict[str, Any]) -> list[str]:
    """What a premium campaign adds, for whom, and when."""
    if campaign["percent"] is not None:
        said = [gettext("A bonus of %(percent)s percent on each conversion.", percent=campaign["percent"])]
    else:
        said = [gettext("A bonus of %(points)s points on each conversion.", points=f"{campaign['fixed']:,}")]
    if campaign["cap_per_holder"] is not None:
        said.append(gettext("At most %(cap)s bonus points a person.", cap=f"{campaign['cap_per_holder']:,}"))
    if campaign["only_for"] is not None:
        said.append(gettext("Only for conversions into %(town)s points.", town=campaign["only_for"]["name"]))
    said.append(
        gettext(
            "From %(start)s to %(end)s.", start=when(campaign["starts_at"]), end=when(campaign["ends_at"])
        )
    )
    return said


def partner_words(partner: dict[str, Any]) -> list[str]:
    """A partner's rate and hold, as a member would ask about them."""
    rate = gettext(
        "%(partner_points)s %(partner)s points become %(points)s municipal points.",
        partner_points=f"{partner['rate_from']:,}",
        partner=partner["name"],
        points=f"{partner['rate_to']:,}",
    )
    if partner["hold_days"]:
        hold = gettext(
            "Converted points wait %(days)s days before they reach your wallet.", days=partner["hold_days"]
        )
    else:
        hold = gettext("Converted points reach your wallet at once.")
    return [rate, hold]
