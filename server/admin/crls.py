"""`mkp-admin crl`: the JPKI CRL, uploaded as the CA signed it."""

from __future__ import annotations

import base64
from pathlib import Path

import click

from server.admin.base import client_id_option, ctx_for, json_option, request_body


@click.group()
def crl() -> None:
    """Revocation lists of JPKI user-authentication certificates."""


@crl.command("upload")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@client_id_option
@json_option
def crl_upload(file: Path, client_id: str | None, as_json: bool) -> None:
    """Upload a CRL as the CA signed it (PEM or DER; full or delta): terminals download it."""
    ctx = ctx_for(as_json)
    data = file.read_bytes()
    text = (
        data.decode("ascii", "replace")
        if data.lstrip().startswith(b"-----BEGIN")
        else base64.b64encode(data).decode()
    )
    info = ctx.call("POST", "/v1/crls", request_body(crl=text, client_id=client_id))
    ctx.show(
        info,
        f"{info['kind']} CRL number {info['number']} uploaded: {info['entries']} entries, "
        f"next update {info['next_update']}",
    )
