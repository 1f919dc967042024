"""`mkp-admin audit list`: who changed what, when and why, newest first.

A municipality's operator sees its own town's trail; the central operator all of it, or one
town's with ``--municipality``. ``--all`` follows the pages to the start (or to ``--since``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import urlencode

import click

from mkp_admin.base import ctx_for, json_option, table
from mkp_core.cli_speech import say
from mkp_core.dates import JST
from mkp_core.i18n import N_

PAGE = 500


@click.group()
def audit() -> None:
    """The audit trail: every change made by an operator, partner or member of staff."""


@audit.command("list")
@click.option("--municipality", help="One municipality's trail (a scoped operator: its own, always).")
@click.option("--since", help="From this day (JST, YYYY-MM-DD) or ISO 8601 time with its offset.")
@click.option(
    "--limit", type=click.IntRange(1, 100_000), default=100, show_default=True, help="At most this many."
)
@json_option
def audit_list(municipality: str | None, since: str | None, limit: int, as_json: bool) -> None:
    """The trail, newest first: when, who, which town, what, the request id and the reason."""
    ctx = ctx_for(as_json)
    entries: list[dict[str, Any]] = []
    before_id: int | None = None
    while len(entries) < limit:
        query = {
            "municipality": municipality,
            "since": since,
            "before_id": before_id,
            "limit": min(PAGE, limit - len(entries)),
        }
        page = ctx.call("GET", "/v1/audit?" + urlencode({k: v for k, v in query.items() if v is not None}))
        entries.extend(page["entries"])
        before_id = page["next_before_id"]
        if before_id is None:
            break
    if ctx.as_json:
        ctx.show({"entries": entries}, "")
        return
    if not entries:
        click.echo(say("no entries"))
        return
    rows = [{**e, "at": _jst(e["at"]), "reason": e["reason"] or ""} for e in entries]
    columns = [
        ("at", N_("when (JST)")),
        ("actor", N_("who")),
        ("municipality", N_("town")),
        ("target", N_("what")),
    ]
    table([*columns, ("request_id", N_("request")), ("reason", N_("reason"))], rows)


def _jst(text: str) -> str:
    return datetime.fromisoformat(text).astimezone(JST).strftime("%Y-%m-%d %H:%M:%S")
