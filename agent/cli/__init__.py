"""`mkp-agent`: the terminal's command line. Each subcommand group lives in its own module."""

import click

from agent.cli.card import card
from agent.cli.config import config
from agent.cli.counter import balance, queue, refund, reprint, spend, status
from agent.cli.mykey import lookup, mykey
from agent.cli.terminal import run, sync, update
from agent.cli.voucher import voucher
from mkp_core.cli_speech import CommandLine


@click.group(cls=CommandLine)
@click.version_option(package_name="mkp")
def main() -> None:
    """mkp kiosk agent."""


main.add_command(card)
main.add_command(config)
main.add_command(mykey)
main.add_command(lookup)
for command in (run, sync, update, spend, balance, refund, reprint, status, queue):
    main.add_command(command)

# --- paper vouchers ---
main.add_command(voucher)

# --- partner points ---
from agent.cli.coupon import coupon, partner  # noqa: E402

main.add_command(coupon)
main.add_command(partner)

# --- My Page: an activation code at a kiosk, a login link at home ---
from agent.cli.mypage import mypage  # noqa: E402

main.add_command(mypage)
