"""`mkp-server`: create or upgrade the schema, create operators, serve the API.

Talks to the database directly; it is run by whoever runs the server, on the server.
"""

from __future__ import annotations

import errno
import gc
import json
import socket
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

try:
    from sqlalchemy.exc import SQLAlchemyError
except ModuleNotFoundError as missing:  # a kiosk installs only mkp[agent]: say so, no traceback
    sys.exit(
        f"mkp-server: {missing.name} is not installed: this machine has no server part (pip install 'mkp[server]')"
    )

from mkp_core.cli_speech import CommandLine, say
from mkp_core.errors import MkpError
from server.config import ConfigError, ServerConfig
from server.db import migrate
from server.db.engine import DatabaseUrlError, make_engine, read, secure_sqlite_files, sqlite_path, write
from server.files import private_dir, secret_key

if TYPE_CHECKING:
    from flask import Flask
    from sqlalchemy import Engine


def _config(config_file: str | None, db: str | None) -> ServerConfig:
    try:
        return ServerConfig.load(config_file, database_url=db)
    except ConfigError as e:
        raise click.ClickException(str(e)) from None


def _engine(config: ServerConfig) -> Engine:
    try:
        return make_engine(config.database_url)
    except DatabaseUrlError as e:
        raise click.ClickException(str(e)) from None
    except OSError as e:  # a SQLite file in a folder that cannot be made or written
        path = sqlite_path(config.database_url) or e.filename
        raise click.ClickException(
            say(
                "cannot create the database file %(path)s: %(reason)s",
                path=path,
                reason=e.strerror or e.__class__.__name__,
            )
        ) from None


db_option = click.option(
    "--db", "db", envvar="MKP_DATABASE_URL", help="Database URL (default sqlite:///var/mkp.sqlite3)."
)
config_option = click.option(
    "--config", "config_file", type=click.Path(dir_okay=False), help="TOML config file."
)


@click.group(cls=CommandLine)
@click.version_option(package_name="mkp")
def main() -> None:
    """mkp ledger server."""


@main.command()
@db_option
@config_option
def init(db: str | None, config_file: str | None) -> None:
    """Create the schema, or upgrade it to this version (data is kept); make the terminal CA and
    the release folder; make the server's files private to its user."""
    from server.releases.service import adopt_folders
    from server.terminals.ca import TerminalCA

    config = _config(config_file, db)
    engine = _engine(config)
    try:
        before = migrate.current_revision(engine)
        after = migrate.upgrade(engine)
        with write(engine) as conn:
            skipped = adopt_folders(conn, config.release_dir)
    except SQLAlchemyError as e:
        where = sqlite_path(config.database_url)
        reason = f"{e.__class__.__name__}: {e.orig if hasattr(e, 'orig') else e}"
        raise click.ClickException(
            say("cannot reach or upgrade the database %(path)s: %(reason)s", path=where, reason=reason)
            if where
            else say("cannot reach or upgrade the database: %(reason)s", reason=reason)
        ) from None
    if before == after:
        click.echo(say("schema is up to date (%(revision)s)", revision=after))
    else:
        click.echo(say("schema upgraded %(before)s -> %(after)s", before=before or "empty", after=after))
    for path in secure_sqlite_files(config.database_url):
        click.echo(f"{path} was readable by others: now 0600")
    for line in skipped:
        click.echo(line, err=True)
    private_dir(config.release_dir)
    try:
        TerminalCA.open(config.terminal_ca_dir)
    except (OSError, ValueError) as e:
        raise click.ClickException(
            f"cannot open or make the terminal CA in {config.terminal_ca_dir}: {e}"
        ) from None
    click.echo(say("terminal CA ready in %(folder)s", folder=config.terminal_ca_dir))
    try:
        secret_key(Path(config.secrets_dir) / "challenge.key")
    except (OSError, ValueError) as e:
        raise click.ClickException(
            f"cannot open or make the card-challenge key in {config.secrets_dir}: {e}"
        ) from None
    click.echo(say("card-challenge key ready in %(folder)s", folder=config.secrets_dir))
    # --- paper vouchers: a signing key before the first terminal downloads its trust list ---
    from server.vouchers import keys as voucher_keys

    with write(engine) as conn:
        key = voucher_keys.signing_key(conn, config.secrets_dir, "mkp-server init")
    click.echo(
        say(
            "voucher key %(key)s ready in %(folder)s",
            key=key.key_id,
            folder=f"{config.secrets_dir}/{voucher_keys.KEY_FOLDER}",
        )
    )


