"""`mkp-agent mypage code | login`: open My Page with the card.

``code`` (at a kiosk, ``--home DIR``): prints a one-time activation code on the receipt, for
``/mypage/signup`` at home. ``login`` (at home, ``--server URL``, the holder's own reader): opens
the browser on a one-time login link (``--no-browser``: only print it).
"""

from __future__ import annotations

import webbrowser
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any

import click

from agent.cli.card_io import EXIT_CODES_HELP, pin_options, read_pins
from agent.cli.counter import finish, home_option, json_option, open_counter
from agent.cli.mykey import HolderOptions, _with_card, holder_command
from agent.mypage import JST, login_link, request_activation_code


@click.group()
def mypage() -> None:
    """My Page: an activation code at a kiosk, a login link at home."""


@mypage.command(epilog=EXIT_CODES_HELP)
@home_option
@pin_options
@json_option
def code(home: Path, pin: str | None, pin_stdin: bool, ask_pin: bool, as_json: bool) -> None:
    """Print a My Page activation code for the card in the reader (valid 24 hours, used once)."""
    (typed,) = read_pins(pin, pin_stdin, ask_pin, ("PIN",))
    result = request_activation_code(open_counter(home, as_json), typed)
    text = ""
    if result.get("ok"):
        until = datetime.fromisoformat(result["expires_at"]).astimezone(JST)
        receipt = result["receipt"]
        printed = "printed" if receipt["printed"] else f"NOT printed ({receipt['error']}): write it down"
        text = (
            f"My Page activation code {result['code']} for MyKey ID {result['mykey_id']}, "
            f"valid until {until:%Y-%m-%d %H:%M} JST; receipt {printed}"
        )
    finish(result, as_json, text)


@click.option("--no-browser", is_flag=True, help="Print the link; do not open a browser.")
@partial(holder_command, group=mypage)
def login(o: HolderOptions, no_browser: bool) -> None:
    """Log in to My Page with the card: opens the browser on a one-time link (ten minutes)."""

    def text(r: dict[str, Any]) -> str:
        opened = not no_browser and webbrowser.open(r["url"])
        lead = "opened My Page in your browser" if opened else "open this link in your browser"
        return f"{lead} (one use, within ten minutes):\n{r['url']}"

    _with_card(o, lambda api, card: login_link(api.api, card), text)
