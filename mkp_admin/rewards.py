"""`mkp-admin reward`: special rewards (特典), their claims."""

from __future__ import annotations

from typing import Any

import click

from mkp_admin.base import (
    client_id_option,
    ctx_for,
    json_option,
    path_part,
    reason_option,
    request_body,
    when,
)


@click.group()
def reward() -> None:
    """Special rewards: what points can buy that money cannot."""


def _line(r: dict[str, Any]) -> str:
    left = f"{r['left']} of {r['stock']} left" if "stock" in r else f"{r['left']} left"
    return f"{r['code']}  {r['price']:,} {r['point_code']} points, {left}, {when(r['starts_at'])} .. {when(r['ends_at'])}  {r['name']}"


@reward.command("add")
@click.argument("code")
@click.option("--municipality", required=True)
@click.option("--name", required=True, help="e.g. 花火大会 観覧席.")
@click.option("--description")
@click.option("--price", required=True, type=click.IntRange(min=1), help="Points.")
@click.option("--stock", required=True, type=click.IntRange(min=1))
@click.option("--per-holder", type=click.IntRange(min=1), help="Claims per holder (default 1).")
@click.option("--from", "starts_at", required=True, help="YYYY-MM-DD (JST) or an ISO time.")
@click.option("--until", "ends_at", required=True, help="YYYY-MM-DD (JST: its start) or an ISO time.")
@click.option("--point-code", help="Which points (default the municipality's general code).")
@click.option("--place", help="The shop that hands it over and is paid (default: the municipality).")
@client_id_option
@json_option
def reward_add(
    code: str,
    municipality: str,
    name: str,
    description: str | None,
    price: int,
    stock: int,
    per_holder: int | None,
    starts_at: str,
    ends_at: str,
    point_code: str | None,
    place: str | None,
    client_id: str | None,
    as_json: bool,
) -> None:
    """Offer a reward CODE (a-z, 0-9, '-')."""
    ctx = ctx_for(as_json)
    body = request_body(
        code=code,
        municipality=municipality,
        name=name,
        description=description,
        price=price,
        stock=stock,
        per_holder=per_holder,
        starts_at=starts_at,
        ends_at=ends_at,
        point_code=point_code,
        place=place,
        client_id=client_id,
    )
    r = ctx.call("POST", "/v1/rewards", body)
    ctx.show(r, f"added {_line(r)}")


@reward.command("list")
@click.option("--public", is_flag=True, help="What the Point Navi page shows (no token needed there).")
@json_option
def reward_list(public: bool, as_json: bool) -> None:
    ctx = ctx_for(as_json)
    data = ctx.call("GET", "/v1/public/rewards" if public else "/v1/rewards")
    ctx.show(data, "\n".join(_line(r) for r in data["rewards"]) or "no rewards")


@reward.command("claim")
@click.argument("code")
@click.option("--mykey", "mykey_id", required=True)
@reason_option
@client_id_option
@json_option
def reward_claim(code: str, mykey_id: str, reason: str, client_id: str | None, as_json: bool) -> None:
    """A correction: claim one for a resident (central operator only, with --reason); the points
    are spent, a claim number comes back."""
    ctx = ctx_for(as_json)
    c = ctx.call(
        "POST",
        f"/v1/rewards/{path_part(code, 'a reward')}/claims",
        request_body(mykey_id=mykey_id, reason=reason, client_id=client_id),
    )
    ctx.show(c, f"claim {c['claim_number']}: {c['mykey_id']} spent {c['points']:,} points on {c['name']}")


@reward.command("claims")
@click.argument("code")
@json_option
def reward_claims(code: str, as_json: bool) -> None:
    """The list of a reward's claims."""
    ctx = ctx_for(as_json)
    data = ctx.call("GET", f"/v1/rewards/{path_part(code, 'a reward')}/claims")
    lines = [_line(data)] + [
        f"  {c['claim_number']}  {c['mykey_id']}  {when(c['claimed_at'])}" for c in data["claims"]
    ]
    ctx.show(data, "\n".join(lines))