@main.command("create-operator")
@click.argument("name")
@click.option("--municipality", help="Scope the token to one municipality (6-digit code).")
@db_option
@config_option
def create_operator(name: str, municipality: str | None, db: str | None, config_file: str | None) -> None:
    """Create an operator and print its bearer token (shown only this once)."""
    from server.platform.operators.service import create_operator as create

    config = _config(config_file, db)
    engine = _engine(config)
    _require_schema(engine)
    try:
        with write(engine) as conn:
            token = create(conn, name, municipality)
    except (MkpError, ValueError) as e:
        raise click.ClickException(getattr(e, "message", str(e))) from None
    click.echo(token)


@main.command("revoke-operator")
@click.argument("name")
@db_option
@config_option
def revoke_operator(name: str, db: str | None, config_file: str | None) -> None:
    """Revoke an operator's token: its next request is refused."""
    from server.platform.operators.service import revoke_operator as revoke

    engine = _engine(_config(config_file, db))
    _require_schema(engine)
    try:
        with write(engine) as conn:
            changed = revoke(conn, name)
    except MkpError as e:
        raise click.ClickException(e.message) from None
    click.echo(
        say("operator %(name)s revoked", name=name)
        if changed
        else say("operator %(name)s was revoked already", name=name)
    )


@main.command("list-operators")
@db_option
@config_option
def list_operators(db: str | None, config_file: str | None) -> None:
    """Operators, their scope and whether their token still works (tokens are never shown again)."""
    from server.platform.operators.service import list_operators as listing

    engine = _engine(_config(config_file, db))
    _require_schema(engine)
    with read(engine) as conn:
        rows = listing(conn)
    for r in rows:
        scope = r["municipality"] or "central"
        click.echo(f"{r['name']:<24} {scope:<8} {'revoked' if r['revoked'] else 'active'}")
    if not rows:
        click.echo(say("no operators yet: mkp-server create-operator NAME"))


@main.command()
@db_option
@config_option
@click.option("--bind", default="127.0.0.1:8080", show_default=True, help="HOST:PORT to listen on.")
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64), help="Worker processes.")
@click.option(
    "--threads", default=4, show_default=True, type=click.IntRange(1, 64), help="Threads per worker."
)
def run(db: str | None, config_file: str | None, bind: str, workers: int, threads: int) -> None:
    """Serve the API with gunicorn (several workers want PostgreSQL; SQLite takes one writer at a time)."""
    from gunicorn.app.base import BaseApplication
    from gunicorn.glogging import Logger

    from server.app import create_app
    from server.web.logs import logging_config

    config = _config(config_file, db)
    _require_schema(_engine(config))
    _refuse_a_taken_address(bind)

    class NoAccessLog(Logger):  # type: ignore[misc]  # gunicorn ships no types: its base is Any
        """gunicorn's logger without the access log: with a ``logconfig_dict`` set it builds every
        request's access-log atoms (a few % of a small request's CPU) for a logger we give no
        handler; the app logs what an operator needs itself."""

        @property
        def access_log_enabled(self) -> bool:
            return False

        def access(self, *_: object) -> None:
            return None

    class Server(BaseApplication):  # type: ignore[misc]  # gunicorn ships no types: its base is Any
        def load_config(self) -> None:
            self.cfg.set("bind", [bind])
            self.cfg.set("workers", workers)
            self.cfg.set("threads", threads)
            self.cfg.set("worker_class", "gthread")
            self.cfg.set("accesslog", None)
            self.cfg.set("logger_class", NoAccessLog)
            self.cfg.set("logconfig_dict", logging_config())
            self.cfg.set("graceful_timeout", 5)
            if "control_socket_disable" in self.cfg.settings:  # gunicorn >= 25.1
                # Its control socket (for gunicornc, which mkp does not use) defaults to one path
                # per user ($XDG_RUNTIME_DIR/gunicorn.ctl or ~/.gunicorn/): a second server on the
                # host would take it over, and gunicornc would then stop or scale the wrong one.
                self.cfg.set("control_socket_disable", True)

        def load(self) -> Flask:
            app = create_app(config)
            # What the worker has loaded (Flask, SQLAlchemy, the app: a few hundred thousand
            # objects) lives as long as the worker: kept out of the collector's generations, a
            # full collection no longer walks it while requests wait.
            gc.freeze()
            return app

    Server().run()


