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
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from agent import update as updates
from agent.conntest import ConntestRunner
from agent.counter.loop import CounterLoop, TerminalRefused
from agent.counter.service import Counter
from agent.counter.web import CounterServer
from agent.downloads import Downloads, refresh_downloads
from agent.home import read_agent_toml
from agent.terminal import NotEnrolled, Terminal
from drivers.card.pcsc import PcscBackend
from drivers.card.reader import CardError
from mkp_core import release
from mkp_core.cli_speech import error_line, refusal_text, say
from mkp_core.client import ApiError, Unreachable
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
        click.echo(error_line(refusal_text(e.code, e.message)), err=True)
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


def _send_queue(t: Terminal) -> dict[str, Any]:
    """Send the offline queue (and the online spends whose answer was never heard)."""
    counter = Counter(t, PcscBackend())
    try:
        return {"ok": True, **counter.sync()}
    except Unreachable as e:
        return {"ok": False, "code": UNREACHABLE, "detail": str(e), "pending": counter.queue.totals().pending}
    except ApiError as e:
        return {"ok": False, "code": e.code, "detail": e.message, "pending": counter.queue.totals().pending}
    finally:
        counter.queue.close()


def _prints_report(queue: dict[str, Any]) -> str:
    """Vouchers printed here whose confirmation went now, and those the server refused (voided
    meanwhile: the paper is not valid, reprint it for its holder)."""
    text = (
        f"; {queue['prints_confirmed']} printed vouchers confirmed" if queue.get("prints_confirmed") else ""
    )
    for r in queue.get("prints_refused") or []:
        text += (
            f"\nvoucher {r['serial']} was printed here but the server refused it ({r['code']}: "
            f"{r['message']}): the paper is not valid; reprint it for its holder"
        )
    return text


@click.command()
@home_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def sync(home: Path, as_json: bool) -> None:
    """Fetch config, trust list and CRL now (only what changed), and send the offline queue."""
    t = _open(home)
    result = refresh_downloads(t.client(), t.home)
    queue = _send_queue(t)
    if as_json:
        downloads = [
            {"name": d.name, "status": d.status, "code": d.code, "detail": d.detail} for d in result.items
        ]
        click.echo(json.dumps({"downloads": downloads, "queue": queue}, ensure_ascii=False))
    else:
        sent = (
            say(
                "queue: %(accepted)s accepted, %(refused)s refused, %(pending)s waiting",
                accepted=queue["accepted"],
                refused=queue["refused"],
                pending=queue["pending"],
            )
            if queue["ok"]
            else say(
                "queue not sent (%(error)s), %(pending)s waiting",
                error=refusal_text(queue["code"], queue["detail"]),
                pending=queue["pending"],
            )
        )
        click.echo(f"{_report(result)}; {sent}{_prints_report(queue)}")
    code = _exit_code(result)
    if code == 0 and not queue["ok"]:
        code = exit_code_for(queue["code"])
    sys.exit(code)


@click.command()
@home_option
@click.option(
    "--interval",
    default=300,
    show_default=True,
    type=click.IntRange(1, 86400),
    help="Seconds between downloads of config, trust list and CRL.",
)
@click.option(
    "--tick",
    default=30,
    show_default=True,
    type=click.IntRange(1, 3600),
    help="Seconds between heartbeats (and sends of the offline queue while entries wait).",
)
@click.option(
    "--page-port",
    default=8765,
    show_default=True,
    type=click.IntRange(0, 65535),
    help="Port of the counter page on 127.0.0.1 (0: no page).",
)
def run(home: Path, interval: int, tick: int, page_port: int) -> None:
    """Run the counter until stopped (SIGTERM / Ctrl-C): its page, the card reader, downloads,
    heartbeats and the offline queue."""
    t = _open(home)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    serving = say(
        "mkp-agent: terminal %(terminal)s serving from %(home)s, server %(server)s",
        terminal=t.terminal_id,
        home=t.home.root,
        server=t.server,
    )
    click.echo(serving, err=True)
    reader = read_agent_toml(t.home).get("reader", {}).get("name")
    counter = Counter(t, PcscBackend(), reader=reader)
    page = _start_page(counter, page_port)
    stop_watch = _watch(counter)

    def log(line: str) -> None:
        click.echo(f"{datetime.now(UTC):%Y-%m-%dT%H:%M:%SZ} {line}", err=True)

    tests = ConntestRunner(t, stop, log=log)  # connection tests the heartbeat or config announce
    loop = CounterLoop(counter, interval, log, conntests=tests)
    try:
        while not stop.is_set():
            loop.tick()
            stop.wait(min(tick, interval))
    except TerminalRefused as e:
        click.echo(
            say(
                "error: %(code)s: the server no longer accepts this terminal; a technician must re-enroll it",
                code=e.code,
            ),
            err=True,
        )
        sys.exit(4)
    finally:
        stop_watch()
        if page is not None:
            page.stop()
    click.echo(say("mkp-agent: stopped"), err=True)


def _start_page(counter: Counter, port: int) -> CounterServer | None:
    if port == 0:
        return None
    try:
        page = CounterServer(counter, port).start()
    except OSError as e:
        click.echo(
            say(
                "error: the counter page cannot listen on 127.0.0.1:%(port)s: %(reason)s", port=port, reason=e
            ),
            err=True,
        )
        return None
    click.echo(say("mkp-agent: counter page on %(url)s", url=page.url), err=True)
    return page


def _watch(counter: Counter) -> Callable[[], None]:
    try:
        return counter.watch_cards()
    except CardError as e:
        click.echo(
            say("mkp-agent: not watching the card reader: %(code)s: %(reason)s", code=e.code, reason=e),
            err=True,
        )
        return lambda: None


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
            click.echo(say("up to date: %(version)s", version=verified.manifest.version))
            return
        if check:
            click.echo(
                say(
                    "release %(version)s is available and verified (%(files)s files)",
                    version=verified.manifest.version,
                    files=len(verified.files),
                )
            )
            return
        updates.install(verified)
    except MkpError as e:
        click.echo(error_line(refusal_text(e.code, e.message)), err=True)
        sys.exit(exit_code_for(e.code))
    click.echo(say("installed %(version)s; restart the agent to use it", version=verified.manifest.version))
