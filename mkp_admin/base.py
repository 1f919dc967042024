"""What every mkp-admin command shares: the server and token, one way to call, one way to fail.

Exit codes: 0 done; 1 the server refused (or `ledger verify` found a breach); 2 usage or
configuration error; 3 the server could not be reached.
"""

from __future__ import annotations

import json
import os
import sys
import tomllib
from pathlib import Path
from typing import Any, NoReturn

import click

from mkp_core import cli_speech
from mkp_core.cli_speech import local_time, say
from mkp_core.client import ApiClient, ApiError, BadServerUrl, BearerToken, Unreachable

DEFAULT_CONFIG = Path.home() / ".config" / "mkp" / "admin.toml"


class Ctx:
    def __init__(self, server: str, token: str | None, as_json: bool) -> None:
        self.server = server
        self.token = token
        self.as_json = as_json

    def client(self) -> ApiClient:
        if not self.token:
            fail(2, say('no operator token: set MKP_TOKEN or token = "..." in the config file'), "no_token")
        try:
            return ApiClient(self.server, BearerToken(self.token))
        except BadServerUrl as e:
            cli_speech.fail_with(2, e)

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        """The server's reply; a refusal is one line (exit 1), after one line per bad line of a
        file if the refusal names them (a grant CSV); an unreachable server exit 3. Under --json
        the refusal is printed as JSON too (:func:`mkp_core.cli_speech.fail`)."""
        client = self.client()
        try:
            return client.post(path, body or {}) if method == "POST" else client.get(path)
        except ApiError as e:
            if not self.as_json:
                for detail in e.details or []:
                    if "line" in detail:
                        where = say("line %(line)s", line=detail["line"])
                        click.echo(f"  {where}: {detail.get('code')}: {detail.get('message')}", err=True)
            cli_speech.fail_with(1, e)
        except Unreachable as e:
            cli_speech.fail_with(3, e)

    def show(self, data: Any, text: str) -> None:
        click.echo(json.dumps(data, ensure_ascii=False, indent=2) if self.as_json else text)


def fail(code: int, message: str, error_code: str | None = None, *, shown: bool = False) -> NoReturn:
    """Stop with ``message`` on one line and exit ``code`` (as JSON too under --json, unless the
    command has ``shown`` its JSON result)."""
    cli_speech.fail(code, message, error_code, shown=shown)


def load_config(path: str | None) -> dict[str, Any]:
    file = Path(path) if path else Path(os.environ.get("MKP_ADMIN_CONFIG", DEFAULT_CONFIG))
    if not file.exists():
        if path:
            fail(2, say("config file %(file)s does not exist", file=file), "no_config")
        return {}
    try:
        config = tomllib.loads(file.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as e:
        fail(2, say("cannot read config file %(file)s: %(reason)s", file=file, reason=e), "bad_config")
    if config.get("token") and file.stat().st_mode & 0o077:
        click.echo(
            say(
                "warning: %(file)s holds an operator token and other users can read it: chmod 600 %(file)s",
                file=file,
            ),
            err=True,
        )
    return config


json_option = click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
amount_option = click.option(
    "--amount", required=True, type=click.IntRange(min=1), help="Points, a whole number."
)
#: Spending, supporting, claiming, exchanging for a resident: a central operator's correction.
reason_option = click.option(
    "--reason",
    required=True,
    help="Why the central operator acts for the resident (their card could not be used); on the record.",
)
client_id_option = click.option(
    "--client-id", help="Idempotency id (default: a new UUID; reuse it to retry safely)."
)


def ctx_for(as_json: bool) -> Ctx:
    """The command's context (server, token), with --json given here or before the command."""
    ctx: Ctx = click.get_current_context().obj
    ctx.as_json = ctx.as_json or as_json
    return ctx


def when(iso: str | None) -> str:
    """A server timestamp as people in Japan read it: minutes, JST (what is no timestamp, as it is)."""
    return local_time(iso)


def path_part(value: str, what: str = "an ID") -> str:
    """An ID placed in a URL path: quoted, so "a/b" or "../x" stays one segment and reaches no other endpoint."""
    from urllib.parse import quote

    if not value or value in (".", ".."):
        fail(2, f"{value!r} is not {what}", "invalid_id")
    return quote(value, safe="")


def request_body(**fields: Any) -> dict[str, Any]:
    """A request body of the options given (None: left out, the server's default applies)."""
    return {k: v for k, v in fields.items() if v is not None}


def table(columns: list[tuple[str, str]], rows: list[dict[str, Any]], title: str | None = None) -> None:
    """Rows as an aligned table on stdout (``columns``: (key, heading marked with ``N_``), the
    headings in the locale's language); Japanese names keep their width."""
    from rich.console import Console
    from rich.table import Table

    grid = Table(title=title, show_edge=False, pad_edge=False, box=None, header_style="bold")
    for key, heading in columns:
        grid.add_column(
            say(heading), justify="right" if rows and isinstance(rows[0].get(key), int) else "left"
        )
    for row in rows:
        grid.add_row(*(_cell(row.get(k)) for k, _ in columns))
    Console(width=200 if not sys.stdout.isatty() else None, highlight=False).print(grid)


def _cell(value: Any) -> str:
    """A table cell: numbers with separators, instants in Japan time (a value that is no instant,
    or a date, as it is)."""
    if value is None:
        return ""
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    if isinstance(value, str) and "T" in value:
        return local_time(value)
    return str(value)


def on_terminal() -> bool:
    """True when a person watches stderr (progress bars go there, never into --json output)."""
    return sys.stderr.isatty()
