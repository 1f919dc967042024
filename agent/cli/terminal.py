"""`mkp-agent run | sync | update`: the enrolled terminal's own work.

Exit codes: 0 done; 1 a download or update failed (the message says why); 3 the server could
not be reached; 4 this terminal cannot work until a technician acts (not enrolled, revoked,
no release key): systemd does not restart on 4. They are decided by error code, never by the
text of a message.
"""

from __future__ import annotations

import json
import signal
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path

import click

from agent import update as updates
from agent.conntest import ConntestRunner
from agent.sync import Downloads, refresh_downloads
from agent.terminal import NotEnrolled, Terminal
from mkp_core import release
from mkp_core.errors import MkpError

NEEDS_TECHNICIAN = {"not_enrolled", "revoked_key", "unknown_key", "no_release_key"}
UNREACHABLE = "server_unreachable"

home_option = click.option(
    "--home",
    default=".",
    envvar="MKP_HOME",
    show_default=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="The terminal's home folder (written by mkp-provision).",
)


def _open(home: Path) -> Terminal:
    try:
        return Terminal.open(home)
    except NotEnrolled as e:
        click.echo(f"error: {e.code}: {e.message}", err=True)
        sys.exit(exit_code_for(e.code))


def exit_code_for(code: str) -> int:
    """The exit code for a refusal's code: 4 a technician must act, 3 no server, 1 anything else."""
    if code in NEEDS_TECHNICIAN:
        return 4
    return 3 if code == UNREACHABLE else 1


def _exit_code(result: Downloads) -> int:
    codes = result.failed_codes()
    if not codes:
        return 0
    if codes & NEEDS_TECHNICIAN:
        return 4
    return 3 if codes == {UNREACHABLE} else 1


def _report(result: Downloads) -> str:
    return ", ".join(
        f"{d.name} {d.status}" + (f" ({d.reason})" if d.status in ("failed", "none") else "")
        for d in result.items
    )


@click.command()
@home_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def sync(home: Path, as_json: bool) -> None:
    """Fetch config, trust list and CRL now (only what changed)."""
    t = _open(home)
    result = refresh_downloads(t.client(), t.home)
    if as_json:
        click.echo(
            json.dumps(
                [
                    {"name": d.name, "status": d.status, "code": d.code, "detail": d.detail}
                    for d in result.items
                ]
            )
        )
    else:
        click.echo(_report(result))
    sys.exit(_exit_code(result))


@click.command()
@home_option
@click.option(
    "--interval",
    default=300,
    show_default=True,
    type=click.IntRange(1, 86400),
    help="Seconds between refreshes.",
)
def run(home: Path, interval: int) -> None:
    """Run the terminal: keep config, trust list and CRL fresh until stopped (SIGTERM / Ctrl-C)."""
    t = _open(home)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    click.echo(f"mkp-agent: terminal {t.terminal_id} serving from {t.home.root}, server {t.server}", err=True)
    client = t.client()
    tests = ConntestRunner(t, stop, log=lambda line: click.echo(line, err=True))  # connection tests (#13)
    while not stop.is_set():
        result = refresh_downloads(client, t.home)
        tests.offer(t.config().get("conntest"))
        stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        click.echo(f"{stamp} sync: {_report(result)}", err=True)
        if _exit_code(result) == 4:
            click.echo(
                "error: the server no longer accepts this terminal; a technician must re-enroll it", err=True
            )
            sys.exit(4)
        stop.wait(interval)
    click.echo("mkp-agent: stopped", err=True)


@click.command()
@home_option
@click.option("--check", is_flag=True, help="Only verify and report; install nothing.")
def update(home: Path, check: bool) -> None:
    """Install the newest release the operator signed (verified before anything is installed)."""
    t = _open(home)
    staging = t.home.root / "updates"
    try:
        keys = [release.load_operator_public_key(pem) for pem in t.trust_list().get("release_keys", [])]
        verified = updates.fetch_verified_release(
            t.client(timeout=updates.DOWNLOAD_TIMEOUT), keys, staging, updates.installed_version()
        )
        if verified.manifest.version == updates.installed_version():
            click.echo(f"up to date: {verified.manifest.version}")
            return
        if check:
            click.echo(
                f"release {verified.manifest.version} is available and verified ({len(verified.files)} files)"
            )
            return
        updates.install(verified)
    except MkpError as e:
        click.echo(f"error: {e.code}: {e.message}", err=True)
        sys.exit(exit_code_for(e.code))
    click.echo(f"installed {verified.manifest.version}; restart the agent to use it")
