"""`mkp-agent card ...`: read and check the My Number card in the reader."""

from __future__ import annotations

import json
import sys

import click

from agent.card_session import CardSessionResult, load_crls, load_trust, run_card_session
from agent.cli.card_io import EXIT_CODES_HELP, EXIT_OK, HANDLED, F, fail, pin_options, read_pins
from drivers.card.pcsc import PcscBackend
from mkp_core.cli_speech import local_time

EXIT_NOT_VALID = 1


def _run(
    reader: str | None, trust: tuple[str, ...], crl: tuple[str, ...], pin: str | None, as_json: bool
) -> CardSessionResult:
    try:
        store = load_trust(trust)
        crls = load_crls(crl, store)
        return run_card_session(PcscBackend(), store, crls, reader=reader, pin=pin)
    except HANDLED as exc:
        fail(exc, as_json, "mkp-agent card")


def _print(result: CardSessionResult, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(result.to_dict(), indent=2))
        return
    c = result.check
    click.echo(f"reader:    {result.reader}")
    click.echo(f"sha256:    {c.sha256}")
    click.echo(f"subject:   {c.subject}")
    click.echo(f"serial:    {c.serial:X}")
    click.echo(f"valid:     {local_time(c.not_before)} .. {local_time(c.not_after)}")
    click.echo(f"check:     {c.status.value} ({c.reason})")
    if result.pin_tries_left is not None:
        click.echo(f"pin tries: {result.pin_tries_left} left before verification")
    if result.signature_ok is not None:
        click.echo(
            f"signature: {'ok' if result.signature_ok else 'FAILED: does not verify with the certificate'}"
        )
    click.echo(f"result:    {result.result}")


def _common(f: F) -> F:
    f = click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")(f)
    f = click.option(
        "--crl",
        multiple=True,
        type=click.Path(dir_okay=False),
        envvar="MKP_CRL",
        help="CRL file (PEM or DER) of the JPKI CA; repeatable. Env MKP_CRL.",
    )(f)
    f = click.option(
        "--trust",
        multiple=True,
        type=click.Path(dir_okay=False),
        envvar="MKP_TRUST_ANCHORS",
        help="Trust-anchor PEM file; repeatable. Default: J-LIS production anchors. Env MKP_TRUST_ANCHORS.",
    )(f)
    f = click.option(
        "--reader", default=None, help="Reader name (or a unique part); default: first card found."
    )(f)
    return f


@click.group()
def card() -> None:
    """Read and check the My Number card in the reader."""


@card.command("read", epilog=EXIT_CODES_HELP)
@_common
def read(reader: str | None, trust: tuple[str, ...], crl: tuple[str, ...], as_json: bool) -> None:
    """Read the user-authentication certificate and show it with its check result.

    Exits 0 whenever a certificate was read, whatever the check says (see 'result').
    """
    result = _run(reader, trust, crl, None, as_json)
    _print(result, as_json)
    sys.exit(EXIT_OK)


@card.command("check", epilog=EXIT_CODES_HELP)
@_common
@pin_options
def check(
    reader: str | None,
    trust: tuple[str, ...],
    crl: tuple[str, ...],
    as_json: bool,
    pin: str | None,
    pin_stdin: bool,
    ask_pin: bool,
) -> None:
    """Check the card; exit non-zero unless the result is valid.

    With a PIN (--pin, --pin-stdin or --ask-pin), the PIN is verified (a wrong one spends a try)
    and the card signs a random challenge that must verify with its certificate.
    """
    if pin is not None or pin_stdin or ask_pin:
        pin = read_pins(pin, pin_stdin, ask_pin)[0]
    result = _run(reader, trust, crl, pin, as_json)
    _print(result, as_json)
    sys.exit(EXIT_OK if result.valid else EXIT_NOT_VALID)
