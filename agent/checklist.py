"""The checklist (疎通テスト), one function per check: the technician runs it after enrollment
(``mkp-provision``) and the agent runs it in the nationwide connection test (``agent.conntest``).

It lives in the agent because both use it and dependencies run provisioning → agent, never back.
Each check returns a :class:`CheckResult` whose ``fix`` says in one line what to do when it
failed, so the checklist is usable by someone who has never seen the code. Checks that depend on
the time take ``now`` so tests can move the terminal's clock without touching the machine's.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

from rich.cells import cell_len

from agent.downloads import Downloads, terminal_client
from agent.home import Home
from mkp_core.cli_speech import say
from mkp_core.client import ApiClient, ApiError, Unreachable
from mkp_core.crl import CrlError, download_entries, load_current
from mkp_core.errors import MkpError
from mkp_core.i18n import N_
from mkp_core.signing import PrivateKey
from mkp_core.trust import TrustStore, TrustStoreError

CLOCK_FAIL = timedelta(minutes=5)  # the server refuses signatures further off than this
CLOCK_WARN = timedelta(seconds=30)
PRINTER_SPEC_HELP = "file:PATH, network:HOST[:PORT], usb:VID:PID or serial:DEVICE"


@dataclass(frozen=True)
class CheckResult:
    """One line of the checklist. ``required`` checks decide the exit code; ``warning``: ok but look."""

    name: str
    ok: bool
    required: bool
    detail: str
    fix: str = ""
    warning: bool = False
    skipped: bool = False
    #: Why it failed or warned, for programs (the connection test counts failures by it).
    code: str = ""

    @property
    def mark(self) -> str:
        if self.skipped:
            return "–"
        if not self.ok:
            return "✗"
        return "!" if self.warning else "✓"

    def to_dict(self) -> dict[str, object]:
        return {
            "name": self.name,
            "ok": self.ok,
            "required": self.required,
            "detail": self.detail,
            "fix": self.fix,
            "warning": self.warning,
            "skipped": self.skipped,
            "code": self.code,
        }


def passed(results: list[CheckResult]) -> bool:
    """True when every required check is ok (warnings and optional failures do not count)."""
    return all(r.ok or not r.required for r in results)


def format_checklist(results: list[CheckResult]) -> list[str]:
    """Plain-text checklist: one line per check, then an indented "what to do" line under each ✗ or !."""
    names = [say(r.name) for r in results]  # the check's name in the locale's language
    width = max((cell_len(n) for n in names), default=0)
    lines = []
    for r, name in zip(results, names, strict=True):
        optional = "" if r.required or r.ok or r.skipped else say(" (optional)")
        lines.append(f"{r.mark} {name}{' ' * (width - cell_len(name))}  {r.detail}{optional}")
        if r.fix and (not r.ok or r.warning):
            lines.append(f"  {' ' * width}  → {r.fix}")
    return lines


# --- network -------------------------------------------------------------------------------------


def check_server(server: str) -> CheckResult:
    """Can this machine reach the server over the network, and is the server healthy?"""
    name = N_("Server reached")
    try:
        status = ApiClient(server).send("GET", "/healthz").status_code
    except Unreachable as e:
        return CheckResult(
            name,
            False,
            True,
            e.message,
            "check the network cable or Wi-Fi (and any firewall or proxy), and that the server "
            "address is right: it looks like https://mkp.example.jp",
            code="server_unreachable",
        )
    except ApiError as e:
        status = e.status
    if status != 200:
        return CheckResult(
            name,
            False,
            True,
            f"{server} answered HTTP {status}",
            "the server is not healthy: tell the operator",
            code="server_unhealthy",
        )
    return CheckResult(name, True, True, server)


def server_time(server: str) -> datetime | None:
    """The server's clock, from the HTTP Date header of /healthz (no signature needed, so a bad clock
    cannot hide the reason it is bad)."""
    try:
        return parse_http_date(ApiClient(server).send("GET", "/healthz").headers.get("Date"))
    except MkpError:
        return None


def parse_http_date(value: str | None) -> datetime | None:
    """An HTTP Date header as an aware UTC datetime (None if absent or malformed)."""
    try:
        return parsedate_to_datetime(value).astimezone(UTC) if value else None
    except (TypeError, ValueError):
        return None


def check_clock(server_now: datetime | None, now: datetime | None = None) -> CheckResult:
    """Is the terminal's clock close to the server's? Signed requests more than 5 min off are refused."""
    name = N_("Clock")
    if server_now is None:
        return CheckResult(
            name,
            False,
            True,
            "the server's time could not be read",
            "fix the network first (see the lines above), then run again",
            code="no_server_time",
        )
    local = (now or datetime.now(UTC)).astimezone(UTC)
    offset = local - server_now
    seconds = offset.total_seconds()
    where = f"{abs(seconds):.0f} s {'ahead of' if seconds > 0 else 'behind'} the server"
    fix = "set the time: sudo timedatectl set-ntp true (or set date, time and time zone in the BIOS/OS)"
    if abs(offset) > CLOCK_FAIL:
        return CheckResult(name, False, True, f"this computer's clock is {where}", fix, code="clock_skew")
    if abs(offset) > CLOCK_WARN:
        return CheckResult(
            name, True, True, f"{where} (allowed up to 5 min)", fix, warning=True, code="clock_drift"
        )
    return CheckResult(name, True, True, "in step with the server" if abs(seconds) < 1 else where)


PING_FIXES: dict[str, tuple[str, str]] = {
    "revoked_key": (
        "this terminal has been revoked by the operator",
        "ask the operator; to enroll again, move the home folder away and use a new code",
    ),
    "unknown_key": (
        "the server does not know this terminal",
        "move the home folder away and run again with a new enrollment code",
    ),
    "clock_skew": (
        "the server refused the request: this computer's clock is wrong",
        "set the time: sudo timedatectl set-ntp true, then run again",
    ),
}


def check_ping(
    server: str, terminal_id: str, key: PrivateKey, clock: Callable[[], float] = time.time
) -> CheckResult:
    """An authenticated request: proves the server accepts this terminal's signatures.

    ``clock`` (seconds since the epoch) stands in for this computer's clock in tests.
    """
    name = N_("Signed request")
    try:
        data = terminal_client(server, terminal_id, key, clock=clock).get("/v1/terminal/ping")
    except Unreachable as e:
        return CheckResult(
            name, False, True, e.message, "check the network cable or Wi-Fi, then run again", code=e.code
        )
    except ApiError as e:
        detail, fix = PING_FIXES.get(
            e.code, (f"refused: {e.code}: {e.message}", "show this line to the operator")
        )
        return CheckResult(name, False, True, detail, fix, code=e.code)
    return CheckResult(name, True, True, f"terminal {data.get('terminal_id')} at place {data.get('place')}")


def check_downloads(downloads: Downloads) -> CheckResult:
    """Did the terminal get its configuration and trust list (the CRL has its own check)?"""
    name = N_("Configuration")
    bad = [d for d in downloads.items if d.name != "crl" and d.status not in ("new", "unchanged")]
    if bad:
        return CheckResult(
            name,
            False,
            True,
            "; ".join(f"{d.name}: {d.reason}" for d in bad),
            "check the network and run again; if it persists, tell the operator",
            code=bad[0].code or "download_failed",
        )
    config = downloads.get("config")
    data = config.data if config and isinstance(config.data, dict) else {}
    place = data.get("place") or {}
    codes = ", ".join(data.get("point_codes") or []) or "none"
    return CheckResult(
        name, True, True, f"place {place.get('name', '?')} ({place.get('id', '?')}), point codes: {codes}"
    )


def check_crl(home: Home, now: datetime | None = None) -> CheckResult:
    """Is every downloaded CRL signed by a JPKI anchor of the trust list, and fresh? Cards are refused otherwise."""
    name = N_("Revocation list (CRL)")
    try:
        trust_pems = json.loads(home.trust_list.read_text(encoding="utf-8"))["jpki_anchors"]
        trust = TrustStore.from_pem("".join(trust_pems).encode(), source="trust list")
    except (OSError, ValueError, KeyError, TypeError, TrustStoreError) as e:
        return CheckResult(
            name,
            False,
            True,
            f"no usable trust list: {e}",
            "run again; if it persists, tell the operator the trust list is broken",
            code="no_trust_list",
        )
    try:
        data = json.loads(home.crl.read_text(encoding="utf-8"))
    except FileNotFoundError:
        data = None
    except (OSError, ValueError) as e:
        return CheckResult(
            name,
            False,
            True,
            f"{home.crl} is unreadable: {e}",
            f"delete {home.crl} and run again",
            code="crl_unreadable",
        )
    entries = download_entries(data)
    if not entries:
        return CheckResult(
            name,
            False,
            True,
            "the server has no CRL for terminals yet",
            "ask the operator to upload the JPKI CRL, then run mkp-provision again",
            code="no_crl",
        )
    try:
        loaded = load_current(entries, trust, home.crl.name)
    except CrlError as e:
        return CheckResult(
            name,
            False,
            True,
            f"CRL refused: {e}",
            "tell the operator: the CRL on the server is not signed by a trusted CA",
            code="crl_refused",
        )
    for store in loaded:
        stale = store.stale_reason(now)
        if stale:
            fix = (
                "set the time: sudo timedatectl set-ntp true"
                if "future" in stale
                else "ask the operator to upload a current CRL, then run again"
            )
            return CheckResult(name, False, True, stale, fix, code="crl_stale")
    newest = max(loaded, key=lambda s: s.this_update)
    return CheckResult(
        name,
        True,
        True,
        f"{len(loaded)} CA(s), {sum(s.count for s in loaded)} revoked, "
        f"newest of {newest.this_update:%Y-%m-%d %H:%M} UTC",
    )


# --- devices -------------------------------------------------------------------------------------


def check_reader(reader: str | None = None) -> CheckResult:
    """Is a card reader connected (the one named by --reader, if given)? A card need not be inserted."""
    from drivers.card.pcsc import PcscBackend
    from drivers.card.reader import CardError, PcscdNotRunningError

    name = N_("Card reader")
    try:
        names = PcscBackend().readers()
    except PcscdNotRunningError:
        return CheckResult(
            name,
            False,
            True,
            "the card reader service (pcscd) is not running",
            "start it: sudo systemctl enable --now pcscd.socket, then run again",
            code="pcscd_not_running",
        )
    except CardError as e:
        return CheckResult(
            name, False, True, str(e), "unplug and re-plug the reader, then run again", code="reader_error"
        )
    if not names:
        return CheckResult(
            name,
            False,
            True,
            "no card reader is connected",
            "plug the card reader into a USB port, wait 5 s, then run again",
            code="no_reader",
        )
    if reader is None:
        return CheckResult(name, True, True, names[0])
    matches = [n for n in names if n == reader] or [n for n in names if reader in n]
    if not matches:
        return CheckResult(
            name,
            False,
            True,
            f"no reader named {reader!r} (connected: {', '.join(names)})",
            "plug in the right reader, or pass --reader with one of the names shown",
            code="reader_not_found",
        )
    return CheckResult(name, True, True, matches[0])


def check_printer(
    profile_id: str | None, spec: str | None, *, terminal: str, place: str, now: datetime | None = None
) -> CheckResult:
    """Does the printer print? A test page with the terminal, place and time proves it end to end."""
    from drivers.printer import PrinterError, open_printer, print_test_page
    from drivers.profiles import ProfileError, load_printer_profile

    name = N_("Printer")
    if not profile_id or not spec:
        return CheckResult(
            name,
            False,
            False,
            "no printer chosen",
            f"for a receipt printer add --printer PROFILE --printer-at {PRINTER_SPEC_HELP}",
            skipped=True,
            code="no_printer",
        )
    try:
        profile = load_printer_profile(profile_id)
    except ProfileError as e:
        return CheckResult(
            name,
            False,
            True,
            e.errors[0],
            "pass --printer with one of the known profiles",
            code="bad_profile",
        )
    when = now or datetime.now(UTC)
    try:
        with open_printer(profile, spec) as printer:
            print_test_page(
                printer, terminal=terminal, place=place, when=when, qr_data=f"MKP-TEST-{terminal}"
            )
    except PrinterError as e:
        return _printer_failed(e)
    return CheckResult(name, True, True, f"test page printed on {profile.vendor} {profile.model} ({spec})")


PRINTER_FIXES = {
    "offline": "switch the printer on, check its cable / network and paper, then run again",
    "bad_connection": f"pass --printer-at as {PRINTER_SPEC_HELP}",
    "not_writable": "check the --printer-at path and its permissions",
    "unsupported": "install the missing package named above, or connect the printer another way",
}


def _printer_failed(e: MkpError) -> CheckResult:
    return CheckResult(
        "Printer",
        False,
        True,
        e.message,
        PRINTER_FIXES.get(e.code, "check the printer and run again"),
        code=f"printer_{e.code}",
    )


def check_printer_status(profile_id: str | None, spec: str | None) -> CheckResult:
    """Is the printer there? Its connection is opened and closed, and nothing is printed: what the
    connection test asks of every counter at once (a test page each would waste a roll of paper)."""
    from drivers.printer import PrinterError, open_printer
    from drivers.profiles import ProfileError, load_printer_profile

    name = N_("Printer")
    if not profile_id or not spec:
        return CheckResult(name, False, False, "no printer chosen", skipped=True, code="no_printer")
    try:
        profile = load_printer_profile(profile_id)
    except ProfileError as e:
        return CheckResult(
            name, False, True, e.errors[0], "re-run mkp-provision with a known --printer", code="bad_profile"
        )
    try:
        open_printer(profile, spec).close()
    except PrinterError as e:
        return _printer_failed(e)
    return CheckResult(name, True, True, f"{profile.vendor} {profile.model} answers ({spec})")
