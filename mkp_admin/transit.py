"""`mkp-admin transit`: points to linked transit cards, and the company's daily list."""

from __future__ import annotations

import csv
import io
import os
import sys
from pathlib import Path

import click

from mkp_admin.base import (
    client_id_option,
    ctx_for,
    fail,
    json_option,
    path_part,
    reason_option,
    request_body,
)
from mkp_core.cli_speech import say


@click.group()
def transit() -> None:
    """The transit exchange: for a bus company whose card cannot read the My Number card."""


@transit.command("exchange")
@click.option("--mykey", "mykey_id", required=True)
@click.option("--place", required=True, help="The transit company's place (kind transport).")
@click.option("--amount", required=True, type=click.IntRange(min=1))
@click.option("--point-code", help="Which points (default: valid there, expiring first).")
@reason_option
@client_id_option
@json_option
def transit_exchange(
    mykey_id: str,
    place: str,
    amount: int,
    point_code: str | None,
    reason: str,
    client_id: str | None,
    as_json: bool,
) -> None:
    """A correction: send a resident's points to the transit card they linked at the company's
    service (central operator only, with --reason)."""
    ctx = ctx_for(as_json)
    body = request_body(
        mykey_id=mykey_id,
        place=place,
        amount=amount,
        point_code=point_code,
        reason=reason,
        client_id=client_id,
    )
    t = ctx.call("POST", "/v1/transit/exchanges", body)
    ctx.show(
        t,
        say(
            "transfer %(id)s: %(points)s points for card %(card)s at %(place)s",
            id=t["id"],
            points=f"{t['amount']:,}",
            card=t["card_number"],
            place=t["place_name"],
        ),
    )


@transit.command("daily")
@click.argument("place_id", metavar="PLACE")
@click.option("--date", "day", required=True, help="YYYY-MM-DD (JST).")
@click.option(
    "--out", type=click.Path(dir_okay=False, path_type=Path), help="Write the CSV here (0600), not stdout."
)
@json_option
def transit_daily(place_id: str, day: str, out: Path | None, as_json: bool) -> None:
    """The day's list for the company: card number and points to load (CSV, UTF-8 with a BOM)."""
    ctx = ctx_for(as_json)
    data = ctx.call("GET", f"/v1/transit/{path_part(place_id, 'a place')}/daily?date={day}")
    if ctx.as_json:
        ctx.show(data, "")
        return
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\r\n")
    writer.writerow(["date", "card_number", "points", "transfer_id", "exchanged_at"])
    writer.writerows(
        [data["date"], e["card_number"], e["points"], e["transfer_id"], e["at"]] for e in data["exchanges"]
    )
    if out is None:
        sys.stdout.write("\ufeff" + text.getvalue())
        return
    try:
        fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8-sig", newline="") as f:
            f.write(text.getvalue())
    except OSError as e:
        fail(2, say("cannot write %(file)s: %(reason)s", file=out, reason=e.strerror))
    wrote = say(
        "wrote %(count)s exchanges, %(points)s points, to %(file)s",
        count=len(data["exchanges"]),
        points=f"{data['total']:,}",
        file=out,
    )
    click.echo(wrote, err=True)
