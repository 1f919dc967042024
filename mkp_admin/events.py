"""`mkp-admin event`: event pools, their supporters and the hand-over."""

from __future__ import annotations

from typing import Any

import click

from mkp_admin.base import client_id_option, ctx_for, json_option, path_part, reason_option, request_body


@click.group()
def event() -> None:
    """Event pools (a festival, a school's renovation): support, report, hand-over."""


def _report(r: dict[str, Any]) -> str:
    lines = [
        f"{r['point_code']} {r['name']} ({r['status']}, organiser {r['organiser']}): {r.get('total', r['pool_balance']):,} points"
    ]
    for s in r.get("supporters", []):
        lines.append(f"  {s['mykey_id']}  {s['amount']:>10,}  {s['nickname'] or ''}")
    return "\n".join(lines)


@event.command("add")
@click.argument("point_code")
@click.option("--organiser", required=True, help="The organiser's place ID: it receives the pool.")
@client_id_option
@json_option
def event_add(point_code: str, organiser: str, client_id: str | None, as_json: bool) -> None:
    """Open the pool of an event point code (mkp-admin point-code add makes the code)."""
    ctx = ctx_for(as_json)
    e = ctx.call(
        "POST", "/v1/events", request_body(point_code=point_code, organiser=organiser, client_id=client_id)
    )
    ctx.show(e, f"opened {e['point_code']} ({e['name']}) for {e['organiser']}")


@event.command("list")
@json_option
def event_list(as_json: bool) -> None:
    ctx = ctx_for(as_json)
    data = ctx.call("GET", "/v1/events")
    ctx.show(data, "\n".join(_report(e) for e in data["events"]) or "no events")


@event.command("support")
@click.argument("point_code")
@click.option("--mykey", "mykey_id", required=True)
@click.option("--amount", required=True, type=click.IntRange(min=1))
@click.option("--nickname", help="How the organiser may thank the supporter (nothing else is shown).")
@reason_option
@client_id_option
@json_option
def event_support(
    point_code: str,
    mykey_id: str,
    amount: int,
    nickname: str | None,
    reason: str,
    client_id: str | None,
    as_json: bool,
) -> None:
    """A correction: direct a resident's points of the event's code to its pool for them (central
    operator only, with --reason)."""
    ctx = ctx_for(as_json)
    t = ctx.call(
        "POST",
        f"/v1/events/{path_part(point_code, 'a point code')}/supports",
        request_body(mykey_id=mykey_id, amount=amount, nickname=nickname, reason=reason, client_id=client_id),
    )
    ctx.show(t, f"transfer {t['id']}: {t['mykey_id']} gave {t['amount']} points to {point_code}")


@event.command("report")
@click.argument("point_code")
@json_option
def event_report(point_code: str, as_json: bool) -> None:
    """Who supported how much (MyKey ID, nickname if given), and the total."""
    ctx = ctx_for(as_json)
    r = ctx.call("GET", f"/v1/events/{path_part(point_code, 'a point code')}/report")
    ctx.show(r, _report(r))


@event.command("handover")
@click.argument("point_code")
@client_id_option
@json_option
def event_handover(point_code: str, client_id: str | None, as_json: bool) -> None:
    """Hand the pool to the organiser in one transfer (the event closes)."""
    ctx = ctx_for(as_json)
    r = ctx.call(
        "POST",
        f"/v1/events/{path_part(point_code, 'a point code')}/handover",
        request_body(client_id=client_id),
    )
    ctx.show(r, f"{_report(r)}\nhanded over in transfer {r['handover']['id']} to {r['handover']['credit']}")
