"""`mkp-admin migrate import | report`: a shopping street's member balances into municipal points."""

from __future__ import annotations

import base64
import uuid
from pathlib import Path
from typing import Any

import click

from mkp_admin.base import client_id_option, ctx_for, fail, json_option, path_part, request_body, table, when
from mkp_core.i18n import N_
from mkp_core.migration_file import read_migration_file


@click.group()
def migrate() -> None:
    """Migrate a shopping street's own points: each member's balance is credited once they link
    their member number to their MyKey ID."""


@migrate.command("import")
@click.option("--service", required=True, help="The street's MyKey service code, e.g. A1.")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--claim-until", required=True, help="The last day (JST, YYYY-MM-DD) a balance can be claimed.")
@click.option("--point-code", help="Which points they become (default the street's municipality's own).")
@click.option("--dry-run", is_flag=True, help="Check the file and show the totals; import nothing.")
@client_id_option
@json_option
def migrate_import(
    service: str,
    file: Path,
    claim_until: str,
    point_code: str | None,
    dry_run: bool,
    client_id: str | None,
    as_json: bool,
) -> None:
    """Import FILE (CSV: member_number,balance or 会員番号,残高; UTF-8 or Shift_JIS), checked whole."""
    ctx = ctx_for(as_json)
    data = file.read_bytes()
    found = read_migration_file(data).read
    if found.problem_count:
        for p in found.problems:
            click.echo(f"  line {p['line']}: {p['code']}: {p['message']}", err=True)
        first = found.problems[0]
        fail(1, f"{file.name}: line {first['line']}: {first['message']} (nothing was imported)")
    body = request_body(
        client_id=client_id or str(uuid.uuid4()),
        service=service,
        file=base64.b64encode(data).decode(),
        claim_until=claim_until,
        point_code=point_code,
        dry_run=dry_run,
    )
    summary = ctx.call("POST", "/v1/migrations", body)
    ctx.show(summary, _summary_text(file.name, summary, dry_run))


def _summary_text(name: str, s: dict[str, Any], dry_run: bool) -> str:
    head = "dry run: " if dry_run else "already imported: " if s["already_imported"] else ""
    text = (
        f"{head}{name}: {s['members']:,} members, {s['points']:,} {s['point_code']} points of {s['service']}, "
        f"claimable until {when(s['lapses_at'])}"
    )
    if s.get("claimed_at_import"):
        text += f"; {s['claimed_at_import']} members linked already were credited"
    return text + ("; nothing was imported" if dry_run else "")


@migrate.command("report")
@click.option("--service", required=True, help="The street's MyKey service code.")
@json_option
def migrate_report(service: str, as_json: bool) -> None:
    """Members claimed, waiting and lapsed; the unclaimed ones listed."""
    ctx = ctx_for(as_json)
    data = ctx.call("GET", f"/v1/migrations/{path_part(service, 'a service code')}")
    if ctx.as_json:
        ctx.show(data, "")
        return
    for state in ("claimed", "waiting", "lapsed"):
        click.echo(f"{state}: {data[state]['members']:,} members, {data[state]['points']:,} points")
    if data["unclaimed"]:
        columns = [("member_number", N_("member")), ("balance", N_("balance")), ("point_code", N_("points"))]
        table([*columns, ("state", N_("state")), ("lapses_at", N_("lapses at"))], data["unclaimed"])
