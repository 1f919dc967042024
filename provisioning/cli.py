"""`mkp-provision`: enroll this terminal and run the connection test (疎通テスト), for a technician.

    mkp-provision --server https://mkp.example.jp --code ABCD-EFGH-JKMN-PQRS --home /var/lib/mkp \\
                  --printer epson-tm-t88vi --printer-at usb:04b8:0202

Safe to run again at any time: the key in HOME is reused, an enrolled HOME skips enrollment and
only refreshes downloads and re-runs the checks. Exit codes: 0 ready; 1 a required check failed
(each ✗ line says what to do); 2 the command line is wrong.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import NoReturn

import click
from rich.console import Console
from rich.text import Text

from agent.downloads import refresh_downloads, terminal_client
from agent.home import Home, read_agent_toml, write_agent_toml
from mkp_core import cli_speech
from mkp_core.cli_speech import local_time, say
from mkp_core.i18n import N_
from mkp_core.signing import PrivateKey, key_fingerprint
from provisioning import checks, kiosk
from provisioning.checks import CheckResult
from provisioning.enroll import (
    ProvisionError,
    create_home,
    enroll,
    enrolled_terminal_id,
    load_or_create_key,
    normalize_code,
    save_enrollment,
)
from provisioning.systemd import hand_over, home_owner, write_unit

STYLE = {"✓": "green", "!": "yellow", "✗": "bold red", "–": "dim"}


class Out:
    """Progress for people on stdout (plain when not a terminal); nothing but JSON with --json."""

    def __init__(self, as_json: bool) -> None:
        self.as_json = as_json
        self.console = Console(highlight=False, soft_wrap=True)

    def step(self, text: str) -> None:
        if not self.as_json:
            self.console.print(Text(f"• {text}"))

    def checklist(self, results: list[CheckResult]) -> None:
        if self.as_json:
            return
        self.console.print(Text("\n" + say("Checklist"), style="bold"))
        for line in checks.format_checklist(results):
            mark = line[:1]
            self.console.print(Text(line, style=STYLE.get(mark, "")))


def usage_error(message: str) -> NoReturn:
    cli_speech.fail(2, message, "usage_error")


def _check_printer_options(printer: str | None, printer_at: str | None) -> None:
    """Refuse a wrong profile or connection before anything is enrolled or printed."""
    from drivers.printer import PrinterError, parse_connection
    from drivers.profiles import ProfileError, load_printer_profile

    if printer:
        try:
            load_printer_profile(printer)
        except ProfileError as e:
            usage_error(f"--printer: {e.errors[0]}")
    if printer_at:
        try:
            parse_connection(printer_at)
        except PrinterError as e:
            usage_error(f"--printer-at: {e.message}")
    if bool(printer) != bool(printer_at):
        usage_error(
            "give both --printer PROFILE and --printer-at SPEC (e.g. --printer epson-tm-t88vi "
            "--printer-at usb:04b8:0202)"
        )


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--server", metavar="URL", help="Ledger server, e.g. https://mkp.example.jp (remembered in HOME)."
)
@click.option("--code", metavar="CODE", help="One-time enrollment code from the operator (first run only).")
@click.option(
    "--home",
    "home_dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder for this terminal's key, certificates and settings, e.g. /var/lib/mkp.",
)
@click.option(
    "--printer",
    metavar="PROFILE",
    help="Printer profile, e.g. epson-tm-t88vi (see firmware-config/printers).",
)
@click.option(
    "--printer-at",
    metavar="SPEC",
    help="Where the printer is: usb:VID:PID, network:HOST[:PORT], serial:DEVICE or file:PATH.",
)
@click.option(
    "--reader", metavar="NAME", help="Card reader name (or part of it); default: the first one found."
)
@click.option(
    "--systemd",
    "unit_path",
    type=click.Path(path_type=Path),
    metavar="PATH",
    help="Also write a systemd unit for `mkp-agent run` to PATH.",
)
@click.option(
    "--user", "unit_user", metavar="USER", help="User the service runs as (default: owner of HOME)."
)
@click.option(
    "--kiosk-browser",
    is_flag=True,
    help="Also start Debian's Chromium in kiosk mode on the counter page at login (of --user).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.version_option(package_name="mkp")
def main(
    server: str | None,
    code: str | None,
    home_dir: Path,
    printer: str | None,
    printer_at: str | None,
    reader: str | None,
    unit_path: Path | None,
    unit_user: str | None,
    kiosk_browser: bool,
    as_json: bool,
) -> None:
    """Enroll this terminal with the server and test everything it needs."""
    try:
        run = begin(server, code, home_dir, printer, printer_at, reader, unit_path, unit_user, as_json)
        run.kiosk_browser = kiosk_browser
        provision(run)
    except OSError as e:  # disk full, permissions changed under us: one line, not a traceback
        where = f"{e.filename}: " if e.filename else ""
        cli_speech.fail(
            1,
            where
            + say(
                "%(reason)s: free disk space or fix the folder's permissions, then run the same command again",
                reason=e.strerror or e,
            ),
            "not_writable",
        )


@dataclass
class Provisioning:
    """What one run knows so far; each step reads it and adds what it found."""

    out: Out
    home: Home
    server: str
    code: str | None
    printer: str | None
    printer_at: str | None
    reader: str | None
    unit_path: Path | None
    unit_user: str | None
    key: PrivateKey
    terminal_id: str | None = None
    reach: CheckResult | None = None
    clock: CheckResult | None = None
    ping: CheckResult | None = None
    place_name: str = "(not enrolled)"
    kiosk_browser: bool = False

    @property
    def reached(self) -> bool:
        return self.reach is not None and self.reach.ok


def provision(run: Provisioning) -> NoReturn:
    """The whole run: every step in turn, then the checklist; exits with its verdict."""
    results: list[CheckResult] = []
    for step in STEPS:
        results += step(run)
    results.sort(key=_checklist_position)
    finish(run, results)


def begin(
    server: str | None,
    code: str | None,
    home_dir: Path,
    printer: str | None,
    printer_at: str | None,
    reader: str | None,
    unit_path: Path | None,
    unit_user: str | None,
    as_json: bool,
) -> Provisioning:
    """The run's settings (the command line, else what an earlier run kept in agent.toml), its
    home folder and the terminal key in it (made once, reused by every later run).

    A wrong command line or an unusable home folder exits 2 here, before any network.
    """
    home = Home(home_dir.expanduser().resolve())
    previous = read_agent_toml(home)
    printer = printer or previous.get("printer", {}).get("profile")
    printer_at = printer_at or previous.get("printer", {}).get("connection")
    reader = reader or previous.get("reader", {}).get("name")
    server = (server or previous.get("server", {}).get("url") or "").rstrip("/")
    if not server:
        usage_error(say("--server URL is needed on the first run (e.g. --server https://mkp.example.jp)"))
    if not server.startswith(("http://", "https://")):
        usage_error(
            say("--server '%(server)s': give the full address, starting with https://", server=server)
        )
    _check_printer_options(printer, printer_at)
    if code is not None:
        try:
            code = normalize_code(code)
        except ProvisionError as e:
            usage_error(f"--code: {e.message}: {e.fix}")
    try:
        create_home(home)
        key, created = load_or_create_key(home)
    except ProvisionError as e:
        usage_error(f"{e.message}: {e.fix}")
    out = Out(as_json)
    out.step(
        f"Terminal key {'created' if created else 'found'} in {home.key} "
        f"(fingerprint {key_fingerprint(key)[:16]}…); it never leaves this computer"
    )
    return Provisioning(out, home, server, code, printer, printer_at, reader, unit_path, unit_user, key)


# --- the steps, in the order they run ------------------------------------------------------------


def step_server(run: Provisioning) -> list[CheckResult]:
    """Is the server there, and does this computer's clock agree with it?"""
    run.out.step(say("Contacting %(server)s", server=run.server))
    run.reach = checks.check_server(run.server)
    if not run.reach.ok:
        return [run.reach]
    run.clock = checks.check_clock(checks.server_time(run.server))
    return [run.reach, run.clock]


