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
from datetime import UTC, datetime
from pathlib import Path

import click
from rich.console import Console
from rich.text import Text

from agent.home import Home, read_agent_toml, write_agent_toml
from agent.sync import refresh_downloads, terminal_client
from mkp_core.signing import key_fingerprint
from provisioning import checks
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
        self.console.print(Text("\nChecklist", style="bold"))
        for line in checks.format_checklist(results):
            mark = line[:1]
            self.console.print(Text(line, style=STYLE.get(mark, "")))


def usage_error(message: str) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(2)


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
    as_json: bool,
) -> None:
    """Enroll this terminal with the server and test everything it needs."""
    try:
        provision(server, code, home_dir, printer, printer_at, reader, unit_path, unit_user, as_json)
    except OSError as e:  # disk full, permissions changed under us: one line, not a traceback
        where = f"{e.filename}: " if e.filename else ""
        click.echo(
            f"error: {where}{e.strerror or e}: free disk space or fix the folder's permissions, "
            "then run the same command again",
            err=True,
        )
        sys.exit(1)


def provision(
    server: str | None,
    code: str | None,
    home_dir: Path,
    printer: str | None,
    printer_at: str | None,
    reader: str | None,
    unit_path: Path | None,
    unit_user: str | None,
    as_json: bool,
) -> None:
    """The whole run; exits with the checklist's verdict."""
    out = Out(as_json)
    home = Home(home_dir.expanduser().resolve())
    previous = read_agent_toml(home)
    printer = printer or previous.get("printer", {}).get("profile")
    printer_at = printer_at or previous.get("printer", {}).get("connection")
    reader = reader or previous.get("reader", {}).get("name")
    server = (server or previous.get("server", {}).get("url") or "").rstrip("/")
    if not server:
        usage_error("--server URL is needed on the first run (e.g. --server https://mkp.example.jp)")
    if not server.startswith(("http://", "https://")):
        usage_error(f"--server {server!r}: give the full address, starting with https://")
    _check_printer_options(printer, printer_at)
    if code is not None:
        try:
            code = normalize_code(code)
        except ProvisionError as e:
            usage_error(f"--code: {e.message}: {e.fix}")

    results: list[CheckResult] = []
    try:
        create_home(home)
        key, created = load_or_create_key(home)
    except ProvisionError as e:
        usage_error(f"{e.message}: {e.fix}")
    out.step(
        f"Terminal key {'created' if created else 'found'} in {home.key} "
        f"(fingerprint {key_fingerprint(key)[:16]}…); it never leaves this computer"
    )

    out.step(f"Contacting {server}")
    reach = checks.check_server(server)
    results.append(reach)
    clock = checks.check_clock(checks.server_time(server)) if reach.ok else None
    if clock:
        results.append(clock)

    terminal_id = enrolled_terminal_id(home)
    if terminal_id:
        unused = " (the --code given is not needed and was not used)" if code else ""
        out.step(f"Already enrolled as terminal {terminal_id}: refreshing downloads{unused}")
        results.insert(0, CheckResult("Enrollment", True, True, f"terminal {terminal_id} (enrolled earlier)"))
    elif not reach.ok:
        results.insert(
            0,
            CheckResult(
                "Enrollment",
                False,
                True,
                "not done: the server cannot be reached",
                "fix the network (see below), then run the same command again",
                skipped=True,
            ),
        )
    elif not code:
        usage_error(
            "--code CODE is needed to enroll this terminal (the operator makes one with "
            "`mkp-admin terminal enroll`)"
        )
    else:
        out.step("Enrolling with the one-time code")
        try:
            enrollment = enroll(server, code, key)
        except ProvisionError as e:
            results.insert(0, CheckResult("Enrollment", False, True, e.message, e.fix))
        else:
            save_enrollment(home, enrollment)
            terminal_id = enrollment.terminal_id
            write_agent_toml(home, {"server": {"url": server}, "terminal": {"id": terminal_id}})
            results.insert(0, CheckResult("Enrollment", True, True, f"terminal {terminal_id}"))

    place_name = _place_name(home) if terminal_id else "(not enrolled)"
    signed_ok = bool(terminal_id) and reach.ok and (clock is None or clock.ok)
    ping = checks.check_ping(server, terminal_id, key) if terminal_id and signed_ok else None
    if ping is not None:
        results.append(ping)
    elif terminal_id:
        results.append(
            CheckResult("Signed request", False, True, "not tried: fix the lines above first", skipped=True)
        )
    if ping is not None and ping.ok and terminal_id:
        out.step("Downloading configuration, trust list and CRL")
        downloads = refresh_downloads(terminal_client(server, terminal_id, key), home)
        out.step(", ".join(f"{d.name}: {d.status}" for d in downloads.items))
        results.append(checks.check_downloads(downloads))
        results.append(checks.check_crl(home))
        config = downloads.get("config")
        if config and isinstance(config.data, dict):
            place_name = str((config.data.get("place") or {}).get("name") or place_name)
    elif terminal_id:
        results.append(
            CheckResult(
                "Configuration", False, True, "not downloaded: fix the lines above first", skipped=True
            )
        )

    out.step("Looking for the card reader")
    results.append(checks.check_reader(reader))
    if terminal_id:
        if printer:
            out.step(f"Printing a test page on {printer} at {printer_at}")
        results.append(checks.check_printer(printer, printer_at, terminal=terminal_id, place=place_name))
        write_agent_toml(
            home,
            {
                "server": {"url": server},
                "terminal": {
                    "id": terminal_id,
                    "key": str(home.key),
                    "certificate": str(home.certificate),
                    "ca": str(home.ca),
                },
                "printer": {"profile": printer, "connection": printer_at},
                "reader": {"name": reader},
            },
        )
    else:
        results.append(CheckResult("Printer", False, False, "test page after enrollment", skipped=True))

    if unit_path:
        results.append(_unit(unit_path, home, unit_user, terminal_id))

    out.checklist(results)
    ok = checks.passed(results)
    if as_json:
        click.echo(
            json.dumps(
                {
                    "ok": ok,
                    "terminal_id": terminal_id,
                    "home": str(home.root),
                    "checks": [r.to_dict() for r in results],
                },
                ensure_ascii=False,
                indent=2,
            )
        )
    elif ok:
        out.console.print(
            Text(
                f"\nReady: terminal {terminal_id} at {place_name} ({datetime.now(UTC):%Y-%m-%d %H:%M} UTC).",
                style="bold green",
            )
        )
    else:
        out.console.print(
            Text("\nNot ready: do what the → lines say, then run the same command again.", style="bold red")
        )
    sys.exit(0 if ok else 1)


def _place_name(home: Home) -> str:
    """The place from the last downloaded config, for the test page when the server cannot be reached."""
    try:
        return str(json.loads(home.config.read_text(encoding="utf-8"))["place"]["name"])
    except (OSError, ValueError, KeyError, TypeError):
        return "(place not downloaded yet)"


def _unit(path: Path, home: Home, user: str | None, terminal_id: str | None) -> CheckResult:
    name = "Service file"
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
