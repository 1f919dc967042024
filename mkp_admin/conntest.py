"""`mkp-admin conntest schedule | list | status | report`: the nationwide connection test.

``status`` is the live view while a test runs (reported / expected with a progress bar, failures
by reason, latency percentiles, refreshed in place); ``report`` is the view afterwards, per
prefecture and municipality, with every terminal someone has to go and look at.
"""

from __future__ import annotations

import csv
import re
import sys
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import click

from mkp_admin.base import Ctx, client_id_option, ctx_for, fail, json_option, request_body, table, when
from mkp_core.cli_speech import say
from mkp_core.dates import JST
from mkp_core.i18n import N_
from mkp_core.wire import CONNTEST_MAX_WINDOW

_DURATION = re.compile(r"^\s*(-?\d+)\s*([smh]?)\s*$")
_UNIT = {"": 1, "s": 1, "m": 60, "h": 3600}


def parse_duration(text: str) -> int:
    """``60s``, ``5m``, ``1h`` or plain seconds, as seconds (ValueError otherwise)."""
    match = _DURATION.match(text or "")
    if not match:
        raise ValueError(say("%(text)s is not a duration: say 60s, 5m or 1h", text=repr(text)))
    return int(match.group(1)) * _UNIT[match.group(2)]


def parse_at(text: str, now: datetime | None = None) -> datetime:
    """``--at``: ``now``, ``+5m`` (from now), or an ISO 8601 time; without an offset it is Japan time."""
    now = now or datetime.now(UTC)
    text = (text or "").strip()
    if text == "now":
        return now
    if text.startswith("+"):
        return now + timedelta(seconds=parse_duration(text[1:]))
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(
            say(
                "%(text)s is not a time: say 2027-03-01T10:00 (Japan time), 2027-03-01T10:00+09:00, or +5m",
                text=repr(text),
            )
        ) from None
    return (value.replace(tzinfo=JST) if value.tzinfo is None else value).astimezone(UTC)


@click.group()
def conntest() -> None:
    """The nationwide simultaneous connection test (全国一斉同時アクセステスト)."""


@conntest.command("schedule")
@click.option("--at", "at", required=True, help="When: 2027-03-01T10:00 (Japan time), an offset, or +5m.")
@click.option(
    "--window", default="60s", show_default=True, help="Spread of the terminals' reports: 60s, 5m, 1h."
)
@click.option("--municipality", help="Only this municipality's terminals (6-digit code); default: all.")
@client_id_option
@json_option
def schedule(at: str, window: str, municipality: str | None, client_id: str | None, as_json: bool) -> None:
    """Schedule a test: every terminal runs its checklist at TIME + a random moment of the window."""
    ctx = ctx_for(as_json)
    try:
        starts = parse_at(at)
    except ValueError as e:
        fail(2, f"--at: {e}")
    try:
        seconds = parse_duration(window)
    except ValueError as e:
        fail(2, f"--window: {e}")
    if not 1 <= seconds <= CONNTEST_MAX_WINDOW:
        fail(
            2,
            say(
                "--window: from 1s to %(most)sm, not %(window)s",
                most=CONNTEST_MAX_WINDOW // 60,
                window=window,
            ),
        )
    body = request_body(
        starts_at=starts.isoformat(), window_seconds=seconds, municipality=municipality, client_id=client_id
    )
    t = ctx.call("POST", "/v1/conntests", body)
    ctx.show(
        t,
        say(
            "connection test %(id)s: %(when)s, %(scope)s",
            id=t["id"],
            when=_when_text(t),
            scope=_scope_text(t),
        ),
    )


def _scope_text(t: dict[str, Any]) -> str:
    if t.get("municipality"):
        return say("municipality %(code)s", code=t["municipality"])
    return say("every terminal")


def _when_text(t: dict[str, Any]) -> str:
    start = datetime.fromisoformat(t["starts_at"]).astimezone(JST)
    return f"{start:%Y-%m-%d %H:%M:%S} JST ({when(t['starts_at'])}), " + say(
        "window %(seconds)s s", seconds=t["window_seconds"]
    )


@conntest.command("list")
@json_option
def list_tests(as_json: bool) -> None:
    """Tests, newest first."""
    ctx = ctx_for(as_json)
    data = ctx.call("GET", "/v1/conntests")
    lines = [f"{t['id']:>4}  {t['state']:<9}  {_when_text(t)}  {_scope_text(t)}" for t in data["tests"]]
    ctx.show(data, "\n".join(lines) if lines else say("no connection tests yet"))


# --- status: the live view -------------------------------------------------------------------------


def _latency_text(lat: dict[str, Any]) -> str:
    if not lat.get("count"):
        return say("latency: no figures yet")
    return (
        f"latency p50 {lat['p50']} ms, p95 {lat['p95']} ms, p99 {lat['p99']} ms ({lat['count']:,} terminals)"
    )


def _status_renderable(s: dict[str, Any]) -> Any:
    from rich.console import Group, RenderableType
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskProgressColumn, TextColumn
    from rich.text import Text

    t = s["test"]
    bar = Progress(TextColumn("reported"), BarColumn(), MofNCompleteColumn(), TaskProgressColumn())
    bar.add_task("", total=max(s["expected"], 1), completed=s["reported"])
    lines: list[RenderableType] = [
        Text(f"connection test {t['id']} ({t['state']}): {_when_text(t)}, {_scope_text(t)}", style="bold"),
        bar,
        Text(
            f"ok {s['ok']:,}  failed {s['failed']:,}  late {s['late']:,}  missing {s['expected'] - s['reported']:,}"
        ),
        Text(_latency_text(s["latency_ms"])),
    ]
    if s["failures"]:
        lines.append(Text("failures by reason:"))
        lines += [Text(f"  {f['count']:>6,}  {f['check']}: {f['code']}") for f in s["failures"]]
    return Group(*lines)


