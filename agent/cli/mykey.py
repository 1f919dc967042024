"""`mkp-agent mykey ...` and `mkp-agent lookup`: the MyKey Platform with the card in the reader.

At home (any Linux PC with a PC/SC reader) a holder needs only ``--server URL``: the card is the
credential. At a kiosk that helps a resident, ``--home DIR`` names the terminal's folder and its
server. ``lookup`` and ``confirm-link`` are the terminal's own calls (signed with its key).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import click

from agent.card_session import ProvingCard, check_card_locally, proving_card
from agent.cli.card_io import EXIT_CODES_HELP, HANDLED, fail, pin_options, read_pins
from agent.home import Home, read_agent_toml
from agent.member_card import number_from_barcode
from agent.mykey import MyKeyClient, TerminalLookups
from agent.terminal import Terminal
from drivers.card.pcsc import PcscBackend
from mkp_core import mykey_id as rules
from mkp_core.cli_speech import say
from mkp_core.client import ApiClient
from mkp_core.errors import Forbidden, MkpError
from mkp_core.ids import validate_local_service_id, validate_service_code

PROG = "mkp-agent mykey"


@dataclass(frozen=True)
class HolderOptions:
    """What every holder command takes: where the server is, which reader, the PIN, the output."""

    server: str | None
    home: Path | None
    reader: str | None
    pin: str | None
    pin_stdin: bool
    ask_pin: bool
    as_json: bool

    def api(self) -> ApiClient:
        if self.server:
            return ApiClient(self.server)
        if self.home is not None:
            url = read_agent_toml(Home(self.home)).get("server", {}).get("url")
            if url:
                return ApiClient(url)
        raise click.UsageError("which server? give --server URL (or --home DIR of an enrolled terminal)")

    def pins(self, *names: str) -> list[str]:
        return read_pins(self.pin, self.pin_stdin, self.ask_pin, names or ("PIN",))

    def fail(self, e: BaseException) -> NoReturn:
        fail(e, self.as_json, PROG)

    def done(self, result: dict[str, Any], text: str) -> None:
        click.echo(json.dumps(result, ensure_ascii=False, indent=2) if self.as_json else text)


_HOLDER_FIELDS = ("server", "home", "reader", "pin", "pin_stdin", "ask_pin", "as_json")


def holder_command(f: Callable[..., None], group: click.Group | None = None) -> click.Command:
    """A `mkp-agent mykey` command (or one of ``group``'s): the holder options come to ``f`` as one
    ``HolderOptions``."""

    @functools.wraps(f)
    def command(**kwargs: Any) -> None:
        options = HolderOptions(**{name: kwargs.pop(name) for name in _HOLDER_FIELDS})
        f(options, **kwargs)

    command = click.option("--json", "as_json", is_flag=True, help="Print JSON.")(command)
    command = click.option(
        "--reader", default=None, help="Reader name (or a unique part); default: the first card found."
    )(command)
    command = click.option(
        "--home",
        type=click.Path(file_okay=False, path_type=Path),
        help="A terminal's folder: use its server (a kiosk helping a resident).",
    )(command)
    command = click.option("--server", envvar="MKP_SERVER", help="The server's URL (at home).")(command)
    return (group or mykey).command(epilog=EXIT_CODES_HELP)(pin_options(command))


@contextmanager
def _cards(readers: list[str | None], pins: list[str]) -> Iterator[list[ProvingCard]]:
    """The cards in ``readers``, each opened with its PIN (all of them open until the block ends)."""
    backend = PcscBackend()
    with ExitStack() as stack:
        yield [
            stack.enter_context(proving_card(backend, pin, reader))
            for reader, pin in zip(readers, pins, strict=True)
        ]


def _with_card(
    o: HolderOptions,
    work: Callable[[MyKeyClient, ProvingCard], dict[str, Any]],
    text: Callable[[dict[str, Any]], str],
) -> None:
    """Open the card with its PIN, do ``work`` with the server, print the answer (or fail)."""
    try:
        api = o.api()
        (pin,) = o.pins()
        with _cards([o.reader], [pin]) as (card,):
            result = work(MyKeyClient(api), card)
    except HANDLED as e:
        o.fail(e)
    o.done(result, text(result))


def _checked(o: HolderOptions, check: Callable[[str], str], value: str) -> str:
    """A rule applied before the card is touched (a bad ID is refused without spending a try)."""
    try:
        return check(value)
    except MkpError as e:
        o.fail(e)


@click.group()
def mykey() -> None:
    """Your MyKey ID, with your My Number card: register, link services, renew, suspend."""


@click.option(
    "--id", "chosen", help="An 8-character ID of your own (letters and digits); default: a random one."
)
@click.option("--home-municipality", help="Where converted points go when you name none (6-digit code).")
@holder_command
def register(o: HolderOptions, chosen: str | None, home_municipality: str | None) -> None:
    """Create the MyKey ID of the card in the reader (a card that has one gets it back)."""
    if chosen is not None:
        _checked(o, rules.validate_chosen, chosen)

    def text(r: dict[str, Any]) -> str:
        return f"MyKey ID {r['mykey_id']}" + (
            " (new)" if r["created"] else " (this card's, registered before)"
        )

    _with_card(o, lambda c, card: c.register(card, chosen, home_municipality), text)


def _show_text(r: dict[str, Any]) -> str:
    reason = f" ({r['suspend_reason']})" if r.get("suspend_reason") else ""
    lines = [f"MyKey ID {r['mykey_id']}: {r['status']}{reason}"]
    lines += [
        f"  {x['service']:<12} {x['local_id']:<20} {x['status']}  {x['name']}" for x in r.get("links", [])
    ]
    return "\n".join(lines)


@holder_command
def show(o: HolderOptions) -> None:
    """Your MyKey ID, its state and the services linked to it."""
    _with_card(o, lambda c, card: c.show(card), _show_text)


@click.argument("new_id")
@holder_command
def change_id(o: HolderOptions, new_id: str) -> None:
    """Change your MyKey ID to one of your own (a limited number of times; your points stay)."""
    _checked(o, rules.validate_chosen, new_id)
    _with_card(
        o,
        lambda c, card: c.change_id(card, new_id),
        lambda r: say(
            "MyKey ID %(mykey_id)s (%(changes)s change(s) left)",
            mykey_id=r["mykey_id"],
            changes=r["changes_left"],
        ),
    )


@click.option(
    "--scan-image",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A photo of your old member card's barcode: its number is LOCAL_ID.",
)
@click.option("--scan-camera", type=int, help="Read your old member card's barcode with camera N instead.")
@click.argument("local_id", required=False)
@click.argument("service")
@holder_command
def link(
    o: HolderOptions, service: str, local_id: str | None, scan_image: Path | None, scan_camera: int | None
) -> None:
    """Link your number LOCAL_ID at SERVICE, such as A1 789: its terminals then know you by your card.
    A street's old card may be scanned instead of typed (a balance moved from it is credited then)."""
    code = _checked(o, validate_service_code, service.upper())
    if [local_id, scan_image, scan_camera].count(None) != 2:
        raise click.UsageError("give LOCAL_ID, or --scan-image FILE, or --scan-camera N (one of them)")
    if local_id is None:
        try:
            local_id = number_from_barcode(scan_image, scan_camera)
        except HANDLED as e:
            o.fail(e)
    _checked(o, validate_local_service_id, local_id)
    number = local_id

    def text(r: dict[str, Any]) -> str:
        pending = f" (waits for the staff of {r['name']} to confirm it)" if r["status"] == "pending" else ""
        return f"linked {r['service']}: {r['local_id']}{pending}"

    _with_card(o, lambda c, card: c.link(card, code, number), text)


@click.argument("service")
@holder_command
def unlink(o: HolderOptions, service: str) -> None:
    """Remove the link to SERVICE."""
    code = _checked(o, validate_service_code, service.upper())
    _with_card(
        o, lambda c, card: c.unlink(card, code), lambda r: f"unlinked {r['service']} ({r['local_id']})"
    )


@holder_command
def suspend(o: HolderOptions) -> None:
    """Suspend your MyKey ID now (only the municipal office can resume it)."""
    _with_card(
        o,
        lambda c, card: c.suspend(card),
        lambda r: say(
            "MyKey ID %(mykey_id)s is suspended; ask the municipal office to resume it",
            mykey_id=r["mykey_id"],
        ),
    )


@click.option(
    "--code", help="The renewal code the municipal office gave you (then only the new card is needed)."
)
@click.option(
    "--old-reader", help="The reader holding the old card (both cards present; its PIN is asked first)."
)
@holder_command
def renew(o: HolderOptions, code: str | None, old_reader: str | None) -> None:
    """Move your MyKey ID to a new card (in --reader): with the old card too, or a renewal code."""
    if (code is None) == (old_reader is None):
        raise click.UsageError("give either --code CODE or --old-reader READER (with the old card in it)")
    try:
        client = MyKeyClient(o.api())
        if code is not None:
            (new_pin,) = o.pins("PIN of the new card")
            with _cards([o.reader], [new_pin]) as (new,):
                result = client.renew_with_code(new, code)
        else:
            pins = o.pins("PIN of the old card", "PIN of the new card")
            with _cards([old_reader, o.reader], pins) as (old, new):
                result = client.renew_with_old_card(old, new)
    except HANDLED as e:
        o.fail(e)
    o.done(
        result,
        say(
            "MyKey ID %(mykey_id)s now works with the new card; the old one no longer does",
            mykey_id=result["mykey_id"],
        ),
    )


# --- the terminal's own calls --------------------------------------------------------------------


def _terminal_lookups(home: Path) -> tuple[Terminal, TerminalLookups]:
    t = Terminal.open(home)
    service = t.service
    if not service:
        raise Forbidden(
            "no_service", f"terminal {t.terminal_id}'s place belongs to no service: ask the operator"
        )
    return t, TerminalLookups(t.client(), service)


def _terminal_command(
    home: Path,
    reader: str | None,
    pins: tuple[str | None, bool, bool],
    as_json: bool,
    work: Callable[[TerminalLookups, ProvingCard], dict[str, Any]],
    prog: str,
) -> dict[str, Any]:
    """Open the terminal and the card, check the card locally, then ``work`` with the server."""
    try:
        t, lookups = _terminal_lookups(home)
        (pin,) = read_pins(*pins)
        with _cards([reader], [pin]) as (card,):
            trust = t.jpki_trust()
            check_card_locally(card, trust, t.crl_stores(trust))
            return work(lookups, card)
    except HANDLED as e:
        fail(e, as_json, prog)


home_required = click.option(
    "--home",
    required=True,
    envvar="MKP_HOME",
    type=click.Path(file_okay=False, path_type=Path),
    help="The terminal's home folder (written by mkp-provision).",
)


@mykey.command("confirm-link", epilog=EXIT_CODES_HELP)
@home_required
@click.option("--reader", default=None, help="Reader name; default: the first card found.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pin_options
def confirm_link(
    home: Path, reader: str | None, as_json: bool, pin: str | None, pin_stdin: bool, ask_pin: bool
) -> None:
    """Staff: confirm the card holder's pending link to this terminal's service (after checking
    the service's own card)."""
    r = _terminal_command(
        home, reader, (pin, pin_stdin, ask_pin), as_json, lambda lk, card: lk.confirm_link(card), PROG
    )
    _echo(r, as_json, f"{r['service']}: {r['local_id']} confirmed")


@click.command(epilog=EXIT_CODES_HELP)
@home_required
@click.option("--reader", default=None, help="Reader name; default: the first card found.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pin_options
def lookup(
    home: Path, reader: str | None, as_json: bool, pin: str | None, pin_stdin: bool, ask_pin: bool
) -> None:
    """This terminal's service ID for the card in the reader ("A1: 789"). Nothing is recorded."""
    r = _terminal_command(
        home, reader, (pin, pin_stdin, ask_pin), as_json, lambda lk, card: lk.lookup(card), "mkp-agent lookup"
    )
    _echo(r, as_json, f"{r['service']}: {r['service_id']}")


def _echo(result: dict[str, Any], as_json: bool, text: str) -> None:
    click.echo(json.dumps(result, ensure_ascii=False, indent=2) if as_json else text)