def step_enrollment(run: Provisioning) -> list[CheckResult]:
    """Enroll with the one-time code, unless HOME is enrolled already."""
    name = N_("Enrollment")
    run.terminal_id = enrolled_terminal_id(run.home)
    if run.terminal_id:
        unused = " (the --code given is not needed and was not used)" if run.code else ""
        run.out.step(f"Already enrolled as terminal {run.terminal_id}: refreshing downloads{unused}")
        return [CheckResult(name, True, True, f"terminal {run.terminal_id} (enrolled earlier)")]
    if not run.reached:
        fix = "fix the network (see below), then run the same command again"
        return [CheckResult(name, False, True, "not done: the server cannot be reached", fix, skipped=True)]
    if not run.code:
        usage_error(
            "--code CODE is needed to enroll this terminal (the operator makes one with "
            "`mkp-admin terminal enroll`)"
        )
    run.out.step(say("Enrolling with the one-time code"))
    try:
        enrollment = enroll(run.server, run.code, run.key)
    except ProvisionError as e:
        return [CheckResult(name, False, True, e.message, e.fix)]
    save_enrollment(run.home, enrollment)
    run.terminal_id = enrollment.terminal_id
    write_agent_toml(run.home, {"server": {"url": run.server}, "terminal": {"id": run.terminal_id}})
    return [CheckResult(name, True, True, f"terminal {run.terminal_id}")]


