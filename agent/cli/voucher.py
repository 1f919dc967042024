"""`mkp-agent voucher verify | redeem | issue`: paper point vouchers at a terminal.

``verify`` is offline: the QR code read from a photo or the camera is checked with the voucher
keys of the trust list the terminal downloaded (signature, key not withdrawn, dates); whether it
was used already only the server knows. ``redeem`` checks the same way first, then asks the
server to mark the serial used and credit this place. ``issue`` turns the card holder's points
into a voucher printed here; a print that fails voids it and the points go back. A voucher that
printed but whose "printed" the server did not hear is marked in the queue file first and
confirmed at the next sync (:mod:`agent.voucher_prints`): "printed; the server will be told at
the next sync", exit 0 as for an offline redemption.

When the server cannot be reached, ``redeem`` accepts a voucher read from its QR code offline,
within the terminal's offline limits, and queues it in the counter's offline queue ("accepted
offline, queued"; ``mkp-agent sync`` sends it, the server redeems it once): see
:mod:`agent.vouchers`. A typed serial cannot be checked offline (exit 8).
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from agent.cli.card_io import EXIT_CODES_HELP, HANDLED, fail, pin_options, read_pins
from agent.home import read_agent_toml
from agent.terminal import Terminal
from mkp_core import cardproof
from mkp_core.cli_speech import say
from mkp_core.client import ApiError, Unreachable
from mkp_core.errors import MkpError
from mkp_core.voucher import Voucher, decode_voucher, ring_of_trust_list

PROG = "mkp-agent voucher"
TERMINAL = "/v1/terminal"

home_option = click.option(
    "--home",
    default=".",
    envvar="MKP_HOME",
    show_default=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="The terminal's home folder (written by mkp-provision).",
)
json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON.")


def source_options(f: Any) -> Any:
    """--image / --camera / --timeout: where the voucher's QR code is read from."""
    f = click.option("--camera", type=int, help="Read the QR code from this camera (V4L2 index).")(f)
    f = click.option(
        "--image", type=click.Path(dir_okay=False, path_type=Path), help="Read the QR code from a photo."
    )(f)
    f = click.option("--timeout", default=30.0, show_default=True, help="Seconds to wait for the camera.")(f)
    return f


@click.group()
def voucher() -> None:
    """Paper point vouchers: verify offline, redeem once, issue for the card holder."""


def _scanned(image: Path | None, camera: int | None, timeout: float) -> str:
    """The voucher text of the first QR code in the photo, or seen by the camera."""
    from agent.vouchers import read_voucher_text
    from drivers.scanner import Camera, ImageFiles

    if (image is None) == (camera is None):
        raise click.UsageError(say("give --image FILE or --camera N"))
    if image is not None:
        return read_voucher_text(ImageFiles([image]))
    return read_voucher_text(Camera(camera or 0), timeout)


def voucher_view(v: Voucher) -> dict[str, Any]:
    """A verified voucher as --json shows it (the serial grouped as printed, times in ISO 8601)."""
    return {
        "serial": v.serial_text,
        "point_code": v.point_code,
        "amount": v.amount,
        "issued_at": v.issued.isoformat(),
        "expires_at": v.expires.isoformat(),
        "last_day": v.last_valid_day.isoformat(),
        "key_id": v.key_id,
    }


def _verify(terminal: Terminal, text: str) -> Voucher:
    return decode_voucher(text, ring_of_trust_list(terminal.trust_list()), now=datetime.now(UTC))


def _echo(result: dict[str, Any], as_json: bool, text: str) -> None:
    click.echo(json.dumps(result, ensure_ascii=False, indent=2, default=str) if as_json else text)


@voucher.command(epilog=EXIT_CODES_HELP)
@home_option
@source_options
@json_option
def verify(home: Path, image: Path | None, camera: int | None, timeout: float, as_json: bool) -> None:
    """Check a voucher offline with the downloaded trust list (not whether it was used)."""
    try:
        terminal = Terminal.open(home)
        v = _verify(terminal, _scanned(image, camera, timeout))
    except HANDLED as e:
        fail(e, as_json, PROG)
    result = {"ok": True, "offline": True, **voucher_view(v)}
    _echo(
        result,
        as_json,
        say(
            "valid: %(points)s %(point_code)s points, %(serial)s, good through %(day)s",
            points=f"{v.amount:,}",
            point_code=v.point_code,
            serial=v.serial_text,
            day=v.last_valid_day,
        ),
    )


@voucher.command(epilog=EXIT_CODES_HELP)
@home_option
@source_options
@click.option("--text", help="The voucher's text as scanned (MKP1:...).")
@click.option(
    "--serial", help="The serial printed on the voucher, typed in (when the QR code will not read)."
)
@json_option
def redeem(
    home: Path,
    image: Path | None,
    camera: int | None,
    timeout: float,
    text: str | None,
    serial: str | None,
    as_json: bool,
) -> None:
    """Accept a voucher here: checked offline, then used once at the server (``voucher_used`` after);
    while the server is away, accepted offline within the limits and queued for the next sync."""
    from agent.vouchers import VoucherDesk

    try:
        terminal = Terminal.open(home)
        if serial is None and text is None:
            text = _scanned(image, camera, timeout)
        result = VoucherDesk(terminal).redeem(text=text if serial is None else None, serial=serial)
    except HANDLED as e:
        fail(e, as_json, PROG)
    if result["offline"]:
        line = say(
            "accepted offline, queued: %(points)s %(point_code)s points (%(serial)s), reference "
            "%(reference)s; sent at the next sync",
            points=f"{result['amount']:,}",
            point_code=result["point_code"],
            serial=result["serial"],
            reference=result["reference"],
        )
    else:
        line = say(
            "accepted: %(points)s %(point_code)s points (%(serial)s) at %(place)s",
            points=f"{result['amount']:,}",
            point_code=result["point_code"],
            serial=result["serial"],
            place=result["place_name"],
        )
    _echo(result, as_json, line)


