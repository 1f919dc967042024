"""`mkp-admin department | grant | report`: departments and budgets, grants (one, or a CSV file),
and the 業務支援 report per department and grant kind."""

from __future__ import annotations

import base64
import csv
import sys
from pathlib import Path
from typing import Any, NoReturn

import click

from mkp_admin.base import (
    Ctx,
    client_id_option,
    ctx_for,
    fail,
    json_option,
    on_terminal,
    path_part,
    request_body,
    table,
    when,
)
from mkp_core import cli_speech
from mkp_core.cli_speech import say
from mkp_core.client import ApiError, Unreachable
from mkp_core.grant_file import GrantFile, read_grant_file
from mkp_core.i18n import N_


@click.group()
def department() -> None:
    """Departments (原課): their budgets and the kinds of grant they give."""


def _department_text(d: dict[str, Any]) -> str:
    kinds = ", ".join(
        k["code"] + (f" (at most {k['max_amount']:,})" if k["max_amount"] else "") for k in d["grant_kinds"]
    )
    return (
        f"{d['id']} {d['name']}: budget {d['budget']:,} {d['point_code']} points, granted {d['granted']:,}, "
        f"left {d['left']:,}; grant kinds: {kinds or 'none yet'}"
    )


@department.command("add")
@click.argument("municipality")
@click.argument("code")
@click.option("--name", required=True, help="e.g. 子育て支援課.")
@click.option("--budget", required=True, type=click.IntRange(min=0), help="Points it may grant.")
@click.option("--point-code", help="Which points it grants (default the municipality's general code).")
@client_id_option
@json_option
def department_add(
    municipality: str,
    code: str,
    name: str,
    budget: int,
    point_code: str | None,
    client_id: str | None,
    as_json: bool,
) -> None:
    """Add department MUNICIPALITY-CODE (CODE: a-z, 0-9, '-', e.g. kosodate)."""
    ctx = ctx_for(as_json)
    body = request_body(code=code, name=name, budget=budget, point_code=point_code, client_id=client_id)
    d = ctx.call("POST", f"/v1/municipalities/{path_part(municipality)}/departments", body)
    ctx.show(d, f"added {_department_text(d)}")


@department.command("list")
@click.argument("municipality")
@json_option
def department_list(municipality: str, as_json: bool) -> None:
    """A municipality's departments."""
    ctx = ctx_for(as_json)
    data = ctx.call("GET", f"/v1/municipalities/{path_part(municipality)}/departments")
    ctx.show(data, "\n".join(_department_text(d) for d in data["departments"]) or "no departments yet")


@department.command("show")
@click.argument("department_id", metavar="DEPARTMENT")
@json_option
def department_show(department_id: str, as_json: bool) -> None:
    """One department: budget, granted, left, grant kinds."""
    ctx = ctx_for(as_json)
    d = ctx.call("GET", f"/v1/departments/{path_part(department_id, 'a department')}")
    ctx.show(d, _department_text(d))


@department.command("budget")
@click.argument("department_id", metavar="DEPARTMENT")
@click.option("--budget", required=True, type=click.IntRange(min=0))
@client_id_option
@json_option
def department_budget(department_id: str, budget: int, client_id: str | None, as_json: bool) -> None:
    """Give a department a new budget (never below what it granted already)."""
    ctx = ctx_for(as_json)
    d = ctx.call(
        "POST",
        f"/v1/departments/{path_part(department_id, 'a department')}/budget",
        request_body(budget=budget, client_id=client_id),
    )
    ctx.show(d, _department_text(d))


@department.command("grant-kind")
@click.argument("department_id", metavar="DEPARTMENT")
@click.argument("code")
@click.option("--name", required=True, help="e.g. 子育てボランティア.")
@click.option("--max", "max_amount", type=click.IntRange(min=1), help="The most one grant may give.")
@client_id_option
@json_option
def department_grant_kind(
    department_id: str, code: str, name: str, max_amount: int | None, client_id: str | None, as_json: bool
) -> None:
    """Add a grant kind CODE (a-z, 0-9, '-', e.g. volunteer) to a department."""
    ctx = ctx_for(as_json)
    d = ctx.call(
        "POST",
        f"/v1/departments/{path_part(department_id, 'a department')}/grant-kinds",
        request_body(code=code, name=name, max_amount=max_amount, client_id=client_id),
    )
    ctx.show(d, _department_text(d))


# --- grants ------------------------------------------------------------------------------------


