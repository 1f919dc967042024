"""What every mkp-agent command that uses the card shares: the PIN options, and one exit code per
kind of failure, decided by the error's class or code (never by its message).

Exit codes:
  0  done
  1  refused: not valid (card check), or the server said no (the code is printed)
  2  bad input: malformed PIN (nothing sent to the card), bad ID, unreadable trust anchors or CRL
  3  reader problem: pcscd not running, no reader, no card, card removed
  4  the card is not a My Number card
  5  wrong PIN (the message says how many tries are left)
  6  PIN blocked
  7  the card answered unexpectedly or its certificate is unreadable
  8  the server could not be reached
  9  this terminal cannot work until a technician acts (not enrolled, revoked)
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Any, NoReturn, TypeVar

import click

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
from mkp_core.cli_speech import error_line, refusal_text
from mkp_core.client import ApiError, Unreachable
from mkp_core.crl import CrlError
from mkp_core.errors import MkpError
from mkp_core.trust import TrustStoreError

EXIT_OK = 0
EXIT_REFUSED = 1
EXIT_USAGE = 2
EXIT_READER = 3
EXIT_NOT_MY_NUMBER = 4
EXIT_WRONG_PIN = 5
EXIT_PIN_BLOCKED = 6
EXIT_CARD = 7
EXIT_UNREACHABLE = 8
EXIT_TECHNICIAN = 9

EXIT_CODES_HELP = "\b\nExit codes:\n" + __doc__.split("Exit codes:\n", 1)[1]
#: Refusals that mean the terminal itself is cut off, not this card.
TECHNICIAN_CODES = {"not_enrolled", "revoked_key", "unknown_key"}

_BY_CLASS: list[tuple[type[BaseException], int]] = [
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
    (Unreachable, EXIT_UNREACHABLE),
]
#: What a card command catches and turns into an exit code (anything else is a bug: a traceback).
HANDLED = (MkpError,)


#: The same table by error code, for results that come back as data (the counter's actions).
_BY_CODE = {
    "invalid_pin_format": EXIT_USAGE,
    "pcscd_not_running": EXIT_READER,
    "no_reader": EXIT_READER,
    "no_card": EXIT_READER,
    "card_removed": EXIT_READER,
    "reader_error": EXIT_READER,
    "not_my_number_card": EXIT_NOT_MY_NUMBER,
    "wrong_pin": EXIT_WRONG_PIN,
    "pin_blocked": EXIT_PIN_BLOCKED,
    "card_error": EXIT_CARD,
    "card_command_failed": EXIT_CARD,
    "pin_required": EXIT_CARD,
    "invalid_certificate": EXIT_CARD,
    "server_unreachable": EXIT_UNREACHABLE,
    "offline_not_possible": EXIT_UNREACHABLE,
}


def exit_code_for_code(code: str) -> int:
    """The exit code of a refusal known only by its code."""
    if code in TECHNICIAN_CODES:
        return EXIT_TECHNICIAN
    return _BY_CODE.get(code, EXIT_REFUSED)


def exit_code_for(exc: BaseException) -> int:
    if isinstance(exc, ApiError):
        return EXIT_TECHNICIAN if exc.code in TECHNICIAN_CODES else EXIT_REFUSED
    for cls, code in _BY_CLASS:
        if isinstance(exc, cls):
            return code
    if isinstance(exc, MkpError) and exc.code in TECHNICIAN_CODES:
        return EXIT_TECHNICIAN
    return EXIT_USAGE if isinstance(exc, ValueError) else EXIT_REFUSED


def fail(exc: BaseException, as_json: bool, prog: str) -> NoReturn:
    """One line on stderr (and the error as JSON on stdout with --json), then the exit code."""
    code = getattr(exc, "code", None) or type(exc).__name__
    if as_json:
        doc: dict[str, Any] = {"error": code, "message": str(exc)}
        if isinstance(exc, WrongPinError):
            doc["pin_tries_left"] = exc.tries_left
        click.echo(json.dumps(doc, ensure_ascii=False))
    click.echo(f"{prog}: {error_line(refusal_text(code, str(exc)))}", err=True)
    sys.exit(exit_code_for(exc))


F = TypeVar("F", bound=Callable[..., Any])


def pin_options(f: F) -> F:
    """--pin, --pin-stdin, --ask-pin: one way to give the card's 4-digit PIN."""
    f = click.option("--ask-pin", is_flag=True, help="Ask for the PIN at the terminal, without echo.")(f)
    f = click.option(
        "--pin-stdin", is_flag=True, help="Read the PIN from standard input (keeps it out of ps and history)."
    )(f)
    f = click.option(
        "--pin", default=None, help="The 4-digit PIN (for tests; prefer --ask-pin or --pin-stdin)."
    )(f)
    return f


def read_pins(
    pin: str | None, pin_stdin: bool, ask_pin: bool, names: tuple[str, ...] = ("PIN",)
) -> list[str]:
    """One PIN per card named (stdin: one line each, in order; --pin: the same for all)."""
    if sum((pin is not None, pin_stdin, ask_pin)) > 1:
        raise click.UsageError("give the PIN one way only: --pin, --pin-stdin or --ask-pin")
    if pin is not None:
        return [pin] * len(names)
    if pin_stdin:
        return [sys.stdin.readline().rstrip("\r\n") for _ in names]
    if ask_pin:
        return [click.prompt(name, hide_input=True, err=True) for name in names]
    raise click.UsageError("this command needs the card's PIN: --ask-pin, --pin-stdin or --pin")