@voucher.command(epilog=EXIT_CODES_HELP)
@home_option
@click.option("--amount", required=True, type=click.IntRange(min=1), help="Points on the voucher.")
@click.option("--point-code", help="Whose points (default: this place's municipality's).")
@pin_options
@json_option
def issue(
    home: Path,
    amount: int,
    point_code: str | None,
    pin: str | None,
    pin_stdin: bool,
    ask_pin: bool,
    as_json: bool,
) -> None:
    """Turn the card holder's points into a voucher printed on this terminal's printer."""
    from agent.card_session import proving_card
    from drivers.card.pcsc import PcscBackend

    try:
        (code,) = read_pins(pin, pin_stdin, ask_pin)
        terminal = Terminal.open(home)
        api = terminal.client()
        client_id = f"{terminal.terminal_id}-{uuid.uuid4()}"
        reader = read_agent_toml(terminal.home).get("reader", {}).get("name")
        with proving_card(PcscBackend(), code, reader) as card:
            challenge = api.request("POST", f"{TERMINAL}/mykey/challenges", {"purpose": cardproof.VOUCHER})
            action = cardproof.voucher_action(client_id, amount, point_code)
            proof = card.prove(cardproof.VOUCHER, challenge["challenge"], action).to_wire()
        body = {"client_id": client_id, "amount": amount, "proof": proof}
        if point_code:
            body["point_code"] = point_code
        batch = api.request("POST", f"{TERMINAL}/vouchers/issue", body)
        result = print_and_settle(terminal, batch)
    except HANDLED as e:
        fail(e, as_json, PROG)
    if result["error"]:
        fail(
            MkpError(
                "print_failed",
                say("the voucher did not print (%(error)s): voided, points returned", error=result["error"]),
            ),
            as_json,
            PROG,
        )
    v = batch["vouchers"][0]
    line = say(
        "voucher %(serial)s printed: %(points)s points, good through %(day)s",
        serial=v["serial"],
        points=f"{v['amount']:,}",
        day=v["last_day"],
    )
    if result["unconfirmed"]:  # done offline, as an offline redemption: exit 0, said in one line
        result["offline"] = True
        line = say("voucher %(serial)s printed; the server will be told at the next sync", serial=v["serial"])
    _echo(result, as_json, line)


def print_and_settle(terminal: Terminal, batch: dict[str, Any]) -> dict[str, Any]:
    """Print the vouchers on the terminal's printer, in order, then tell the server: those that
    came out are printed (valid from now on), the one that failed and every one after it void
    (their points go back). Nothing valid is left unprinted."""
    serials = [v["serial"] for v in batch["vouchers"]]
    if batch.get("replayed"):  # a retried request: the voucher exists, its text is not sent again
        return {
            "ok": False,
            "serials": serials,
            "error": "voucher_replayed: issued before, not printed twice",
        }
    done, error = _print_in_order(terminal, batch)
    api = terminal.client()
    unconfirmed, refused = _confirm_printed(terminal, serials[:done]) if done else ([], [])
    if done < len(serials):
        void = {"client_id": f"{terminal.terminal_id}-{uuid.uuid4()}", "reason": "print_failed"}
        api.request("POST", f"{TERMINAL}/vouchers/void", {**void, "serials": serials[done:]})
    if refused:
        first = refused[0]
        raise MkpError(
            first["code"],
            say(
                "voucher %(serial)s was printed but refused: %(message)s",
                serial=first["serial"],
                message=first["message"],
            ),
        )
    return {
        "ok": error is None,
        "serials": serials,
        "printed": serials[:done],
        "voided": serials[done:],
        "unconfirmed": unconfirmed,
        "error": error,
    }


def _confirm_printed(terminal: Terminal, serials: list[str]) -> tuple[list[str], list[dict[str, Any]]]:
    """Mark ``serials`` printed in the queue file, then tell the server: (the serials whose
    confirmation could not be sent: ``mkp-agent sync`` sends it again, the server's refusals)."""
    from agent.queue import OfflineQueue
    from agent.voucher_prints import confirm

    client_id = f"{terminal.terminal_id}-{uuid.uuid4()}"
    queue = OfflineQueue(terminal.home.root / "counter.sqlite3")
    try:
        queue.printed_unconfirmed(serials, client_id)
        refused = confirm(queue, terminal.client().request, client_id, serials)
    except (Unreachable, ApiError):  # away, or a 5xx: the mark stays, the sync sends it again
        return serials, []
    finally:
        queue.close()
    return [], refused


def _print_in_order(terminal: Terminal, batch: dict[str, Any]) -> tuple[int, str | None]:
    """(how many vouchers came out whole, the error that stopped the printer or None)."""
    from drivers.printer.errors import PrinterError
    from drivers.printer.escpos_device import open_printer
    from drivers.printer.voucher import batch_receipts, print_voucher
    from drivers.profiles import ProfileError, load_printer_profile

    printer = read_agent_toml(terminal.home).get("printer", {})
    done = 0
    try:
        profile = load_printer_profile(printer.get("profile") or "")
        with open_printer(profile, printer.get("connection") or "") as device:
            for receipt in batch_receipts(batch):
                print_voucher(device, receipt)
                done += 1
    except (PrinterError, ProfileError) as e:
        return done, f"{e.code}: {e.message}"
    return done, None
