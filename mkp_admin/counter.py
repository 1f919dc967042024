"""`mkp-admin exceptions` and `mkp-admin terminal status`: what the counters left for people to settle
(offline spends the ledger refused at sync) and how each counter was at its last heartbeat."""

from __future__ import annotations

from urllib.parse import urlencode

import click

from mkp_admin.base import ctx_for, json_option, table
from mkp_core.cli_speech import say
from mkp_core.i18n import N_


@click.group()
def exceptions() -> None:
    """Offline spends and vouchers refused at sync: the balance gone, a voucher used elsewhere ..."""


@exceptions.command("list")
@click.option("--place", help="Only this place's.")
@click.option("--since", help="Only those received since (ISO date or time, UTC).")
@json_option
def exceptions_list(place: str | None, since: str | None, as_json: bool) -> None:
    """Each refused entry: when it was taken and received, where, how much, whose (or which
    voucher), and why; a voucher used elsewhere first says when and where below the table."""
    ctx = ctx_for(as_json)
    query = urlencode({k: v for k, v in (("place", place), ("since", since)) if v})
    data = ctx.call("GET", "/v1/offline-exceptions" + (f"?{query}" if query else ""))
    if ctx.as_json:
        ctx.show(data, "")
        return
    rows = data["exceptions"]
    if not rows:
        click.echo(say("no offline exceptions"))
        return
    table(
        [
            ("taken_at", N_("taken")),
            ("received_at", N_("received")),
            ("place_name", N_("place")),
            ("terminal_id", N_("terminal")),
            ("seq", N_("seq")),
            ("amount", N_("points")),
            ("mykey_id", N_("MyKey ID")),
            ("voucher", N_("voucher")),
            ("code", N_("reason")),
        ],
        rows,
        title=f"{len(rows)} offline exception(s)",
    )
    for row in rows:
        if row.get("voucher"):
            click.echo(f"voucher {row['voucher']}: {row.get('message') or row.get('code')}")


@click.command("status")
@json_option
def terminal_status(as_json: bool) -> None:
    """Every terminal with its last heartbeat: when, version, reader, printer, queue, CRL."""
    ctx = ctx_for(as_json)
    data = ctx.call("GET", "/v1/terminal-status")
    if ctx.as_json:
        ctx.show(data, "")
        return
    table(
        [
            ("terminal_id", N_("terminal")),
            ("place", N_("place")),
            ("status", N_("status")),
            ("seen_at", N_("last heartbeat")),
            ("version", N_("version")),
            ("reader", N_("reader")),
            ("printer", N_("printer")),
            ("queue_pending", N_("queued")),
            ("crl_this_update", N_("CRL of")),
        ],
        data["terminals"],
    )
