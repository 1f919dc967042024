"""`mkp-admin`: the central operator's CLI. An HTTP client of the server, nothing more.

Exit codes: 0 done; 1 the server refused (or `ledger verify` found a breach); 2 usage or
configuration error; 3 the server could not be reached.
"""

from __future__ import annotations

import base64
import json
import os
import sys
import tomllib
from pathlib import Path
from typing import Any

import click

from mkp_core.client import ApiClient, ApiError, BearerToken, Unreachable
from mkp_core.ids import PLACE_KINDS

DEFAULT_CONFIG = Path.home() / ".config" / "mkp" / "admin.toml"


class Ctx:
    def __init__(self, server: str, token: str | None, as_json: bool) -> None:
        self.server = server
        self.token = token
        self.as_json = as_json

    def client(self) -> ApiClient:
        if not self.token:
            fail(2, 'no operator token: set MKP_TOKEN or token = "..." in the config file')
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
        config = tomllib.loads(file.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as e:
        fail(2, f"cannot read config file {file}: {e}")
        return {}
    if config.get("token") and file.stat().st_mode & 0o077:
        click.echo(
            f"warning: {file} holds an operator token and other users can read it: chmod 600 {file}",
            err=True,
        )
    return config


json_option = click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")


def _ctx(as_json: bool) -> Ctx:
    ctx: Ctx = click.get_current_context().obj
    ctx.as_json = ctx.as_json or as_json
    return ctx


@click.group()
@click.option(
    "--server", envvar="MKP_SERVER", help="Server URL (default from config, else http://127.0.0.1:8080)."
)
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


amount_option = click.option(
    "--amount", required=True, type=click.IntRange(min=1), help="Points, a whole number."
)
client_id_option = click.option(
    "--client-id", help="Idempotency id (default: a new UUID; reuse it to retry safely)."
)


@main.command()
@click.option("--municipality", required=True, help="6-digit municipality code.")
@click.option("--holder", required=True, help="Wallet holder id.")
@amount_option
@click.option("--point-code", help="Point code (default: the municipality's general points).")
@click.option("--memo")
@client_id_option
@json_option
def grant(
    municipality: str,
    holder: str,
    amount: int,
    point_code: str | None,
    memo: str | None,
    client_id: str | None,
    as_json: bool,
) -> None:
    """Grant points from a municipality's budget to a holder."""
    ctx = _ctx(as_json)
    body = _body(
        municipality=municipality,
        holder=holder,
        amount=amount,
        point_code=point_code,
        memo=memo,
        client_id=client_id,
    )
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
def spend(
    holder: str,
    payee: str,
    point_code: str,
    amount: int,
    memo: str | None,
    client_id: str | None,
    as_json: bool,
) -> None:
    """Spend a holder's points at a payee."""
    ctx = _ctx(as_json)
    body = _body(
        holder=holder, payee=payee, point_code=point_code, amount=amount, memo=memo, client_id=client_id
    )
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
    ctx.show(
        t, f"transfer {t['id']} reverses {transfer_id}: {t['amount']} {t['point_code']} back to {t['credit']}"
    )


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
        ctx.show(
            report,
            f"ledger ok: {report['transfers']} transfers, {report['accounts']} accounts, "
            f"{report['point_codes']} point codes",
        )
        return
    first = report["breaches"][0]
    if ctx.as_json:
        ctx.show(report, "")
    fail(1, f"ledger breach: {first['code']}: {first['message']} ({len(report['breaches'])} in all)")


# --- places and terminals ------------------------------------------------------------------------


@main.group()
def place() -> None:
    """Places where terminals stand: shops, museums, libraries, offices."""


@place.command("add")
@click.argument("place_id", metavar="ID")
@click.option("--name", required=True, help="Name shown on receipts, e.g. 横須賀美術館.")
@click.option("--kind", required=True, type=click.Choice(PLACE_KINDS))
@click.option("--municipality", required=True, help="6-digit code of a municipality on the platform.")
@click.option("--street", help="Shopping street or area (optional).")
@client_id_option
@json_option
def place_add(
    place_id: str,
    name: str,
    kind: str,
    municipality: str,
    street: str | None,
    client_id: str | None,
    as_json: bool,
) -> None:
    """Add a place ID (lowercase letters, digits and dashes, e.g. yokosuka-museum)."""
    ctx = _ctx(as_json)
    body = _body(
        place_id=place_id, name=name, kind=kind, municipality=municipality, street=street, client_id=client_id
    )
    p = ctx.call("POST", "/v1/places", body)
    ctx.show(p, f"added place {p['id']}: {p['name']} ({p['kind']}, municipality {p['municipality']})")


@place.command("list")
@json_option
def place_list(as_json: bool) -> None:
    """List places."""
    ctx = _ctx(as_json)
    data = ctx.call("GET", "/v1/places")
    lines = [
        f"{p['id']}  {p['kind']:<8}  {p['municipality']}  {p['name']}"
        + (f"  ({p['street']})" if p.get("street") else "")
        for p in data["places"]
    ]
    ctx.show(data, "\n".join(lines) if lines else "no places yet")


@main.group()
def terminal() -> None:
    """Terminals: one-time enrollment codes, list, revoke."""


@terminal.command("enroll")
@click.option("--place", "place_id", required=True, help="Place ID the terminal stands at.")
@click.option("--name", required=True, help='Name of the terminal at its place, e.g. "counter 1".')
@click.option("--ttl-hours", type=click.IntRange(1, 168), help="Hours the code stays valid (default 24).")
@click.option("--qr", is_flag=True, help="Also show the code as a QR code, for the technician's phone.")
@client_id_option
@json_option
def terminal_enroll(
    place_id: str, name: str, ttl_hours: int | None, qr: bool, client_id: str | None, as_json: bool
) -> None:
    """Make a one-time enrollment code for a new terminal; give it to the technician."""
    ctx = _ctx(as_json)
    e = ctx.call(
        "POST",
        "/v1/terminals/enrollments",
        _body(place=place_id, name=name, ttl_hours=ttl_hours, client_id=client_id),
    )
    if ctx.as_json:
        ctx.show(e, "")
        return
    if e.get("code") is None:  # a retry of a client id whose reply was shown already
        click.echo(
            f"the code for terminal {e['terminal_id']} ({e['name']!r} at {e['place']}) was shown when it was "
            "made and is not kept: make a new one (a new --client-id), and revoke the pending terminal with "
            f"mkp-admin terminal revoke {e['terminal_id']}"
        )
        return
    click.echo(
        f"enrollment code for {e['name']!r} at {e['place']}, valid until {_when(e['expires_at'])} "
        "(shown only now):"
    )
    click.echo(f"\n    {e['code']}\n")
    if qr:
        click.echo(_qr_text(e["code"]), nl=False)
    click.echo(f"on the terminal: mkp-provision --server {ctx.server} --code {e['code']} --home /var/lib/mkp")


def _qr_text(data: str) -> str:
    """The QR code as half-block characters, two module rows per line so it fits an 80x24 terminal."""
    import io

    import qrcode

    code = qrcode.QRCode(border=4)
    code.add_data(data)
    code.make(fit=True)
    buffer = io.StringIO()
    tty = sys.stdout.isatty()
    buffer.isatty = lambda: tty  # type: ignore[method-assign]
    code.print_ascii(out=buffer, tty=tty)  # tty: fixed black/white colours, right on light and dark themes
    return buffer.getvalue()


def _when(iso: str) -> str:
    """A server timestamp as people read it: minutes, UTC."""
    from datetime import UTC, datetime

    try:
        return f"{datetime.fromisoformat(iso).astimezone(UTC):%Y-%m-%d %H:%M} UTC"
    except (TypeError, ValueError):
        return str(iso)


def _terminal_line(t: dict[str, Any]) -> str:
    when = t.get("revoked_at") if t["status"] == "revoked" else t.get("enrolled_at")
    return f"{t['id']}  {t['status']:<7}  {t['place']}  {t['name']}" + (f"  ({_when(when)})" if when else "")


@terminal.command("list")
@click.option("--place", "place_id", help="Only the terminals of this place.")
@json_option
def terminal_list(place_id: str | None, as_json: bool) -> None:
    """List terminals with their status (pending, active, revoked)."""
    ctx = _ctx(as_json)
    data = ctx.call("GET", "/v1/terminals")
    if place_id:
        data = {**data, "terminals": [t for t in data["terminals"] if t["place"] == place_id]}
    lines = [_terminal_line(t) for t in data["terminals"]]
    ctx.show(data, "\n".join(lines) if lines else "no terminals yet")


@terminal.command("show")
@click.argument("terminal_id", metavar="ID")
@json_option
def terminal_show(terminal_id: str, as_json: bool) -> None:
    """Show one terminal."""
    ctx = _ctx(as_json)
    t = ctx.call("GET", f"/v1/terminals/{_path_part(terminal_id)}")
    ctx.show(t, "\n".join(f"{k}: {v}" for k, v in t.items() if v is not None))


@terminal.command("revoke")
@click.argument("terminal_id", metavar="ID")
@click.option("--reason", help='Why (kept with the terminal), e.g. "stolen".')
@client_id_option
@json_option
def terminal_revoke(terminal_id: str, reason: str | None, client_id: str | None, as_json: bool) -> None:
    """Revoke a terminal: the server refuses its very next request."""
    ctx = _ctx(as_json)
    t = ctx.call(
        "POST", f"/v1/terminals/{_path_part(terminal_id)}/revoke", _body(reason=reason, client_id=client_id)
    )
    ctx.show(t, f"terminal {t['id']} ({t['name']} at {t['place']}) is revoked")


@main.group()
def crl() -> None:
    """Revocation lists of JPKI user-authentication certificates."""


@crl.command("upload")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@client_id_option
@json_option
def crl_upload(file: Path, client_id: str | None, as_json: bool) -> None:
    """Upload a CRL as the CA signed it (PEM or DER; full or delta): terminals download it."""
    ctx = _ctx(as_json)
    data = file.read_bytes()
    text = (
        data.decode("ascii", "replace")
        if data.lstrip().startswith(b"-----BEGIN")
        else base64.b64encode(data).decode()
    )
    info = ctx.call("POST", "/v1/crls", _body(crl=text, client_id=client_id))
    ctx.show(
        info,
        f"{info['kind']} CRL number {info['number']} uploaded: {info['entries']} entries, "
        f"next update {info['next_update']}",
    )


@main.group("release")
def release_group() -> None:
    """Agent releases, signed offline with the operator's release key."""


@release_group.command("keygen")
@click.option(
    "--out", required=True, type=click.Path(dir_okay=False, path_type=Path), help="Private key file (0600)."
)
def release_keygen(out: Path) -> None:
    """Make an Ed25519 release key: keep OUT offline; give OUT.pub to the server (release_key_files)."""
    from cryptography.hazmat.primitives import serialization

    from mkp_core import release

    if out.exists():
        fail(2, f"{out} exists: refusing to overwrite a release key")
    key = release.generate_operator_key()
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
    out.with_name(out.name + ".pub").write_bytes(release.public_key_pem(key))
    click.echo(f"private key {out} (keep it offline), public key {out}.pub")


@release_group.command("publish")
@click.option(
    "--key", "key_file", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@click.option("--version", "version", required=True, help="Release version MAJOR.MINOR.PATCH, e.g. 1.4.2.")
@click.argument(
    "files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@client_id_option
@json_option
def release_publish(
    key_file: Path, version: str, files: tuple[Path, ...], client_id: str | None, as_json: bool
) -> None:
    """Sign a manifest of FILES here, with the private key, and publish it with the files."""
    from cryptography.hazmat.primitives import serialization

    from mkp_core import release

    ctx = _ctx(as_json)
    try:
        key = serialization.load_pem_private_key(key_file.read_bytes(), password=None)
        manifest = release.build_manifest(version, list(files))
        signature = release.sign_manifest(manifest, key)
    except (ValueError, TypeError, release.ReleaseError) as e:
        fail(2, f"cannot sign the release: {getattr(e, 'code', 'invalid_key')}: {e}")
    body = {
        "manifest": base64.b64encode(manifest).decode(),
        "signature": base64.b64encode(signature).decode(),
        "files": {f.name: base64.b64encode(f.read_bytes()).decode() for f in files},
    }
    info = ctx.call("POST", "/v1/releases", _body(client_id=client_id, **body))
    ctx.show(info, f"release {info['version']} published: {len(info['files'])} file(s)")


@release_group.command("withdraw")
@click.argument("version")
@click.option("--reason", help='Why (kept with the release), e.g. "breaks printing".')
@client_id_option
@json_option
def release_withdraw(version: str, reason: str | None, client_id: str | None, as_json: bool) -> None:
    """Stop offering release VERSION to terminals; the newest remaining release is offered instead."""
    from mkp_core import release

    ctx = _ctx(as_json)
    try:
        release.parse_version(version)
    except release.ReleaseError as e:
        fail(2, f"{e.code}: {e.message}")
    info = ctx.call(
        "POST", f"/v1/releases/{_path_part(version)}/withdraw", _body(reason=reason, client_id=client_id)
    )
    ctx.show(info, f"release {info['version']} withdrawn: terminals are no longer offered it")


@release_group.command("list")
@json_option
def release_list(as_json: bool) -> None:
    """Published releases, newest first; withdrawn ones marked."""
    ctx = _ctx(as_json)
    data = ctx.call("GET", "/v1/releases")
    lines = [
        f"{r['version']:<12} {len(r['files'])} file(s)  "
        + (f"withdrawn {_when(r['withdrawn_at'])}" if r.get("withdrawn_at") else "offered")
        + (f" ({r['withdraw_reason']})" if r.get("withdraw_reason") else "")
        for r in data["releases"]
    ]
    ctx.show(data, "\n".join(lines) if lines else "no releases yet")


@main.group("point-code")
def point_code() -> None:
    """Point codes: a municipality's general points and its events' own."""


@point_code.command("add")
@click.argument("municipality")
@click.argument("suffix")
@click.option("--name", required=True, help="What people see, e.g. よこすか開国祭.")
@client_id_option
@json_option
def point_code_add(municipality: str, suffix: str, name: str, client_id: str | None, as_json: bool) -> None:
    """Add an event point code MUNICIPALITY-SUFFIX (SUFFIX: up to 16 of A-Z 0-9)."""
    ctx = _ctx(as_json)
    pc = ctx.call(
        "POST",
        f"/v1/municipalities/{_path_part(municipality)}/point-codes",
        _body(suffix=suffix, name=name, client_id=client_id),
    )
    ctx.show(pc, f"added point code {pc['code']} ({pc['name']})")


@point_code.command("list")
@click.argument("municipality")
@json_option
def point_code_list(municipality: str, as_json: bool) -> None:
    """A municipality's point codes."""
    ctx = _ctx(as_json)
    data = ctx.call("GET", f"/v1/municipalities/{_path_part(municipality)}/point-codes")
    ctx.show(data, "\n".join(f"{p['code']:<24} {p['kind']:<8} {p['name']}" for p in data["point_codes"]))


def _path_part(value: str) -> str:
    """An ID placed in a URL path: quoted, so "a/b" or "../x" stays one segment and reaches no other endpoint."""
    from urllib.parse import quote

    if not value or value in (".", ".."):
        fail(2, f"{value!r} is not a terminal id")
    return quote(value, safe="")


def _body(**fields: Any) -> dict[str, Any]:
    return {k: v for k, v in fields.items() if v is not None}


if __name__ == "__main__":
    main()
