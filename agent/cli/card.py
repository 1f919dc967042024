"""`mkp-agent card ...`: read and check the My Number card in the reader."""

from __future__ import annotations

import json
import sys
from typing import NoReturn

import click

from agent.card_session import CardSessionResult, load_crls, load_trust, run_card_session
from drivers.card.pcsc import PcscBackend
from drivers.card.reader import (
    CardError,
    CardRemovedError,
    InvalidPinFormatError,
    NoCardError,
    NoReaderError,
    NotMyNumberCardError,
    PcscdNotRunningError,
    PinBlockedError,
    ReaderError,
    WrongPinError,
)
from mkp_core.certcheck import CertificateFormatError
from mkp_core.crl import CrlError
from mkp_core.trust import TrustStoreError

EXIT_OK = 0
EXIT_NOT_VALID = 1
EXIT_USAGE = 2
EXIT_READER = 3
EXIT_NOT_MY_NUMBER = 4
EXIT_WRONG_PIN = 5
EXIT_PIN_BLOCKED = 6
EXIT_CARD = 7

EXIT_CODES_HELP = """\b
Exit codes:
  0  done (card read: a certificate was read; card check: result is valid)
  1  card check only: the result is not valid (expired, not_yet_valid, revoked,
     untrusted, wrong_key_usage, crl_stale, signature_invalid)
  2  bad input: malformed PIN (nothing sent to the card), unreadable trust
     anchors or CRL, bad option
  3  reader problem: pcscd not running, no reader, no card, card removed
  4  the card is not a My Number card
  5  wrong PIN (the message says how many tries are left)
  6  PIN blocked
  7  the card answered unexpectedly or its certificate is unreadable
"""

_ERROR_EXITS: list[tuple[type[BaseException], int]] = [
    (InvalidPinFormatError, EXIT_USAGE),
    (PcscdNotRunningError, EXIT_READER),
    (NoReaderError, EXIT_READER),
    (NoCardError, EXIT_READER),
    (CardRemovedError, EXIT_READER),
    (ReaderError, EXIT_READER),
    (NotMyNumberCardError, EXIT_NOT_MY_NUMBER),
    (WrongPinError, EXIT_WRONG_PIN),
    (PinBlockedError, EXIT_PIN_BLOCKED),
    (CardError, EXIT_CARD),
    (CertificateFormatError, EXIT_CARD),
    (TrustStoreError, EXIT_USAGE),
    (CrlError, EXIT_USAGE),
]


def _fail(exc: BaseException, as_json: bool) -> NoReturn:
    code = next(c for cls, c in _ERROR_EXITS if isinstance(exc, cls))
    error = getattr(exc, "code", None) or type(exc).__name__
    if as_json:
        doc: dict[str, object] = {"error": error, "message": str(exc)}
        if isinstance(exc, WrongPinError):
            doc["pin_tries_left"] = exc.tries_left
        click.echo(json.dumps(doc))
    click.echo(f"mkp-agent card: error: {exc}", err=True)
    sys.exit(code)


def _run(
    reader: str | None, trust: tuple[str, ...], crl: tuple[str, ...], pin: str | None, as_json: bool
) -> CardSessionResult:
    try:
        store = load_trust(trust)
        crls = load_crls(crl, store)
        return run_card_session(PcscBackend(), store, crls, reader=reader, pin=pin)
    except tuple(cls for cls, _ in _ERROR_EXITS) as exc:
        _fail(exc, as_json)


def _print(result: CardSessionResult, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(result.to_dict(), indent=2))
        return
    c = result.check
    click.echo(f"reader:    {result.reader}")
    click.echo(f"sha256:    {c.sha256}")
    click.echo(f"subject:   {c.subject}")
    click.echo(f"serial:    {c.serial:X}")
    click.echo(f"valid:     {c.not_before.isoformat()} .. {c.not_after.isoformat()}")
    click.echo(f"check:     {c.status.value} ({c.reason})")
    if result.pin_tries_left is not None:
        click.echo(f"pin tries: {result.pin_tries_left} left before verification")
    if result.signature_ok is not None:
        click.echo(
            f"signature: {'ok' if result.signature_ok else 'FAILED: does not verify with the certificate'}"
        )
    click.echo(f"result:    {result.result}")


def _common(f):
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
@click.option("--pin", default=None, help="4-digit PIN: also show tries left and test a signature.")
@click.option(
    "--pin-stdin", is_flag=True, help="Read the PIN from standard input (keeps it out of ps and history)."
)
@click.option("--ask-pin", is_flag=True, help="Ask for the PIN at the terminal, without echo.")
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
    if sum((pin is not None, pin_stdin, ask_pin)) > 1:
        raise click.UsageError("give the PIN one way only: --pin, --pin-stdin or --ask-pin")
    if pin_stdin:
        pin = sys.stdin.readline().rstrip("\r\n")
    elif ask_pin:
        pin = click.prompt("PIN", hide_input=True, err=True)
    result = _run(reader, trust, crl, pin, as_json)
    _print(result, as_json)
    sys.exit(EXIT_OK if result.valid else EXIT_NOT_VALID)
