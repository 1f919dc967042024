"""`mkp-admin municipality applications | approve` and `mkp-admin staff invite`: joining online.

A town applies in the console (/console/apply); the central operator approves it here or in the
console, and its first admin gets the one-time link this prints. Admins invite the rest of their
staff in the console, or an operator does it here. A link is shown once and lasts 72 hours.
"""

from __future__ import annotations

import click

from mkp_admin.base import ctx_for, fail, json_option, request_body, table
from mkp_core.cli_speech import local_time, say
from mkp_core.i18n import N_


@click.command("applications")
@click.option("--all", "show_all", is_flag=True, help="Decided ones too, not only those waiting.")
@json_option
def municipality_applications(show_all: bool, as_json: bool) -> None:
    """Applications to join, oldest first (central operator)."""
    ctx = ctx_for(as_json)
    data = ctx.call("GET", "/v1/municipality-applications" + ("?status=all" if show_all else ""))
    if ctx.as_json:
        ctx.show(data, "")
    elif not data["applications"]:
        click.echo(say("no applications waiting"))
    else:
        rows = [{**a, "created_at": local_time(a["created_at"])} for a in data["applications"]]
        columns = [("municipality", N_("code")), ("name", N_("name")), ("department", N_("department"))]
        extra = [("contact_email", N_("contact")), ("status", N_("status")), ("created_at", N_("applied on"))]
        table([*columns, *extra], rows)


@click.command("approve")
@click.argument("code")
@json_option
def municipality_approve(code: str, as_json: bool) -> None:
    """Approve municipality CODE's waiting application: it is added and its first admin's
    one-time invitation link is printed (valid 72 hours; give it to the applicant's contact)."""
    ctx = ctx_for(as_json)
    waiting = ctx.call("GET", "/v1/municipality-applications")["applications"]
    found = [a for a in waiting if a["municipality"] == code]
    if not found:
        fail(1, say("municipality %(code)s has no application waiting", code=code), "no_pending_application")
    approved = ctx.call("POST", f"/v1/municipality-applications/{found[0]['id']}/approve")
    invitation = approved["invitation"]
    text = say(
        "approved %(code)s %(name)s; send this link to %(email)s (valid until %(until)s, shown once):",
        code=approved["municipality"],
        name=approved["name"],
        email=approved["contact_email"],
        until=local_time(invitation["expires_at"]),
    )
    ctx.show(approved, f"{text}\n{invitation['link']}")


@click.group()
def staff() -> None:
    """Municipal staff of the console."""


@staff.command("invite")
@click.option("--municipality", help="The municipality's code (omit: one of the platform's own staff).")
@click.option(
    "--role", required=True, type=click.Choice(["admin", "clerk", "viewer"]), help="What they may do."
)
@click.option("--department", help="A clerk's department (its code).")
@json_option
def staff_invite(municipality: str | None, role: str, department: str | None, as_json: bool) -> None:
    """Print a one-time invitation link (valid 72 hours; the server keeps only its hash)."""
    ctx = ctx_for(as_json)
    made = ctx.call(
        "POST",
        "/v1/staff-invitations",
        request_body(municipality=municipality, role=role, department=department),
    )
    until = say("valid until %(until)s; shown once", until=local_time(made["expires_at"]))
    ctx.show(made, f"{made['link']}\n{until}")
