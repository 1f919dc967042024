"""`mkp-admin crl import | upload`: the JPKI CRL, sent as the CA signed it; the server then sweeps."""

from __future__ import annotations

from typing import Any

import click

from mkp_admin.base import client_id_option, ctx_for, json_option, request_body, when
from mkp_core.cli_speech import fail_with, say
from mkp_core.crl_source import as_upload_text, read_crl
from mkp_core.errors import MkpError


@click.group()
def crl() -> None:
    """Revocation lists of JPKI user-authentication certificates."""


def _sweep_line(sweep: dict[str, Any] | None) -> str:
    if not sweep:
        return ""
    ids = ", ".join(sweep["suspended"][:20]) + (" …" if len(sweep["suspended"]) > 20 else "")
    return (
        f"\nsweep: {sweep['checked']} MyKey certificates checked, {sweep['revoked']} newly revoked; "
        f"{len(sweep['suspended'])} MyKey IDs suspended{': ' + ids if ids else ''}"
        + (
            f"; suspended already: {', '.join(sweep['already_suspended'])}"
            if sweep["already_suspended"]
            else ""
        )
    )


@crl.command("import")
@click.argument("source", metavar="FILE|URL")
@client_id_option
@json_option
def crl_import(source: str, client_id: str | None, as_json: bool) -> None:
    """Send the CA's CRL (PEM or DER, full or delta; from a file or an http(s) URL) to the server,
    which checks it as terminals will, refuses an older one, and suspends every MyKey ID whose
    certificate it lists. The report names the IDs suspended."""
    ctx = ctx_for(as_json)
    try:
        text = as_upload_text(read_crl(source), source)
    except MkpError as e:
        fail_with(1, e)
    info = ctx.call("POST", "/v1/crls", request_body(crl=text, client_id=client_id))
    ctx.show(
        info,
        say(
            "%(kind)s CRL number %(number)s imported: %(entries)s entries, next update %(next)s",
            kind=info["kind"],
            number=info["number"],
            entries=info["entries"],
            next=when(info["next_update"]),
        )
        + _sweep_line(info.get("sweep")),
    )


# The name of the first version; the same command.
crl.add_command(crl_import, "upload")
