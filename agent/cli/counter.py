"""`mkp-agent spend | balance | refund | status | queue`: the counter's actions on the command line.

The same actions as the counter page (:mod:`agent.counter.service`), for a clerk's script or a
technician: each with ``--json``; the PIN by ``--ask-pin`` / ``--pin-stdin``. A spend goes to the
server, or into the offline queue within the offline limits when the server cannot be reached
(``"offline": true``); ``mkp-agent sync`` sends the queue.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from agent.cli.card_io import EXIT_CODES_HELP, exit_code_for_code, pin_options, read_pins
from agent.counter.service import Counter
from agent.counter.status import counter_state
from agent.home import read_agent_toml
from agent.terminal import NotEnrolled, Terminal
from drivers.card.pcsc import PcscBackend
from mkp_core.cli_speech import error_line, local_time, say
from mkp_core.i18n import language_from_locale

home_option = click.option(
    "--home",
    default=".",
    envvar="MKP_HOME",
    show_default=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="The terminal's home folder (written by mkp-provision).",
)
json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON.")


def open_counter(home: Path, as_json: bool) -> Counter:
    """The counter of the terminal in ``home`` with its PC/SC reader (agent.toml's reader, if named)."""
    try:
        terminal = Terminal.open(home)
    except NotEnrolled as e:
        _out({"ok": False, "error": {"code": e.code, "detail": e.message}}, as_json, e.message)
        sys.exit(exit_code_for_code(e.code))
    reader = read_agent_toml(terminal.home).get("reader", {}).get("name")
    return Counter(terminal, PcscBackend(), reader=reader)


def _out(result: dict[str, Any], as_json: bool, text: str) -> None:
    if as_json:
        click.echo(json.dumps(result, ensure_ascii=False, indent=2, default=str))
    else:
        click.echo(text)


def finish(result: dict[str, Any], as_json: bool, text: str) -> None:
    """Print the result; exit with the code of its refusal (0 when done)."""
    if result.get("ok"):
        _out(result, as_json, text)
        return
    error = result["error"]
    words = error.get("message") or {}  # the counter's words for the refusal, in each language
    message = words.get(language_from_locale()) or words.get("en") or error.get("detail") or error["code"]
    if as_json:
        _out(result, True, "")
    click.echo(f"mkp-agent: {error_line(error['code'] + ': ' + message)}", err=True)
    sys.exit(exit_code_for_code(error["code"]))


def _pin(pin: str | None, pin_stdin: bool, ask_pin: bool) -> str:
    return read_pins(pin, pin_stdin, ask_pin)[0]


def _receipt_line(result: dict[str, Any]) -> str:
    receipt = result.get("receipt") or {}
    if receipt.get("printed"):
        return say("; receipt printed")
    return say(
        "; receipt NOT printed (%(error)s): mkp-agent reprint %(id)s",
        error=receipt.get("error"),
        id=receipt.get("id"),
    )


@click.command(epilog=EXIT_CODES_HELP)
@home_option
@click.option("--amount", type=click.IntRange(min=1), help="Points, a whole number.")
@click.option("--item", help="An item of the place's price list (e.g. adult), instead of --amount.")
@click.option("--quantity", default=1, show_default=True, type=click.IntRange(1, 100))
@click.option("--point-code", help="Whose points (default: of those valid here, the one expiring first).")
@pin_options
@json_option
def spend(
    home: Path,
    amount: int | None,
    item: str | None,
    quantity: int,
    point_code: str | None,
    pin: str | None,
    pin_stdin: bool,
    ask_pin: bool,
    as_json: bool,
) -> None:
    """Spend points of the card in the reader here; offline within the limits if the server is away."""
    if (amount is None) == (item is None):
        raise click.UsageError(say("give --amount N or --item CODE"))
    counter = open_counter(home, as_json)
    result = counter.spend(_pin(pin, pin_stdin, ask_pin), amount, item, quantity, point_code)
    mark = say(" (offline: queued, sent when the server is back)") if result.get("offline") else ""
    finish(
        result,
        as_json,
        say("spent %(amount)s points", amount=result.get("amount")) + mark + _receipt_line(result)
        if result.get("ok")
        else "",
    )


@click.command(epilog=EXIT_CODES_HELP)
@home_option
@pin_options
@json_option
def balance(home: Path, pin: str | None, pin_stdin: bool, ask_pin: bool, as_json: bool) -> None:
    """The card holder's balances by point code, and what expires next."""
    result = open_counter(home, as_json).balance(_pin(pin, pin_stdin, ask_pin))
    lines = [
        f"{b['point_code']:<24} {b['balance']:>10,}  {b.get('name', '')}" for b in result.get("balances", [])
    ]
    finish(result, as_json, "\n".join(lines) or say("no points"))


@click.command(epilog=EXIT_CODES_HELP)
@home_option
@click.argument("transfer_id", type=click.IntRange(min=1))
@pin_options
@json_option
def refund(
    home: Path, transfer_id: int, pin: str | None, pin_stdin: bool, ask_pin: bool, as_json: bool
) -> None:
    """Give back a spend made here (the paying card must be in the reader)."""
    result = open_counter(home, as_json).refund(_pin(pin, pin_stdin, ask_pin), transfer_id)
    finish(
        result,
        as_json,
        say("refunded %(amount)s points", amount=result.get("amount")) + _receipt_line(result)
        if result.get("ok")
        else "",
    )


@click.command()
@home_option
@click.argument("receipt_id", type=click.IntRange(min=1))
@json_option
def reprint(home: Path, receipt_id: int, as_json: bool) -> None:
    """Print a kept receipt again (after the printer ran out of paper, say)."""
    result = open_counter(home, as_json).reprint(receipt_id)
    finish(result, as_json, say("receipt %(id)s printed", id=receipt_id))


@click.command()
@home_option
@json_option
def status(home: Path, as_json: bool) -> None:
    """The counter: place, online or not (the server is asked now), the offline queue, last contact."""
    counter = open_counter(home, as_json)
    counter.check_server()
    state = counter_state(counter)
    text = say(
        "%(place)s (%(terminal)s): %(online)s; %(pending)s queued (%(amount)s points); last contact %(contact)s",
        place=state["place"].get("name") or "-",
        terminal=state["terminal"]["id"],
        online=say("online") if state["online"] else say("offline"),
        pending=state["queue"]["pending"],
        amount=state["queue"]["pending_amount"],
        contact=local_time(state["last_contact"]),
    )
    _out(state, as_json, text)


@click.command()
@home_option
@click.option("--status", "which", type=click.Choice(["pending", "accepted", "refused"]), help="Only these.")
@json_option
def queue(home: Path, which: str | None, as_json: bool) -> None:
    """The offline queue: every entry with its state (pending, accepted, refused)."""
    counter = open_counter(home, as_json)
    entries = [e.to_dict() for e in counter.queue.entries(which)]
    lines = [
        f"#{e['seq']:<6} {local_time(e['created_at'])}  {e['amount']:>8}  {e['status']}" for e in entries
    ]
    _out(
        {"entries": entries, "pending": counter.queue.totals().pending},
        as_json,
        "\n".join(lines) or say("the queue is empty"),
    )