@click.command()
@click.option("--department", "department_id", required=True, help="e.g. 142018-kosodate.")
@click.option("--mykey", "mykey_id", help="The holder's MyKey ID (one grant).")
@click.option("--amount", type=click.IntRange(min=1), help="Points (one grant).")
@click.option("--kind", "grant_kind", help="The grant kind, e.g. volunteer (one grant).")
@click.option("--memo")
@click.option(
    "--csv",
    "csv_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A file of grants.",
)
@click.option(
    "--dry-run", is_flag=True, help="With --csv: check the file and show the totals; grant nothing."
)
@client_id_option
@json_option
def grant(
    department_id: str,
    mykey_id: str | None,
    amount: int | None,
    grant_kind: str | None,
    memo: str | None,
    csv_file: Path | None,
    dry_run: bool,
    client_id: str | None,
    as_json: bool,
) -> None:
    """Grant points from a department's budget: to one holder, or to every row of a CSV file.

    The file (UTF-8 or Shift_JIS) has the columns municipality, mykey_id, amount, grant_kind and
    optionally memo. It is checked whole first: every bad row is listed and nothing is granted.
    Running the same file again changes nothing."""
    ctx = ctx_for(as_json)
    if csv_file is not None:
        if mykey_id or amount or grant_kind or memo:
            fail(
                2,
                say(
                    "--csv takes the holders, amounts and kinds from the file: drop --mykey, --amount, --kind, --memo"
                ),
            )
        _grant_file(ctx, department_id, csv_file, dry_run, client_id)
        return
    if dry_run:
        fail(2, say("--dry-run goes with --csv"))
    if not (mykey_id and amount and grant_kind):
        fail(2, say("one grant needs --mykey, --amount and --kind (or give a --csv file)"))
    body = request_body(
        department=department_id,
        mykey_id=mykey_id,
        amount=amount,
        grant_kind=grant_kind,
        memo=memo,
        client_id=client_id,
    )
    t = ctx.call("POST", "/v1/grants", body)
    until = say(", valid until %(time)s", time=when(t["expires_at"])) if t.get("expires_at") else ""
    ctx.show(
        t,
        say(
            "transfer %(id)s: granted %(amount)s %(point_code)s points to %(mykey_id)s",
            id=t["id"],
            amount=t["amount"],
            point_code=t["point_code"],
            mykey_id=t["mykey_id"],
        )
        + until,
    )


def _every_problem(ctx: Ctx, department_id: str, path: Path, data: bytes, found: GrantFile) -> NoReturn:
    """A file with problems here: the server's dry run lists them with the data's (unknown MyKey
    IDs, grant kinds, the budget), every bad row at once; offline, the ones found here."""
    check = request_body(
        department=department_id, file=base64.b64encode(data).decode(), filename=path.name, dry_run=True
    )
    try:
        ctx.client().post("/v1/grant-batches", check)
    except ApiError as e:
        rows = [d for d in e.details or [] if "line" in d]
        if rows:
            if not ctx.as_json:
                for d in rows:
                    where = say("line %(line)s", line=d["line"])
                    click.echo(f"  {where}: {d.get('code')}: {d.get('message')}", err=True)
            cli_speech.fail_with(1, e)
    except Unreachable:
        pass  # offline: what this machine found
    if not ctx.as_json:  # under --json the problems are the error's details
        for p in found.problems:
            where = say("line %(line)s", line=p["line"])
            click.echo(f"  {where}: {p['code']}: {p['message']}", err=True)
    first = found.problems[0]
    cli_speech.fail(
        1,
        say(
            "%(file)s: line %(line)s: %(message)s (%(count)s problems; nothing was granted)",
            file=path.name,
            line=first["line"],
            message=first["message"],
            count=found.problem_count,
        ),
        "invalid_file",
        found.problems,
    )


def _grant_file(ctx: Ctx, department_id: str, path: Path, dry_run: bool, client_id: str | None) -> None:
    """Check the file here (with a progress bar), then have the server check and apply it."""
    data = path.read_bytes()
    found = _read_with_progress(data, show=on_terminal() and not ctx.as_json)
    if found.problem_count:
        _every_problem(ctx, department_id, path, data, found)
    body = request_body(
        department=department_id,
        file=base64.b64encode(data).decode(),
        filename=path.name,
        dry_run=dry_run,
        client_id=client_id,
    )
    if on_terminal() and not ctx.as_json:
        from rich.console import Console

        what = "checking" if dry_run else "checking and applying"
        with Console(stderr=True).status(f"{what} {len(found.rows):,} rows on the server"):
            summary = ctx.call("POST", "/v1/grant-batches", body)
    else:
        summary = ctx.call("POST", "/v1/grant-batches", body)
    ctx.show(summary, _batch_text(path.name, summary))