def _status_text(s: dict[str, Any]) -> str:
    t = s["test"]
    done = s["reported"] * 100 // max(s["expected"], 1)
    lines = [
        f"connection test {t['id']} ({t['state']}): {_when_text(t)}, {_scope_text(t)}",
        f"reported {s['reported']:,} / {s['expected']:,} ({done} %): ok {s['ok']:,}, failed {s['failed']:,}, "
        f"late {s['late']:,}, missing {s['expected'] - s['reported']:,}",
        _latency_text(s["latency_ms"]),
    ]
    lines += [f"  {f['count']:>6,}  {f['check']}: {f['code']}" for f in s["failures"]]
    return "\n".join(lines)


@conntest.command("status")
@click.argument("test_id", type=click.IntRange(min=1), metavar="ID")
@click.option("--once", is_flag=True, help="Print the status once and exit (also when not on a terminal).")
@click.option(
    "--interval",
    default=1.0,
    show_default=True,
    type=click.FloatRange(0.2, 60),
    help="Seconds between refreshes.",
)
@json_option
def status(test_id: int, once: bool, interval: float, as_json: bool) -> None:
    """Progress of a test, refreshed in place until its window has closed (and late reports stop coming)."""
    ctx = ctx_for(as_json)
    path = f"/v1/conntests/{test_id}"
    s = ctx.call("GET", path)
    if once or ctx.as_json or not sys.stdout.isatty():
        ctx.show(s, _status_text(s))
        return
    _live(ctx, path, s, interval)


def _live(ctx: Ctx, path: str, s: dict[str, Any], interval: float) -> None:
    from rich.live import Live

    with Live(_status_renderable(s), refresh_per_second=4) as live:
        try:
            while s["test"]["state"] != "closed" or s["reported"] < s["expected"]:
                time.sleep(interval)
                s = ctx.call("GET", path)
                live.update(_status_renderable(s))
                if s["test"]["state"] == "closed" and not _arriving(s, path, ctx):
                    break
        except KeyboardInterrupt:
            return


def _arriving(s: dict[str, Any], path: str, ctx: Ctx) -> bool:
    """After the window, late reports may still come in; stop watching once a refresh brings none."""
    time.sleep(2)
    return int(ctx.call("GET", path)["reported"]) > int(s["reported"])


# --- report: afterwards ------------------------------------------------------------------------------

AREA_COLUMNS = [
    ("prefecture", N_("prefecture")),
    ("municipality", N_("code")),
    ("municipality_name", N_("municipality")),
    ("expected", N_("expected")),
    ("reported", N_("reported")),
    ("ok", N_("ok")),
    ("failed", N_("failed")),
    ("late", N_("late")),
    ("missing", N_("missing")),
]
TERMINAL_COLUMNS = (
    "problem",
    "prefecture",
    "municipality",
    "terminal_id",
    "name",
    "place",
    "place_name",
    "address",
    "check",
    "code",
    "detail",
)


def _terminal_rows(r: dict[str, Any]) -> list[dict[str, Any]]:
    """Every terminal someone has to look at: never reported (where it is), or failed (why)."""
    rows = [{"problem": "missing", **m} for m in r["missing"]]
    rows += [{"problem": "failed", "address": "", **f} for f in r["failed_terminals"]]
    return rows


@conntest.command("report")
@click.argument("test_id", type=click.IntRange(min=1), metavar="ID")
@click.option(
    "--csv", "as_csv", is_flag=True, help="CSV for a spreadsheet (per municipality; see --terminals)."
)
@click.option(
    "--terminals", is_flag=True, help="With --csv: one line per terminal that never reported or failed."
)
@json_option
def report(test_id: int, as_csv: bool, terminals: bool, as_json: bool) -> None:
    """Per prefecture and municipality; terminals that never reported (place and address); failures."""
    ctx = ctx_for(as_json)
    if terminals and not as_csv:
        fail(2, say("--terminals goes with --csv (the text and JSON reports list the terminals anyway)"))
    r = ctx.call("GET", f"/v1/conntests/{test_id}/report")
    if ctx.as_json:
        ctx.show(r, "")
        return
    if as_csv:
        if terminals:
            writer = csv.DictWriter(sys.stdout, fieldnames=TERMINAL_COLUMNS, extrasaction="ignore")
            writer.writeheader()
            writer.writerows(_terminal_rows(r))
        else:
            writer = csv.DictWriter(
                sys.stdout, fieldnames=[k for k, _ in AREA_COLUMNS], extrasaction="ignore"
            )
            writer.writeheader()
            writer.writerows(r["areas"])
        return
    click.echo(_status_text(r))
    click.echo("")
    table(AREA_COLUMNS, r["areas"], title="per municipality")
    if r["missing"]:
        click.echo("\n" + say("never reported (%(count)s):", count=f"{len(r['missing']):,}"))
        for m in r["missing"]:
            click.echo(f"  {m['terminal_id']}  {m['name']}  {m['place_name']} ({m['place']}), {m['address']}")
    if r["failed_terminals"]:
        click.echo("\n" + say("failed checks (%(count)s):", count=f"{len(r['failed_terminals']):,}"))
        for f in r["failed_terminals"]:
            late = " " + say("(late)") if f["late"] else ""
            click.echo(
                f"  {f['terminal_id']}  {f['name']}  {f['place_name']} ({f['place']}): "
                f"{f['check']}: {f['code']}: {f['detail']}{late}"
            )
