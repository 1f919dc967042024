"""`mkp-agent mykey ...` and `mkp-agent lookup`: the MyKey Platform with the card in the reader.

At home (any Linux PC with a PC/SC reader) a holder needs only ``--server URL``: the card is the
credential. At a kiosk that helps a resident, ``--home DIR`` names the terminal's folder and its
server. ``lookup`` and ``confirm-link`` are the terminal's own calls (signed with its key).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import click

from agent.card_session import ProvingCard, proving_card
from agent.cli.card_io import EXIT_CODES_HELP, HANDLED, fail, pin_options, read_pins
from agent.home import Home, read_agent_toml
from agent.mykey import MyKeyClient, TerminalLookups
from agent.terminal import Terminal
from drivers.card.pcsc import PcscBackend
from mkp_core import mykey_id as rules
from mkp_core.certcheck import REFUSAL_CODES, CertStatus, check_certificate
from mkp_core.client import ApiClient
from mkp_core.errors import Forbidden, MkpError
from mkp_core.ids import validate_local_service_id, validate_service_code

PROG = "mkp-agent mykey"


def _server_options(f: Callable[..., Any]) -> Callable[..., Any]:
    f = click.option("--json", "as_json", is_flag=True, help="Print JSON.")(f)
    f = click.option(
        "--reader", default=None, help="Reader name (or a unique part); default: the first card found."
    )(f)
    f = click.option(
        "--home",
        type=click.Path(file_okay=False, path_type=Path),
        help="A terminal's folder: use its server (a kiosk helping a resident).",
    )(f)
    f = click.option("--server", envvar="MKP_SERVER", help="The server's URL (at home).")(f)
    return pin_options(f)


def _holder_api(server: str | None, home: Path | None) -> ApiClient:
    if server:
        return ApiClient(server)
    if home is not None:
        url = read_agent_toml(Home(home)).get("server", {}).get("url")
        if url:
            return ApiClient(url)
    raise click.UsageError("which server? give --server URL (or --home DIR of an enrolled terminal)")


@contextmanager
def _cards(readers: list[str | None], pins: list[str]) -> Iterator[list[ProvingCard]]:
    """The cards in ``readers``, each opened with its PIN (all of them open until the block ends)."""
    backend = PcscBackend()
    with ExitStack() as stack:
        yield [
            stack.enter_context(proving_card(backend, pin, reader))
            for reader, pin in zip(readers, pins, strict=True)
        ]


def _done(result: dict[str, Any], as_json: bool, text: str) -> None:
    click.echo(json.dumps(result, ensure_ascii=False, indent=2) if as_json else text)


def _holder_command(
    work: Callable[[MyKeyClient, ProvingCard], dict[str, Any]],
    text: Callable[[dict[str, Any]], str],
    server: str | None,
    home: Path | None,
    reader: str | None,
    pins: tuple[str | None, bool, bool],
    as_json: bool,
) -> None:
    try:
        api = _holder_api(server, home)
        pin = read_pins(*pins)[0]
        with _cards([reader], [pin]) as (card,):
            result = work(MyKeyClient(api), card)
    except HANDLED as e:
        fail(e, as_json, PROG)
    _done(result, as_json, text(result))


@click.group()
def mykey() -> None:
    """Your MyKey ID, with your My Number card: register, link services, renew, suspend."""


@mykey.command(epilog=EXIT_CODES_HELP)
@_server_options
@click.option(
    "--id", "chosen", help="An 8-character ID of your own (letters and digits); default: a random one."
)
@click.option("--home-municipality", help="Where converted points go when you name none (6-digit code).")
def register(
    server: str | None,
    home: Path | None,
    reader: str | None,
    pin: str | None,
    pin_stdin: bool,
    ask_pin: bool,
    as_json: bool,
    chosen: str | None,
    home_municipality: str | None,
) -> None:
    """Create the MyKey ID of the card in the reader (a card that has one gets it back)."""
    if chosen is not None:
        try:
            rules.validate_chosen(chosen)  # refused here, before the card is even touched
        except rules.InvalidMyKeyId as e:
            fail(e, as_json, PROG)

    def text(r: dict[str, Any]) -> str:
        return f"MyKey ID {r['mykey_id']}" + (
            " (new)" if r["created"] else " (this card's, registered before)"
        )

    _holder_command(
        lambda c, card: c.register(card, chosen, home_municipality),
        text,
        server,
        home,
        reader,
        (pin, pin_stdin, ask_pin),
        as_json,
    )


def _show_text(r: dict[str, Any]) -> str:
    lines = [
        f"MyKey ID {r['mykey_id']}: {r['status']}"
        + (f" ({r['suspend_reason']})" if r.get("suspend_reason") else "")
    ]
    lines += [
        f"  {x['service']:<12} {x['local_id']:<20} {x['status']}  {x['name']}" for x in r.get("links", [])
    ]
    return "\n".join(lines)


@mykey.command(epilog=EXIT_CODES_HELP)
@_server_options
def show(
    server: str | None,
    home: Path | None,
    reader: str | None,
    pin: str | None,
    pin_stdin: bool,
    ask_pin: bool,
    as_json: bool,
) -> None:
    """Your MyKey ID, its state and the services linked to it."""
    _holder_command(
        lambda c, card: c.show(card), _show_text, server, home, reader, (pin, pin_stdin, ask_pin), as_json
    )


@mykey.command("change-id", epilog=EXIT_CODES_HELP)
@click.argument("new_id")
@_server_options
def change_id(
    new_id: str,
    server: str | None,
    home: Path | None,
    reader: str | None,
    pin: str | None,
    pin_stdin: bool,
    ask_pin: bool,
    as_json: bool,
) -> None:
    """Change your MyKey ID to one of your own (a limited number of times; your points stay)."""
    try:
        rules.validate_chosen(new_id)
    except rules.InvalidMyKeyId as e:
        fail(e, as_json, PROG)
    _holder_command(
        lambda c, card: c.change_id(card, new_id),
        lambda r: f"MyKey ID {r['mykey_id']} ({r['changes_left']} change(s) left)",
        server,
        home,
        reader,
        (pin, pin_stdin, ask_pin),
        as_json,
    )


def _service_args(service: str, local_id: str | None, as_json: bool) -> str:
    try:
        code = validate_service_code(service.upper())
        if local_id is not None:
            validate_local_service_id(local_id)
    except MkpError as e:
        fail(e, as_json, PROG)
    return code


@mykey.command(epilog=EXIT_CODES_HELP)
@click.argument("service")
@click.argument("local_id")
@_server_options
def link(
    service: str,
    local_id: str,
    server: str | None,
    home: Path | None,
    reader: str | None,
    pin: str | None,
    pin_stdin: bool,
    ask_pin: bool,
    as_json: bool,
) -> None:
    """Link your number LOCAL_ID at SERVICE, such as A1 789: its terminals then know you by your card."""
    code = _service_args(service, local_id, as_json)

    def text(r: dict[str, Any]) -> str:
        pending = (
            " (waits for the staff of " + r["name"] + " to confirm it)" if r["status"] == "pending" else ""
        )
        return f"linked {r['service']}: {r['local_id']}{pending}"

    _holder_command(
        lambda c, card: c.link(card, code, local_id),
        text,
        server,
        home,
        reader,
        (pin, pin_stdin, ask_pin),
        as_json,
    )


@mykey.command(epilog=EXIT_CODES_HELP)
@click.argument("service")
@_server_options
def unlink(
    service: str,
    server: str | None,
    home: Path | None,
    reader: str | None,
    pin: str | None,
    pin_stdin: bool,
    ask_pin: bool,
    as_json: bool,
) -> None:
    """Remove the link to SERVICE."""
    code = _service_args(service, None, as_json)
    _holder_command(
        lambda c, card: c.unlink(card, code),
        lambda r: f"unlinked {r['service']} ({r['local_id']})",
        server,
        home,
        reader,
        (pin, pin_stdin, ask_pin),
        as_json,
    )


@mykey.command(epilog=EXIT_CODES_HELP)
@_server_options
def suspend(
    server: str | None,
    home: Path | None,
    reader: str | None,
    pin: str | None,
    pin_stdin: bool,
    ask_pin: bool,
    as_json: bool,
) -> None:
    """Suspend your MyKey ID now (only the municipal office can resume it)."""
    _holder_command(
        lambda c, card: c.suspend(card),
        lambda r: f"MyKey ID {r['mykey_id']} is suspended; ask the municipal office to resume it",
        server,
        home,
        reader,
        (pin, pin_stdin, ask_pin),
        as_json,
    )


@mykey.command(epilog=EXIT_CODES_HELP)
@_server_options
@click.option(
    "--code", help="The renewal code the municipal office gave you (then only the new card is needed)."
)
@click.option(
    "--old-reader", help="The reader holding the old card (both cards present; its PIN is asked first)."
)
def renew(
    server: str | None,
    home: Path | None,
    reader: str | None,
    pin: str | None,
    pin_stdin: bool,
    ask_pin: bool,
    as_json: bool,
    code: str | None,
    old_reader: str | None,
) -> None:
    """Move your MyKey ID to a new card (in --reader): with the old card too, or a renewal code."""
    if (code is None) == (old_reader is None):
        raise click.UsageError("give either --code CODE or --old-reader READER (with the old card in it)")
    try:
        api = _holder_api(server, home)
        client = MyKeyClient(api)
        if code is not None:
            (new_pin,) = read_pins(pin, pin_stdin, ask_pin, ("PIN of the new card",))
            with _cards([reader], [new_pin]) as (new,):
                result = client.renew_with_code(new, code)
        else:
            old_pin, new_pin = read_pins(
                pin, pin_stdin, ask_pin, ("PIN of the old card", "PIN of the new card")
            )
            with _cards([old_reader, reader], [old_pin, new_pin]) as (old, new):
                result = client.renew_with_old_card(old, new)
    except HANDLED as e:
        fail(e, as_json, PROG)
    _done(
        result,
        as_json,
        f"MyKey ID {result['mykey_id']} now works with the new card; the old one no longer does",
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


def _check_locally(t: Terminal, card: ProvingCard) -> None:
    """The terminal's own check of the card (trust list and CRL it downloaded) before it asks the
    server: a card the kiosk knows is bad is refused at once. A stale local CRL is left to the server."""
    trust = t.jpki_trust()
    result = check_certificate(card.certificate, trust, t.crl_stores(trust))
    if result.status not in (CertStatus.VALID, CertStatus.CRL_STALE):
        raise Forbidden(
            REFUSAL_CODES[result.status], f"the card's certificate cannot be used: {result.reason}"
        )


def _terminal_command(
    home: Path,
    reader: str | None,
    pins: tuple[str | None, bool, bool],
    as_json: bool,
    work: Callable[[TerminalLookups, ProvingCard], dict[str, Any]],
    prog: str,
) -> dict[str, Any]:
    try:
        t, lookups = _terminal_lookups(home)
        (pin,) = read_pins(*pins)
        with _cards([reader], [pin]) as (card,):
            _check_locally(t, card)
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
    _done(r, as_json, f"{r['service']}: {r['local_id']} confirmed")


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
    _done(r, as_json, f"{r['service']}: {r['service_id']}")