def _read_with_progress(data: bytes, show: bool) -> GrantFile:
    if not show:
        return read_grant_file(data)
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    total = max(data.count(b"\n") - 1, 1)
    with Progress(
        TextColumn("reading"), BarColumn(), MofNCompleteColumn(), console=Console(stderr=True), transient=True
    ) as bar:
        task = bar.add_task("rows", total=total)
        found = read_grant_file(data, progress=lambda rows: bar.update(task, completed=rows))
        bar.update(task, completed=total)
    return found


def _batch_text(name: str, s: dict[str, Any]) -> str:
    if s["already_applied"]:
        return say(
            "%(file)s was applied already on %(time)s (batch %(batch)s): nothing changed "
            "(%(rows)s rows, %(points)s points)",
            file=name,
            time=when(s["applied_at"]),
            batch=s["batch_id"],
            rows=f"{s['rows']:,}",
            points=f"{s['points']:,}",
        )
    head = say("dry run") if not s["applied"] else say("applied (batch %(batch)s)", batch=s["batch_id"])
    lines = [
        head
        + ": "
        + say(
            "%(rows)s rows, %(holders)s holders, %(points)s %(point_code)s points from %(department)s; "
            "budget left %(before)s -> %(after)s",
            rows=f"{s['rows']:,}",
            holders=f"{s['holders']:,}",
            points=f"{s['points']:,}",
            point_code=s["point_code"],
            department=s["department"],
            before=f"{s['budget_left_before']:,}",
            after=f"{s['budget_left_after']:,}",
        )
    ]
    lines += [
        f"  {k['grant_kind']:<16} {k['rows']:>8,} rows {k['points']:>12,} points  {k['name']}"
        for k in s["by_kind"]
    ]
    if s.get("expires_at"):
        lines.append("  " + say("the points expire at %(time)s", time=when(s["expires_at"])))
    if not s["applied"]:
        lines.append(say("nothing was granted (run again without --dry-run to apply)"))
    return "\n".join(lines)


# --- reports -----------------------------------------------------------------------------------


@click.group()
def report() -> None:
    """Reports for the municipality's departments (業務支援)."""


REPORT_COLUMNS = [
    ("department", N_("department")),
    ("department_name", N_("name")),
    ("grant_kind", N_("grant kind")),
    ("grant_kind_name", N_("kind name")),
    ("grants", N_("grants")),
    ("holders", N_("holders")),
    ("points", N_("points")),
    ("reversed", N_("reversed")),
    ("net", N_("net")),
]


@report.command("grants")
@click.option("--municipality", required=True)
@click.option("--from", "from_date", required=True, help="First day, YYYY-MM-DD (JST).")
@click.option("--to", "to_date", required=True, help="Last day, YYYY-MM-DD (JST), included.")
@click.option("--department", "department_id", help="Only this department.")
@click.option("--csv", "as_csv", is_flag=True, help="CSV (UTF-8 with a BOM, for spreadsheets) on stdout.")
@json_option
def report_grants(
    municipality: str, from_date: str, to_date: str, department_id: str | None, as_csv: bool, as_json: bool
) -> None:
    """Grants per department and grant kind over a period: a table, --json or --csv."""
    from urllib.parse import urlencode

    ctx = ctx_for(as_json)
    query = {"municipality": municipality, "from_date": from_date, "to_date": to_date}
    if department_id:
        query["department"] = department_id
    data = ctx.call("GET", f"/v1/reports/grants?{urlencode(query)}")
    if ctx.as_json:
        ctx.show(data, "")
    elif as_csv:
        out = csv.writer(sys.stdout, lineterminator="\r\n")
        sys.stdout.write("\ufeff")
        out.writerow([heading for _, heading in REPORT_COLUMNS])
        out.writerows([row[key] for key, _ in REPORT_COLUMNS] for row in data["rows"])
    else:
        total = {**data["total"], "department": "total", "holders": None}
        table(
            REPORT_COLUMNS, [*data["rows"], total], title=f"grants {data['from_date']} .. {data['to_date']}"
        )