def step_signed_request(run: Provisioning) -> list[CheckResult]:
    """Does the server accept this terminal's signatures (tried only once network and clock are right)?"""
    if not run.terminal_id:
        return []
    if not (run.reached and (run.clock is None or run.clock.ok)):
        return [
            CheckResult(
                N_("Signed request"), False, True, "not tried: fix the lines above first", skipped=True
            )
        ]
    run.ping = checks.check_ping(run.server, run.terminal_id, run.key)
    return [run.ping]


def step_downloads(run: Provisioning) -> list[CheckResult]:
    """Configuration, trust list and CRL into HOME, and the CRL checked as the counter will check it."""
    if not run.terminal_id:
        return []
    run.place_name = _place_name(run.home)
    if run.ping is None or not run.ping.ok:
        return [
            CheckResult(
                "Configuration", False, True, "not downloaded: fix the lines above first", skipped=True
            )
        ]
    run.out.step(say("Downloading configuration, trust list and CRL"))
    downloads = refresh_downloads(terminal_client(run.server, run.terminal_id, run.key), run.home)
    run.out.step(", ".join(f"{d.name}: {d.status}" for d in downloads.items))
    config = downloads.get("config")
    if config and isinstance(config.data, dict):
        run.place_name = str((config.data.get("place") or {}).get("name") or run.place_name)
    return [checks.check_downloads(downloads), checks.check_crl(run.home)]


def step_reader(run: Provisioning) -> list[CheckResult]:
    """Is the card reader there (a card need not be in it)?"""
    run.out.step(say("Looking for the card reader"))
    return [checks.check_reader(run.reader)]


def step_printer(run: Provisioning) -> list[CheckResult]:
    """A test page naming the terminal and its place (once enrolled: before, there is nothing to name)."""
    if not run.terminal_id:
        return [CheckResult(N_("Printer"), False, False, "test page after enrollment", skipped=True)]
    if run.printer:
        run.out.step(
            say("Printing a test page on %(printer)s at %(where)s", printer=run.printer, where=run.printer_at)
        )
    return [checks.check_printer(run.printer, run.printer_at, terminal=run.terminal_id, place=run.place_name)]


def step_agent_settings(run: Provisioning) -> list[CheckResult]:
    """agent.toml: what mkp-agent needs, and the choices a later run of mkp-provision reuses."""
    if run.terminal_id:
        write_agent_toml(
            run.home,
            {
                "server": {"url": run.server},
                "terminal": {
                    "id": run.terminal_id,
                    "key": str(run.home.key),
                    "certificate": str(run.home.certificate),
                    "ca": str(run.home.ca),
                },
                "printer": {"profile": run.printer, "connection": run.printer_at},
                "reader": {"name": run.reader},
            },
        )
    return []


