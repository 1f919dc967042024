"""`mkp-admin municipality | point-code | grant | spend | reverse | balance | ledger`: points."""

from __future__ import annotations

import click

from server.admin.base import (
    amount_option,
    client_id_option,
    ctx_for,
    fail,
    json_option,
    path_part,
    request_body,
)


@click.group()
def municipality() -> None:
    """Municipalities on the platform."""


@municipality.command("add")
@click.argument("code")
@json_option
def municipality_add(code: str, as_json: bool) -> None:
    """Add a municipality by its 6-digit code (check digit verified, name from MIC's list)."""
    ctx = ctx_for(as_json)
    m = ctx.call("POST", "/v1/municipalities", {"code": code})
    ctx.show(m, f"added {m['code']} {m['prefecture']} {m['name']} (point code {m['point_code']})")


@municipality.command("list")
@json_option
def municipality_list(as_json: bool) -> None:
    """List municipalities."""
    ctx = ctx_for(as_json)
    data = ctx.call("GET", "/v1/municipalities")
    lines = [f"{m['code']}  {m['prefecture']} {m['name']}" for m in data["municipalities"]]
    ctx.show(data, "\n".join(lines) if lines else "no municipalities yet")


@click.command()
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
    ctx = ctx_for(as_json)
    body = request_body(
        municipality=municipality,
        holder=holder,
        amount=amount,
        point_code=point_code,
        memo=memo,
        client_id=client_id,
    )
    t = ctx.call("POST", "/v1/grants", body)
    ctx.show(t, f"transfer {t['id']}: granted {t['amount']} {t['point_code']} points to {holder}")


@click.command()
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
    ctx = ctx_for(as_json)
    body = request_body(
        holder=holder, payee=payee, point_code=point_code, amount=amount, memo=memo, client_id=client_id
    )
    t = ctx.call("POST", "/v1/spends", body)
    ctx.show(t, f"transfer {t['id']}: {holder} spent {t['amount']} {t['point_code']} points at {payee}")


@click.command()
@click.argument("transfer_id", type=click.IntRange(min=1))
@click.option("--memo")
@client_id_option
@json_option
def reverse(transfer_id: int, memo: str | None, client_id: str | None, as_json: bool) -> None:
    """Undo a transfer with an opposite one."""
    ctx = ctx_for(as_json)
    t = ctx.call("POST", f"/v1/transfers/{transfer_id}/reverse", request_body(memo=memo, client_id=client_id))
    ctx.show(
        t, f"transfer {t['id']} reverses {transfer_id}: {t['amount']} {t['point_code']} back to {t['credit']}"
    )


@click.command()
@click.argument("holder")
@json_option
def balance(holder: str, as_json: bool) -> None:
    """A holder's balance per point code."""
    ctx = ctx_for(as_json)
    data = ctx.call("GET", f"/v1/holders/{holder}/balances")
    lines = [f"{b['point_code']}  {b['balance']:>12,}" for b in data["balances"]]
    ctx.show(data, "\n".join(lines) if lines else f"{holder} holds no points")


@click.group()
def ledger() -> None:
    """Ledger checks."""


@ledger.command("verify")
@json_option
def ledger_verify(as_json: bool) -> None:
    """Check every ledger invariant; exit 1 with the first breach."""
    ctx = ctx_for(as_json)
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


@click.group("point-code")
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
    ctx = ctx_for(as_json)
    pc = ctx.call(
        "POST",
        f"/v1/municipalities/{path_part(municipality)}/point-codes",
        request_body(suffix=suffix, name=name, client_id=client_id),
    )
    ctx.show(pc, f"added point code {pc['code']} ({pc['name']})")


@point_code.command("list")
@click.argument("municipality")
@json_option
def point_code_list(municipality: str, as_json: bool) -> None:
    """A municipality's point codes."""
    ctx = ctx_for(as_json)
    data = ctx.call("GET", f"/v1/municipalities/{path_part(municipality)}/point-codes")
    ctx.show(data, "\n".join(f"{p['code']:<24} {p['kind']:<8} {p['name']}" for p in data["point_codes"]))
