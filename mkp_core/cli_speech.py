"""How every mkp command line speaks to a person: in the language of the locale, one line per
refusal, times in Japan, and under ``--json`` its errors as JSON too.

Why here: mkp-admin, mkp-agent, mkp-server and mkp-provision are run by different people
(operators, clerks, technicians), but a refusal must read the same in each, and a script that asked
for ``--json`` must get JSON even when things go wrong. The server's refusals stay English in the API
(programs read their ``code``); a command line shows the Japanese of a refusal by its stable code
(:data:`REFUSALS`, a code -> msgid map of the one catalogue, :mod:`mkp_core.i18n`) and keeps the
server's own words after it, which name the MyKey ID, the amounts and the dates.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from datetime import datetime
from typing import Any, NoReturn

import click

from mkp_core.dates import JST
from mkp_core.errors import MkpError
from mkp_core.i18n import N_, cli_gettext, language_from_locale

_ = cli_gettext

#: The common refusals a person meets, by code: what the command line says in Japanese.
REFUSALS: dict[str, str] = {
    "insufficient_points": N_("not enough points"),
    "points_expired": N_("the points have expired"),
    "over_budget": N_("the department's budget is not enough"),
    "unknown_mykey": N_("no MyKey ID like that is registered"),
    "invalid_mykey_id": N_("that is not a MyKey ID"),
    "mykey_suspended": N_("this MyKey ID is suspended"),
    "unknown_municipality": N_("no such municipality"),
    "bad_check_digit": N_("the municipality code's check digit is wrong"),
    "invalid_municipality_code": N_("a municipality code is 6 digits"),
    "unknown_point_code": N_("no such point code"),
    "unknown_place": N_("no such place"),
    "unknown_department": N_("no such department"),
    "unknown_grant_kind": N_("no such grant kind"),
    "unknown_item": N_("the price list has no such item"),
    "unknown_terminal": N_("no such terminal"),
    "unknown_partner": N_("no such partner"),
    "unknown_transfer": N_("no such transfer"),
    "unknown_voucher": N_("no such voucher"),
    "not_allowed_here": N_("these points cannot be spent at this place"),
    "refund_period_over": N_("the refund period is over"),
    "already_reversed": N_("this transfer was undone already"),
    "invalid_amount": N_("the amount must be a whole number of points"),
    "invalid_place_kind": N_("no such place kind"),
    "invalid_crl": N_("not a CRL"),
    "out_of_scope": N_("your token does not cover this municipality"),
    "unauthorized": N_("the token was not accepted"),
    "forbidden": N_("this is not allowed with your token"),
    "terminal_revoked": N_("this terminal was revoked"),
    "server_unreachable": N_("cannot reach the server"),
    "bad_server_url": N_("the server address is not a URL"),
    "voucher_expired": N_("the voucher has expired"),
    "voucher_voided": N_("the voucher was voided"),
    "code_used": N_("the code was used already"),
}


def say(msgid: str, **values: Any) -> str:
    """``msgid`` in the locale's language with its ``%(name)s`` placeholders filled."""
    text = _(msgid)
    return text % values if values else text


def refusal_text(code: str, message: str) -> str:
    """A refusal as a person reads it: ``code: message`` in English; in Japanese the refusal's
    Japanese first, when the catalogue has one for the code, with the server's words after it."""
    if language_from_locale() == "ja" and code in REFUSALS:
        return f"{_(REFUSALS[code])}（{code}: {message}）"
    return f"{code}: {message}"


def error_line(text: str) -> str:
    """The one line an error is on: ``error: ...`` (``エラー: ...`` in Japanese)."""
    return say("error: %(message)s", message=text)


def json_wanted() -> bool:
    """Did the person ask for ``--json``, on the command or before it?"""
    context = click.get_current_context(silent=True)
    while context is not None:
        if context.params.get("as_json"):
            return True
        obj = context.obj
        if getattr(obj, "as_json", False):
            return True
        context = context.parent
    return False


def fail(
    exit_code: int,
    text: str,
    code: str | None = None,
    details: Sequence[Any] | None = None,
    *,
    shown: bool = False,
) -> NoReturn:
    """Stop with one line on stderr and ``exit_code``; under ``--json`` the error as JSON on stdout
    first, in the API's shape (``{"error": {"code", "message"}}``), unless the command has ``shown``
    its JSON result already (stdout holds one JSON document)."""
    if json_wanted() and not shown:
        error: dict[str, Any] = {"code": code or _CODE_BY_EXIT.get(exit_code, "error"), "message": text}
        if details:
            error["details"] = list(details)
        click.echo(json.dumps({"error": error}, ensure_ascii=False, indent=2))
    click.echo(error_line(text), err=True)
    sys.exit(exit_code)


def fail_with(exit_code: int, e: MkpError) -> NoReturn:
    """Stop on ``e``: its code, its words (in Japanese where the catalogue knows the code); under
    ``--json`` the error as the API gives it."""
    if json_wanted():
        click.echo(json.dumps({"error": e.to_dict()}, ensure_ascii=False, indent=2))
    click.echo(error_line(refusal_text(e.code, e.message)), err=True)
    sys.exit(exit_code)


_CODE_BY_EXIT = {1: "refused", 2: "usage_error", 3: "server_unreachable"}


def local_time(value: str | datetime | None) -> str:
    """An instant as people in Japan read it: ``2027-07-01 00:00 JST`` (what is no instant, as it is)."""
    if value is None:
        return "-"
    try:
        instant = value if isinstance(value, datetime) else datetime.fromisoformat(value)
    except (TypeError, ValueError):
        return str(value)
    if instant.tzinfo is None:
        return str(value)  # a date, or a time without its offset: nothing to convert
    return f"{instant.astimezone(JST):%Y-%m-%d %H:%M} JST"


class CommandLine(click.Group):
    """A command group whose usage errors and stray refusals come out as every other error does:
    one line (translated), JSON under ``--json``, never a traceback."""

    def main(  # type: ignore[override]
        self, args: Sequence[str] | None = None, prog_name: str | None = None, **extra: Any
    ) -> Any:
        if not extra.pop("standalone_mode", True):
            return super().main(args, prog_name, standalone_mode=False, **extra)
        argv = list(sys.argv[1:] if args is None else args)
        try:
            result = super().main(argv, prog_name, standalone_mode=False, **extra)
        except click.exceptions.Abort:
            click.echo(say("Aborted."), err=True)
            sys.exit(1)
        except click.ClickException as e:
            if "--json" in argv:
                body = {"error": {"code": "usage_error", "message": e.format_message()}}
                click.echo(json.dumps(body, ensure_ascii=False, indent=2))
            if isinstance(e, click.UsageError) and "--json" not in argv:
                e.show()  # with the usage line and the --help hint
            else:
                click.echo(error_line(e.format_message()), err=True)
            sys.exit(e.exit_code)
        except MkpError as e:
            body = {"error": {"code": e.code, "message": e.message}}
            if "--json" in argv:
                click.echo(json.dumps(body, ensure_ascii=False, indent=2))
            click.echo(error_line(refusal_text(e.code, e.message)), err=True)
            sys.exit(1)
        sys.exit(result if isinstance(result, int) else 0)
