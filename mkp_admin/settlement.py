"""`mkp-admin settlement close | closes | export`: close a month (JST) and export its statements."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import click

from mkp_admin.base import client_id_option, ctx_for, fail, json_option, request_body, table
from mkp_core import cli_speech
from mkp_core.cli_speech import say
from mkp_core.errors import MkpError
from mkp_core.i18n import N_
from mkp_core.settlement_export import FORMATS, export, rows

period_option = click.option("--period", required=True, help="A month, YYYY-MM (JST), e.g. 2026-11.")
municipality_option = click.option(
    "--municipality", help="One municipality (default: a scoped operator's own; a central one: all)."
)


@click.group()
def settlement() -> None:
    """Settlement (会計データ連携): close a month, export what each place, partner and department is owed."""


@settlement.command("close")
@period_option
@municipality_option
@client_id_option
@json_option
def settlement_close(period: str, municipality: str | None, client_id: str | None, as_json: bool) -> None:
    """Close a month for good: its statement is kept as it is now; later transfers go to the next month."""
    import uuid

    ctx = ctx_for(as_json)
    body = request_body(client_id=client_id or str(uuid.uuid4()), period=period, municipality=municipality)
    data = ctx.call("POST", "/v1/settlement/close", body)
    ctx.show(
        data,
        "\n".join(
            say(
                "closed %(period)s for %(municipality)s (transfers up to #%(watermark)s)",
                period=c["period"],
                municipality=c["municipality"],
                watermark=c["watermark"],
            )
            for c in data["closed"]
        ),
    )


@settlement.command("closes")
@municipality_option
@json_option
def settlement_closes(municipality: str | None, as_json: bool) -> None:
    """The months closed so far."""
    ctx = ctx_for(as_json)
    data = ctx.call("GET", "/v1/settlement/closes" + _query(municipality=municipality))
    if ctx.as_json:
        ctx.show(data, "")
        return
    columns = [
        ("municipality", N_("municipality")),
        ("period", N_("period")),
        ("watermark", N_("up to transfer")),
    ]
    table([*columns, ("closed_by", N_("closed by")), ("closed_at", N_("closed at"))], data["closes"])


@settlement.command("export")
@period_option
@municipality_option
@click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    default="csv",
    show_default=True,
    help="csv: UTF-8; csv-sjis: Shift_JIS (cp932) with CRLF, for accounting software; json.",
)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="Write here (0600), not stdout.")
@json_option
def settlement_export(
    period: str, municipality: str | None, fmt: str, out: Path | None, as_json: bool
) -> None:
    """A month's statements: one row per point code and counterparty (place, partner, department ...)."""
    ctx = ctx_for(as_json)
    data = ctx.call("GET", "/v1/settlement/statements" + _query(period=period, municipality=municipality))
    try:
        content = export(data, "json" if as_json and out is None else fmt)
    except MkpError as e:
        cli_speech.fail_with(1, e)
    if out is None:
        sys.stdout.buffer.write(content)
        sys.stdout.flush()
        return
    _write_private(out, content)
    lines = sum(1 for _ in rows(data))
    click.echo(
        say(
            "wrote %(count)s lines of %(period)s to %(file)s (%(format)s)",
            count=lines,
            period=period,
            file=out,
            format=fmt,
        ),
        err=True,
    )


def _write_private(path: Path, content: bytes) -> None:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(content)
    except OSError as e:
        fail(2, say("cannot write %(file)s: %(reason)s", file=path, reason=e.strerror))


def _query(**fields: Any) -> str:
    given = {k: v for k, v in fields.items() if v is not None}
    return "?" + urlencode(given) if given else ""
