"""`mkp-admin place | terminal`: places where terminals stand, their enrollment codes, revocation."""

from __future__ import annotations

import sys
from typing import Any

import click

from mkp_admin.base import client_id_option, ctx_for, json_option, path_part, request_body, when
from mkp_core.cli_speech import say
from mkp_core.ids import PLACE_KINDS


@click.group()
def place() -> None:
    """Places where terminals stand: shops, museums, libraries, offices."""


@place.command("add")
@click.argument("place_id", metavar="ID")
@click.option("--name", required=True, help="Name shown on receipts, e.g. 横須賀美術館.")
@click.option("--kind", required=True, type=click.Choice(PLACE_KINDS))
@click.option("--municipality", required=True, help="6-digit code of a municipality on the platform.")
@click.option("--street", help="Shopping street or area (optional).")
@click.option(
    "--service", help="The MyKey service the place belongs to (its terminals look cards up for it)."
)
@client_id_option
@json_option
def place_add(
    place_id: str,
    name: str,
    kind: str,
    municipality: str,
    street: str | None,
    service: str | None,
    client_id: str | None,
    as_json: bool,
) -> None:
    """Add a place ID (lowercase letters, digits and dashes, e.g. yokosuka-museum)."""
    ctx = ctx_for(as_json)
    body = request_body(
        place_id=place_id,
        name=name,
        kind=kind,
        municipality=municipality,
        street=street,
        service=service.upper() if service else None,
        client_id=client_id,
    )
    p = ctx.call("POST", "/v1/places", body)
    ctx.show(
        p,
        say(
            "added place %(id)s: %(name)s (%(kind)s, municipality %(municipality)s)",
            id=p["id"],
            name=p["name"],
            kind=p["kind"],
            municipality=p["municipality"],
        ),
    )


@place.command("list")
@json_option
def place_list(as_json: bool) -> None:
    """List places."""
    ctx = ctx_for(as_json)
    data = ctx.call("GET", "/v1/places")
    lines = [
        f"{p['id']}  {p['kind']:<8}  {p['municipality']}  {p['name']}"
        + (f"  ({p['street']})" if p.get("street") else "")
        + (f"  [service {p['service']}]" if p.get("service") else "")
        for p in data["places"]
    ]
    ctx.show(data, "\n".join(lines) if lines else say("no places yet"))


@click.group()
def terminal() -> None:
    """Terminals: one-time enrollment codes, list, revoke."""


@terminal.command("enroll")
@click.option("--place", "place_id", required=True, help="Place ID the terminal stands at.")
@click.option("--name", required=True, help='Name of the terminal at its place, e.g. "counter 1".')
@click.option("--ttl-hours", type=click.IntRange(1, 168), help="Hours the code stays valid (default 24).")
@click.option("--qr", is_flag=True, help="Also show the code as a QR code, for the technician's phone.")
@client_id_option
@json_option
def terminal_enroll(
    place_id: str, name: str, ttl_hours: int | None, qr: bool, client_id: str | None, as_json: bool
) -> None:
    """Make a one-time enrollment code for a new terminal; give it to the technician."""
    ctx = ctx_for(as_json)
    e = ctx.call(
        "POST",
        "/v1/terminals/enrollments",
        request_body(place=place_id, name=name, ttl_hours=ttl_hours, client_id=client_id),
    )
    if ctx.as_json:
        ctx.show(e, "")
        return
    if e.get("code") is None:  # a retry of a client id whose reply was shown already
        click.echo(
            say(
                "the code for terminal %(terminal)s ('%(name)s' at %(place)s) was shown when it was made and "
                "is not kept: make a new one (a new --client-id), and revoke the pending terminal with "
                "mkp-admin terminal revoke %(terminal)s",
                terminal=e["terminal_id"],
                name=e["name"],
                place=e["place"],
            )
        )
        return
    click.echo(
        say(
            "enrollment code for '%(name)s' at %(place)s, valid until %(time)s (shown only now):",
            name=e["name"],
            place=e["place"],
            time=when(e["expires_at"]),
        )
    )
    click.echo(f"\n    {e['code']}\n")
    if qr:
        click.echo(_qr_text(e["code"]), nl=False)
    click.echo(
        say(
            "on the terminal: %(command)s",
            command=f"mkp-provision --server {ctx.server} --code {e['code']} --home /var/lib/mkp",
        )
    )


def _qr_text(data: str) -> str:
    """The QR code as half-block characters, two module rows per line so it fits an 80x24 terminal."""
    import io

    import qrcode

    code = qrcode.QRCode(border=4)
    code.add_data(data)
    code.make(fit=True)
    buffer = io.StringIO()
    tty = sys.stdout.isatty()
    buffer.isatty = lambda: tty  # type: ignore[method-assign]
    code.print_ascii(out=buffer, tty=tty)  # tty: fixed black/white colours, right on light and dark themes
    return buffer.getvalue()


def _terminal_line(t: dict[str, Any]) -> str:
    at = t.get("revoked_at") if t["status"] == "revoked" else t.get("enrolled_at")
    return f"{t['id']}  {t['status']:<7}  {t['place']}  {t['name']}" + (f"  ({when(at)})" if at else "")


@terminal.command("list")
@click.option("--place", "place_id", help="Only the terminals of this place.")
@json_option
def terminal_list(place_id: str | None, as_json: bool) -> None:
    """List terminals with their status (pending, active, revoked)."""
    ctx = ctx_for(as_json)
    data = ctx.call("GET", "/v1/terminals")
    if place_id:
        data = {**data, "terminals": [t for t in data["terminals"] if t["place"] == place_id]}
    lines = [_terminal_line(t) for t in data["terminals"]]
    ctx.show(data, "\n".join(lines) if lines else say("no terminals yet"))


@terminal.command("show")
@click.argument("terminal_id", metavar="ID")
@json_option
def terminal_show(terminal_id: str, as_json: bool) -> None:
    """Show one terminal."""
    ctx = ctx_for(as_json)
    t = ctx.call("GET", f"/v1/terminals/{path_part(terminal_id, 'a terminal id')}")
    ctx.show(t, "\n".join(f"{k}: {v}" for k, v in t.items() if v is not None))


@terminal.command("revoke")
@click.argument("terminal_id", metavar="ID")
@click.option("--reason", help='Why (kept with the terminal), e.g. "stolen".')
@client_id_option
@json_option
def terminal_revoke(terminal_id: str, reason: str | None, client_id: str | None, as_json: bool) -> None:
    """Revoke a terminal: the server refuses its very next request."""
    ctx = ctx_for(as_json)
    t = ctx.call(
        "POST",
        f"/v1/terminals/{path_part(terminal_id, 'a terminal id')}/revoke",
        request_body(reason=reason, client_id=client_id),
    )
    ctx.show(
        t,
        say(
            "terminal %(id)s (%(name)s at %(place)s) is revoked", id=t["id"], name=t["name"], place=t["place"]
        ),
    )
