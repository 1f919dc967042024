"""`mkp-admin`: the central operator's CLI. An HTTP client of the server, nothing more.

Exit codes: 0 done; 1 the server refused (or `ledger verify` found a breach); 2 usage or
configuration error; 3 the server could not be reached.
"""

from __future__ import annotations

import os

import click

from mkp_admin import (
    audit,
    conntest,
    counter,
    crls,
    departments,
    events,
    migration,
    mykeys,
    partners,
    points,
    releases,
    rewards,
    rules,
    settlement,
    staff,
    terminals,
    transit,
    vouchers,
)
from mkp_admin.base import DEFAULT_CONFIG, Ctx, json_option, load_config
from mkp_core.cli_speech import CommandLine


@click.group(cls=CommandLine)
@click.option(
    "--server", envvar="MKP_SERVER", help="Server URL (default from config, else http://127.0.0.1:8080)."
)
@click.option("--config", "config_file", help=f"TOML file with server and token (default {DEFAULT_CONFIG}).")
@json_option
@click.version_option(package_name="mkp")
@click.pass_context
def main(ctx: click.Context, server: str | None, config_file: str | None, as_json: bool) -> None:
    """mkp operator CLI. Token from MKP_TOKEN or the config file."""
    config = load_config(config_file)
    ctx.obj = Ctx(
        server or config.get("server", "http://127.0.0.1:8080"),
        os.environ.get("MKP_TOKEN") or config.get("token"),
        as_json,
    )


for command in (
    points.municipality,
    points.point_code,
    departments.grant,
    points.spend,
    points.refund,
    points.reverse,
    points.balance,
    points.points,
    points.ledger,
    rules.rule,
    rules.agreement,
    rules.price_list,
    departments.department,
    departments.report,
    events.event,
    rewards.reward,
    transit.transit,
    terminals.place,
    terminals.terminal,
    crls.crl,
    mykeys.service,
    mykeys.mykey,
    releases.release_group,
    counter.exceptions,
    vouchers.voucher,
    conntest.conntest,
    partners.partner,
    settlement.settlement,
    migration.migrate,
    audit.audit,
    staff.staff,
):
    main.add_command(command)
terminals.terminal.add_command(counter.terminal_status)
points.points.add_command(partners.release_held)
points.municipality.add_command(staff.municipality_applications)
points.municipality.add_command(staff.municipality_approve)


if __name__ == "__main__":
    main()
