"""`mkp-admin rule | agreement | price-list`: where points may be spent, and what things cost."""

from __future__ import annotations

from typing import Any

import click

from mkp_admin.base import client_id_option, ctx_for, fail, json_option, path_part, request_body
from mkp_core.cli_speech import say
from mkp_core.ids import PLACE_KINDS


def _expiry(text: str | None) -> dict[str, Any] | None:
    """--expiry none | days:N | month_end:N | fixed:YYYY-MM-DD as the request's expiry."""
    if text is None:
        return None
    name, _, value = text.partition(":")
    if name == "none" and not value:
        return {"policy": "none"}
    if name in ("days", "month_end") and value.isdigit():
        return {"policy": name, "count": int(value)}
    if name == "fixed" and value:
        return {"policy": "fixed", "last_day": value}
    fail(
        2,
        say("--expiry is none, days:N, month_end:N or fixed:YYYY-MM-DD, not '%(text)s'", text=text),
        "invalid_expiry",
    )


def _place_kinds(text: str) -> list[str]:
    """--kinds as a list; a kind that does not exist is refused here with the list of kinds."""
    kinds = [k.strip() for k in text.split(",") if k.strip()]
    for kind in kinds:
        if kind not in PLACE_KINDS:
            fail(
                2,
                say(
                    "--kinds: no place kind '%(kind)s': the kinds are %(kinds)s",
                    kind=kind,
                    kinds=", ".join(PLACE_KINDS),
                ),
                "invalid_place_kind",
            )
    return kinds


def _rule_line(r: dict[str, Any]) -> str:
    where = ", ".join(r["place_kinds"]) or "no kinds"
    if r["places"]:
        where += " + " + ", ".join(r["places"])
    limits = f"{r['min_amount']}-{r['max_amount'] or 'no limit'} a spend"
    since = r["effective_from"] or "(default)"
    vouchers = "vouchers" if r["vouchers"] else "no vouchers"
    return f"from {since}: {where}; {r['expiry']['text']}; {limits}; {vouchers}"


@click.group()
def rule() -> None:
    """A point code's rules: where its points are spent, expiry, limits (versioned by date)."""


@rule.command("set")
@click.argument("point_code")
@click.option(
    "--kinds", help=f"Place kinds, comma-separated, of {', '.join(PLACE_KINDS)} (default all; '' none)."
)
@click.option("--place", "places", multiple=True, help="A place that accepts them wherever it is (repeat).")
@click.option("--expiry", help="none, days:N (from the credit), month_end:N (+N months), fixed:YYYY-MM-DD.")
@click.option("--min", "min_amount", type=click.IntRange(min=1), help="Smallest spend (default 1).")
@click.option("--max", "max_amount", type=click.IntRange(min=1), help="Largest spend (default no limit).")
@click.option("--vouchers/--no-vouchers", default=None, help="May paper vouchers be printed (default no).")
@click.option("--effective", help="From YYYY-MM-DD (JST) or an ISO time; never the past (default now).")
@client_id_option
@json_option
def rule_set(
    point_code: str,
    kinds: str | None,
    places: tuple[str, ...],
    expiry: str | None,
    min_amount: int | None,
    max_amount: int | None,
    vouchers: bool | None,
    effective: str | None,
    client_id: str | None,
    as_json: bool,
) -> None:
    """Record a new version of POINT_CODE's rules (every setting given or its default)."""
    ctx = ctx_for(as_json)
    body = request_body(
        place_kinds=None if kinds is None else _place_kinds(kinds),
        places=list(places) or None,
        expiry=_expiry(expiry),
        min_amount=min_amount,
        max_amount=max_amount,
        vouchers=vouchers,
        effective_from=effective,
        client_id=client_id,
    )
    r = ctx.call("POST", f"/v1/point-codes/{path_part(point_code, 'a point code')}/rules", body)
    ctx.show(r, f"{point_code} rules {_rule_line(r)}")


@rule.command("show")
@click.argument("point_code")
@json_option
def rule_show(point_code: str, as_json: bool) -> None:
    """The rules in force now, and every version."""
    ctx = ctx_for(as_json)
    data = ctx.call("GET", f"/v1/point-codes/{path_part(point_code, 'a point code')}/rules")
    lines = [f"in force: {_rule_line(data['in_force'])}"] + [
        f"  version {r['version']}: {_rule_line(r)}" for r in data["versions"]
    ]
    ctx.show(data, "\n".join(lines))