def _refuse_a_taken_address(bind: str) -> None:
    """Say at once, in one line, that ``bind`` cannot be listened on: gunicorn would try a taken
    port five times and log a dozen lines before giving up. (A unix socket is left to gunicorn.)"""
    host, sep, port = bind.rpartition(":")
    if bind.startswith(("unix:", "fd://")) or not sep or not port.isdigit():
        return
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host.strip("[]") or None, int(port), type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except (OSError, UnicodeError):
        return  # a name that does not resolve: gunicorn says so
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as gunicorn binds
        try:
            probe.bind(address)
        except OSError as e:
            if e.errno == errno.EADDRINUSE:
                raise click.ClickException(
                    say(
                        "port %(port)s is in use: stop what listens there, or give --bind HOST:PORT",
                        port=port,
                    )
                ) from None
            raise click.ClickException(
                say("cannot listen on %(address)s: %(reason)s", address=bind, reason=e.strerror or e)
            ) from None


@main.command("crl-sweep")
@db_option
@config_option
@click.option("--crl", "source", help="CRL file or http(s) URL (default: crl_source in the config).")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def crl_sweep(db: str | None, config_file: str | None, source: str | None, as_json: bool) -> None:
    """The daily CRL job (cron or a systemd timer): import the JPKI CRL if it is new, then suspend
    every MyKey ID whose certificate it lists.

    Exit codes: 0 swept; 1 the CRL could not be fetched or was refused (older than the one held,
    not signed by a JPKI anchor), or the newest CRL held is stale; 2 usage or configuration.
    """
    config = _config(config_file, db)
    engine = _engine(config)
    _require_schema(engine)
    source = source or config.crl_source
    if not source:
        raise click.UsageError("no CRL source: give --crl FILE|URL or set crl_source (MKP_CRL_SOURCE)")
    try:
        report = sweep_from(engine, config, source)
    except MkpError as e:
        click.echo(f"mkp-server crl-sweep: error: {e.code}: {e.message}", err=True)
        sys.exit(1)
    if as_json:
        click.echo(json.dumps(report, default=str, ensure_ascii=False))
    else:
        click.echo(_sweep_text(report))
    sys.exit(1 if report["stale"] else 0)


def sweep_from(engine: Engine, config: ServerConfig, source: str) -> dict[str, Any]:
    """Fetch the CRL at ``source``, keep it if new (checked as an upload is), sweep: the report."""
    from datetime import UTC, datetime, timedelta

    from mkp_core.crl_source import as_upload_text, read_crl
    from server.platform.crls import service as crls
    from server.platform.mykey.sweep import sweep

    trust = crls.trust_from_config(config.jpki_anchor_files)
    text = as_upload_text(read_crl(source, config.max_crl_bytes), source)
    with write(engine) as conn:
        try:
            imported = crls.upload(conn, trust, text)
        except MkpError as e:
            if e.code != "crl_exists":
                raise
            imported = None  # the CA has not published a newer one yet: sweep what is held
        stores = crls.CurrentCrls(trust).stores(conn)
        report = sweep(conn, stores)
    max_age = timedelta(hours=config.crl_max_age_hours)
    now = datetime.now(UTC)
    stale = [reason for s in stores if (reason := s.stale_reason(now, max_age))]
    return {"imported": imported, "sweep": report, "stale": stale}


def _sweep_text(report: dict[str, Any]) -> str:
    imported, sweep = report["imported"], report["sweep"]
    head = (
        f"{imported['kind']} CRL number {imported['number']} imported ({imported['entries']} entries)"
        if imported
        else "no new CRL (the one held is the newest)"
    )
    lines = [
        f"{head}; {sweep['checked']} MyKey certificates checked, {sweep['revoked']} newly revoked, "
        f"{len(sweep['suspended'])} MyKey IDs suspended"
    ]
    lines += [f"suspended: {mykey_id}" for mykey_id in sweep["suspended"]]
    lines += [f"suspended already (reported before): {mykey_id}" for mykey_id in sweep["already_suspended"]]
    lines += [f"warning: {reason}" for reason in report["stale"]]
    return "\n".join(lines)


def _require_schema(engine: Engine) -> None:
    try:
        current = migrate.current_revision(engine)
    except SQLAlchemyError as e:
        raise click.ClickException(
            say("cannot reach the database: %(reason)s", reason=e.__class__.__name__)
        ) from None
    head = migrate.head_revision()
    if current != head:
        raise click.ClickException(
            say(
                "database schema is at %(current)s, this server needs %(head)s: run `mkp-server init` first",
                current=current or "nothing",
                head=head,
            )
        )


if __name__ == "__main__":
    sys.exit(main())