def step_service_file(run: Provisioning) -> list[CheckResult]:
    """The systemd unit for `mkp-agent run`, when --systemd asks for one."""
    if not run.unit_path:
        return []
    return [_unit(run.unit_path, run.home, run.unit_user, run.terminal_id)]


def step_kiosk_browser(run: Provisioning) -> list[CheckResult]:
    """The counter page full screen at login, when --kiosk-browser asks for it."""
    if not run.kiosk_browser:
        return []
    name = N_("Kiosk browser")
    if not Path(kiosk.CHROMIUM).exists():
        return [
            CheckResult(name, False, True, f"{kiosk.CHROMIUM} is missing", "sudo apt-get install chromium")
        ]
    try:
        written = kiosk.write_autostart(kiosk.autostart_dir(run.unit_user))
    except ProvisionError as e:
        return [CheckResult(name, False, True, e.message, e.fix)]
    return [CheckResult(name, True, True, f"Chromium opens {kiosk.PAGE} full screen at login ({written})")]


STEPS: tuple[Callable[[Provisioning], list[CheckResult]], ...] = (
    step_server,
    step_enrollment,
    step_signed_request,
    step_downloads,
    step_reader,
    step_printer,
    step_agent_settings,
    step_service_file,
    step_kiosk_browser,
)

#: The checklist's order, whatever order the checks run in (enrollment needs the server first).
CHECKLIST = (
    "Enrollment",
    "Server reached",
    "Clock",
    "Signed request",
    "Configuration",
    "Revocation list (CRL)",
    "Card reader",
    "Printer",
    "Service file",
    "Kiosk browser",
)


def _checklist_position(result: CheckResult) -> int:
    return CHECKLIST.index(result.name) if result.name in CHECKLIST else len(CHECKLIST)


def finish(run: Provisioning, results: list[CheckResult]) -> NoReturn:
    """Show the checklist (or the JSON report) and exit 0 when every required check passed, else 1."""
    run.out.checklist(results)
    ok = checks.passed(results)
    if run.out.as_json:
        report = {
            "ok": ok,
            "terminal_id": run.terminal_id,
            "home": str(run.home.root),
            "checks": [r.to_dict() for r in results],
        }
        click.echo(json.dumps(report, ensure_ascii=False, indent=2))
    elif ok:
        run.out.console.print(
            Text(
                "\n"
                + say(
                    "Ready: terminal %(terminal)s at %(place)s (%(time)s).",
                    terminal=run.terminal_id,
                    place=run.place_name,
                    time=local_time(datetime.now(UTC)),
                ),
                style="bold green",
            )
        )
    else:
        run.out.console.print(
            Text(
                "\n" + say("Not ready: do what the → lines say, then run the same command again."),
                style="bold red",
            )
        )
    sys.exit(0 if ok else 1)


def _place_name(home: Home) -> str:
    """The place from the last downloaded config, for the test page when the server cannot be reached."""
    try:
        return str(json.loads(home.config.read_text(encoding="utf-8"))["place"]["name"])
    except (OSError, ValueError, KeyError, TypeError):
        return "(place not downloaded yet)"


def _unit(path: Path, home: Home, user: str | None, terminal_id: str | None) -> CheckResult:
    name = N_("Service file")
    if not terminal_id:
        return CheckResult(name, False, False, "written once the terminal is enrolled", skipped=True)
    user = user or home_owner(home.root)
    problem = hand_over(home.root, user)
    if problem:
        return CheckResult(
            name,
            False,
            True,
            problem,
            f"sudo adduser --system {user} if it is missing, then run "
            f"this command again with sudo (it hands {home.root} to {user})",
        )
    try:
        written = write_unit(path, home.root, user, terminal_id)
    except ProvisionError as e:
        return CheckResult(name, False, True, e.message, e.fix)
    if user == "root":
        return CheckResult(
            name,
            True,
            True,
            f"{written} (runs as root)",
            f"better: sudo adduser --system mkp; sudo chown -R mkp {home.root}; run again with --user mkp",
            warning=True,
        )
    return CheckResult(name, True, True, f"{written} (runs as {user})")


if __name__ == "__main__":
    main()
