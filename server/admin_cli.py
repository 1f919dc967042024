"""`mkp-admin`: the central operator's CLI. An HTTP client of the server, nothing more.

Exit codes: 0 done; 1 the server refused (or `ledger verify` found a breach); 2 usage or
configuration error; 3 the server could not be reached.
"""

from __future__ import annotations

import json
import os
import sys
import tomllib
from pathlib import Path
from typing import Any

import click

from mkp_core.client import ApiClient, ApiError, BearerToken, Unreachable

DEFAULT_CONFIG = Path.home() / ".config" / "mkp" / "admin.toml"


class Ctx:
    def __init__(self, server: str, token: str | None, as_json: bool) -> None:
        self.server = server
        self.token = token
        self.as_json = as_json

    def client(self) -> ApiClient:
        if not self.token:
            fail(2, "no operator token: set MKP_TOKEN or token = \"...\" in the config file")
        return ApiClient(self.server, BearerToken(self.token))

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        client = self.client()
        try:
            return client.post(path, body or {}) if method == "POST" else client.get(path)
        except ApiError as e:
            fail(1, f"{e.code}: {e.message}")
        except Unreachable as e:
            fail(3, str(e))

    def show(self, data: Any, text: str) -> None:
        click.echo(json.dumps(data, ensure_ascii=False, indent=2) if self.as_json else text)


def fail(code: int, message: str) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


def _load_config(path: str | None) -> dict[str, Any]:
    file = Path(path) if path else Path(os.environ.get("MKP_ADMIN_CONFIG", DEFAULT_CONFIG))
    if not file.exists():
        if path:
            fail(2, f"config file {file} does not exist")
        return {}
    try:
        return tomllib.loads(file.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as e:
        fail(2, f"cannot read config file {file}: {e}")
    return {}


json_option = click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")


def _ctx(as_json: bool) -> Ctx:
    ctx: Ctx = click.get_current_context().obj
    ctx.as_json = ctx.as_json or as_json
    return ctx


@click.group()
@click.option("--server", envvar="MKP_SERVER", help="Server URL (default from config, else http://127.0.0.1:8080).")
@click.option("--config", "config_file", help=f"TOML file with server and token (default {DEFAULT_CONFIG}).")
@json_option
@click.version_option(package_name="mkp")
@click.pass_context
def main(ctx: click.Context, server: str | None, config_file: str | None, as_json: bool) -> None:
    """mkp operator CLI. Token from MKP_TOKEN or the config file."""
    config = _load_config(config_file)
    ctx.obj = Ctx(
        server or config.get("server", "http://127.0.0.1:8080"),
        os.environ.get("MKP_TOKEN") or config.get("token"),
        as_json,
    )


@main.group()
def municipality() -> None:
    """Municipalities on the platform."""


@municipality.command("add")
@click.argument("code")
@json_option
def municipality_add(code: str, as_json: bool) -> None:
    """Add a municipality by its 6-digit code (check digit verified, name from MIC's list)."""
    ctx = _ctx(as_json)
    m = ctx.call("POST", "/v1/municipalities", {"code": code})
    ctx.show(m, f"added {m['code']} {m['prefecture']} {m['name']} (point code {m['point_code']})")


@municipality.command("list")
@json_option
def municipality_list(as_json: bool) -> None:
    """List municipalities."""
    ctx = _ctx(as_json)
    data = ctx.call("GET", "/v1/municipalities")
    lines = [f"{m['code']}  {m['prefecture']} {m['name']}" for m in data["municipalities"]]
    ctx.show(data, "\n".join(lines) if lines else "no municipalities yet")


amount_option = click.option("--amount", required=True, type=click.IntRange(min=1), help="Points, a whole number.")
client_id_option = click.option("--client-id", help="Idempotency id (default: a new UUID; reuse it to retry safely).")


@main.command()
@click.option("--municipality", required=True, help="6-digit municipality code.")
@click.option("--holder", required=True, help="Wallet holder id.")
@amount_option
@click.option("--point-code", help="Point code (default: the municipality's general points).")
@click.option("--memo")
@client_id_option
@json_option
def grant(municipality: str, holder: str, amount: int, point_code: str | None, memo: str | None,
          client_id: str | None, as_json: bool) -> None:  # fmt: skip
    """Grant points from a municipality's budget to a holder."""
    ctx = _ctx(as_json)
    body = _body(municipality=municipality, holder=holder, amount=amount, point_code=point_code, memo=memo,
                 client_id=client_id)  # fmt: skip
    t = ctx.call("POST", "/v1/grants", body)
    ctx.show(t, f"transfer {t['id']}: granted {t['amount']} {t['point_code']} points to {holder}")


@main.command()
@click.option("--holder", required=True)
@click.option("--payee", required=True, help="Shop or facility id.")
@click.option("--point-code", required=True)
@amount_option
@click.option("--memo")
@client_id_option
@json_option
def spend(holder: str, payee: str, point_code: str, amount: int, memo: str | None, client_id: str | None,
          as_json: bool) -> None:  # fmt: skip
    """Spend a holder's points at a payee."""
    ctx = _ctx(as_json)
    body = _body(holder=holder, payee=payee, point_code=point_code, amount=amount, memo=memo, client_id=client_id)
    t = ctx.call("POST", "/v1/spends", body)
    ctx.show(t, f"transfer {t['id']}: {holder} spent {t['amount']} {t['point_code']} points at {payee}")


@main.command()
@click.argument("transfer_id", type=click.IntRange(min=1))
@click.option("--memo")
@client_id_option
@json_option
def reverse(transfer_id: int, memo: str | None, client_id: str | None, as_json: bool) -> None:
    """Undo a transfer with an opposite one."""
    ctx = _ctx(as_json)
    t = ctx.call("POST", f"/v1/transfers/{transfer_id}/reverse", _body(memo=memo, client_id=client_id))
    ctx.show(t, f"transfer {t['id']} reverses {transfer_id}: {t['amount']} {t['point_code']} back to {t['credit']}")


@main.command()
@click.argument("holder")
@json_option
def balance(holder: str, as_json: bool) -> None:
    """A holder's balance per point code."""
    ctx = _ctx(as_json)
    data = ctx.call("GET", f"/v1/holders/{holder}/balances")
    lines = [f"{b['point_code']}  {b['balance']:>12,}" for b in data["balances"]]
    ctx.show(data, "\n".join(lines) if lines else f"{holder} holds no points")


@main.group()
def ledger() -> None:
    """Ledger checks."""


@ledger.command("verify")
@json_option
def ledger_verify(as_json: bool) -> None:
    """Check every ledger invariant; exit 1 with the first breach."""
    ctx = _ctx(as_json)
    report = ctx.call("GET", "/v1/ledger/verify")
    if report["ok"]:
        ctx.show(report, f"ledger ok: {report['transfers']} transfers, {report['accounts']} accounts, "
                         f"{report['point_codes']} point codes")  # fmt: skip
        return
    first = report["breaches"][0]
    if ctx.as_json:
        ctx.show(report, "")
    fail(1, f"ledger breach: {first['code']}: {first['message']} ({len(report['breaches'])} in all)")


def _body(**fields: Any) -> dict[str, Any]:
    return {k: v for k, v in fields.items() if v is not None}


if __name__ == "__main__":
    main()