@click.group()
def agreement() -> None:
    """たすきがけ: one municipality's points usable in another, once both have recorded it."""


def _agreement_options(f: Any) -> Any:
    for option in reversed(
        [
            click.option("--points-of", required=True, help="Whose points (municipality code)."),
            click.option("--usable-in", required=True, help="Where they become usable (municipality code)."),
            click.option("--by", required=True, help="Which of the two records this (your municipality)."),
            client_id_option,
            json_option,
        ]
    ):
        f = option(f)
    return f


def _agreement_line(a: dict[str, Any]) -> str:
    state = "in force" if a["in_force"] else "ended" if a["ended_at"] else "waiting for the other side"
    return f"{a['points_of']}'s points in {a['usable_in']}: {state}"


@agreement.command("record")
@_agreement_options
def agreement_record(points_of: str, usable_in: str, by: str, client_id: str | None, as_json: bool) -> None:
    """Record your municipality's side of an agreement."""
    ctx = ctx_for(as_json)
    body = request_body(points_of=points_of, usable_in=usable_in, by=by, client_id=client_id)
    a = ctx.call("POST", "/v1/agreements", body)
    ctx.show(a, _agreement_line(a))


@agreement.command("end")
@_agreement_options
def agreement_end(points_of: str, usable_in: str, by: str, client_id: str | None, as_json: bool) -> None:
    """End an agreement (either side may): the points are refused there again from now."""
    ctx = ctx_for(as_json)
    body = request_body(points_of=points_of, usable_in=usable_in, by=by, client_id=client_id)
    a = ctx.call("POST", "/v1/agreements/end", body)
    ctx.show(a, _agreement_line(a))


@agreement.command("list")
@json_option
def agreement_list(as_json: bool) -> None:
    """Agreements and whether they are in force."""
    ctx = ctx_for(as_json)
    data = ctx.call("GET", "/v1/agreements")
    ctx.show(data, "\n".join(_agreement_line(a) for a in data["agreements"]) or "no agreements")


@click.group("price-list")
def price_list() -> None:
    """A place's price list: a spend may name an item instead of an amount."""


def _items(data: dict[str, Any]) -> str:
    lines = [f"{data['name']} ({data['place']}):"] + [
        f"  {i['code']:<16} {i['price']:>8,}  {i['name']}" for i in data["items"]
    ]
    return "\n".join(lines)


@price_list.command("set")
@click.argument("place_id", metavar="PLACE")
@click.argument("code")
@click.option("--name", required=True, help="What the receipt says, e.g. 一般.")
@click.option("--price", required=True, type=click.IntRange(min=1), help="Points.")
@client_id_option
@json_option
def price_list_set(
    place_id: str, code: str, name: str, price: int, client_id: str | None, as_json: bool
) -> None:
    """Add an item (CODE: a-z, 0-9, '-') or change its name and price."""
    ctx = ctx_for(as_json)
    data = ctx.call(
        "POST",
        f"/v1/places/{path_part(place_id, 'a place')}/items",
        request_body(code=code, name=name, price=price, client_id=client_id),
    )
    ctx.show(data, _items(data))


@price_list.command("remove")
@click.argument("place_id", metavar="PLACE")
@click.argument("code")
@client_id_option
@json_option
def price_list_remove(place_id: str, code: str, client_id: str | None, as_json: bool) -> None:
    """Take an item off the list."""
    ctx = ctx_for(as_json)
    data = ctx.call(
        "POST",
        f"/v1/places/{path_part(place_id, 'a place')}/items/{path_part(code, 'an item')}/remove",
        request_body(client_id=client_id),
    )
    ctx.show(data, _items(data))


@price_list.command("show")
@click.argument("place_id", metavar="PLACE")
@json_option
def price_list_show(place_id: str, as_json: bool) -> None:
    """The place's items and prices."""
    ctx = ctx_for(as_json)
    data = ctx.call("GET", f"/v1/places/{path_part(place_id, 'a place')}/items")
    ctx.show(data, _items(data))
