"""`mkp-admin service | mykey`: the MyKey Platform's services, and a MyKey ID's suspension,
resumption and renewal codes (for a holder who lost the card or got a new one)."""

from __future__ import annotations

from typing import Any

import click

from mkp_admin.base import client_id_option, ctx_for, fail, json_option, path_part, request_body, when
from mkp_core import cli_speech
from mkp_core import mykey_id as rules
from mkp_core.cli_speech import say
from mkp_core.ids import SERVICE_KINDS


@click.group()
def service() -> None:
    """Services on the platform: shopping streets, libraries, museums, facilities, transport."""


@service.command("add")
@click.argument("code")
@click.option("--name", required=True, help="What people see, e.g. 中央商店街.")
@click.option("--kind", required=True, type=click.Choice(SERVICE_KINDS))
@click.option("--municipality", required=True, help="6-digit code of the municipality that owns it.")
@click.option(
    "--confirm-links", is_flag=True, help="The service's staff confirm each new link at one of its terminals."
)
@client_id_option
@json_option
def service_add(
    code: str,
    name: str,
    kind: str,
    municipality: str,
    confirm_links: bool,
    client_id: str | None,
    as_json: bool,
) -> None:
    """Add service CODE (e.g. A1; A-Z, 0-9 and '-'). Places join it with `place add --service`."""
    ctx = ctx_for(as_json)
    body = request_body(
        code=code.upper(),
        name=name,
        kind=kind,
        municipality=municipality,
        confirm_links=confirm_links,
        client_id=client_id,
    )
    s = ctx.call("POST", "/v1/services", body)
    confirm = ", links confirmed by its staff" if s["confirm_links"] else ""
    ctx.show(
        s, f"added service {s['code']}: {s['name']} ({s['kind']}, municipality {s['municipality']}{confirm})"
    )


@service.command("list")
@json_option
def service_list(as_json: bool) -> None:
    """List services."""
    ctx = ctx_for(as_json)
    data = ctx.call("GET", "/v1/services")
    lines = [
        f"{s['code']:<16} {s['kind']:<15} {s['municipality']}  {s['name']}"
        + ("  (links confirmed by staff)" if s["confirm_links"] else "")
        for s in data["services"]
    ]
    ctx.show(data, "\n".join(lines) if lines else "no services yet")


@click.group()
def mykey() -> None:
    """MyKey IDs: suspend (a lost card), resume, renewal codes for a new card, show."""


def _path(mykey_id: str) -> str:
    try:
        rules.validate_format(mykey_id)
    except rules.InvalidMyKeyId as e:
        cli_speech.fail_with(2, e)
    return f"/v1/mykeys/{path_part(mykey_id, 'a MyKey ID')}"


def _state(v: dict[str, Any]) -> str:
    if v["status"] == "suspended":
        return say(
            "suspended since %(time)s (%(reason)s)", time=when(v["suspended_at"]), reason=v["suspend_reason"]
        )
    return say("active")


@mykey.command("show")
@click.argument("mykey_id", metavar="ID")
@json_option
def mykey_show(mykey_id: str, as_json: bool) -> None:
    """A MyKey ID's state, its certificate and its audit (never its service IDs)."""
    ctx = ctx_for(as_json)
    v = ctx.call("GET", _path(mykey_id))
    cert = v.get("certificate") or {}
    lines = [
        f"MyKey ID {v['mykey_id']}: {_state(v)}",
        say(
            "registered %(time)s, %(changes)s ID change(s) left",
            time=when(v["created_at"]),
            changes=v["changes_left"],
        ),
        say(
            "certificate serial %(serial)s (%(status)s), valid until %(time)s",
            serial=cert.get("serial"),
            status=cert.get("status"),
            time=when(cert.get("not_after")),
        ),
        *(f"  {when(a['at'])}  {a['action']:<20} {a['actor']}  {a.get('reason') or ''}" for a in v["audit"]),
    ]
    ctx.show(v, "\n".join(lines))


@mykey.command("suspend")
@click.argument("mykey_id", metavar="ID")
@click.option("--reason", required=True, help="Why, e.g. lost, stolen, deceased (kept in the audit).")
@client_id_option
@json_option
def mykey_suspend(mykey_id: str, reason: str, client_id: str | None, as_json: bool) -> None:
    """Suspend a MyKey ID at once: lookups, spending and vouchers refuse it (mykey_suspended)."""
    ctx = ctx_for(as_json)
    v = ctx.call("POST", f"{_path(mykey_id)}/suspend", request_body(reason=reason, client_id=client_id))
    ctx.show(
        v,
        say(
            "MyKey ID %(mykey_id)s is %(state)s; `mkp-admin mykey resume %(mykey_id)s` undoes it",
            mykey_id=v["mykey_id"],
            state=_state(v),
        ),
    )


@mykey.command("resume")
@click.argument("mykey_id", metavar="ID")
@click.option("--reason", help="What was checked (kept in the audit), e.g. 'card found, ID checked'.")
@client_id_option
@json_option
def mykey_resume(mykey_id: str, reason: str | None, client_id: str | None, as_json: bool) -> None:
    """Resume a suspended MyKey ID, after checking the holder's identity."""
    ctx = ctx_for(as_json)
    v = ctx.call("POST", f"{_path(mykey_id)}/resume", request_body(reason=reason, client_id=client_id))
    ctx.show(v, say("MyKey ID %(mykey_id)s is %(state)s", mykey_id=v["mykey_id"], state=_state(v)))


@mykey.command("renewal-code")
@click.argument("mykey_id", metavar="ID")
@click.option("--ttl-hours", type=click.IntRange(1, 168), help="Hours the code stays valid (default 72).")
@client_id_option
@json_option
def mykey_renewal_code(mykey_id: str, ttl_hours: int | None, client_id: str | None, as_json: bool) -> None:
    """A one-time code with which the holder's new card takes over the MyKey ID (after checking identity)."""
    ctx = ctx_for(as_json)
    r = ctx.call(
        "POST", f"{_path(mykey_id)}/renewal-codes", request_body(ttl_hours=ttl_hours, client_id=client_id)
    )
    if ctx.as_json:
        ctx.show(r, "")
        return
    if r.get("code") is None:
        fail(
            1,
            say("this code was shown when it was made and is not kept: make a new one (a new --client-id)"),
            "code_shown_before",
        )
    click.echo(
        say(
            "renewal code for MyKey ID %(mykey_id)s, valid until %(time)s (shown only now):",
            mykey_id=r["mykey_id"],
            time=when(r["expires_at"]),
        )
    )
    click.echo(f"\n    {r['code']}\n")
    click.echo(
        say(
            "with the new card in the reader: %(command)s",
            command=f"mkp-agent mykey renew --code {r['code']} --ask-pin",
        )
    )
