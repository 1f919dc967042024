"""`mkp-admin municipality | point-code | spend | refund | reverse | balance | points | ledger`: points."""

from __future__ import annotations

import click

from mkp_admin.base import (
    client_id_option,
    ctx_for,
    fail,
    json_option,
    path_part,
    reason_option,
    request_body,
)
from mkp_core.cli_speech import say


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
    ctx.show(
        m,
        say(
            "added %(code)s %(prefecture)s %(name)s (point code %(point_code)s)",
            code=m["code"],
            prefecture=m["prefecture"],
            name=m["name"],
            point_code=m["point_code"],
        ),
    )


@municipality.command("list")
@json_option
def municipality_list(as_json: bool) -> None:
    """List municipalities."""
    ctx = ctx_for(as_json)
    data = ctx.call("GET", "/v1/municipalities")
    lines = [f"{m['code']}  {m['prefecture']} {m['name']}" for m in data["municipalities"]]
    ctx.show(data, "\n".join(lines) if lines else say("no municipalities yet"))


@click.command()
@click.option("--mykey", "mykey_id", required=True, help="The holder's MyKey ID.")
@click.option("--place", required=True, help="Place ID where the points are spent.")
@click.option("--amount", type=click.IntRange(min=1), help="Points, a whole number (or --item).")
@click.option("--item", help="An item of the place's price list (its price is the amount).")
@click.option("--quantity", type=click.IntRange(1, 100), help="How many of --item (default 1).")
@click.option("--point-code", help="Which points (default: the holder's valid here that expire first).")
@click.option("--memo")
@reason_option
@client_id_option
@json_option
def spend(
    mykey_id: str,
    place: str,
    amount: int | None,
    item: str | None,
    quantity: int | None,
    point_code: str | None,
    memo: str | None,
    reason: str,
    client_id: str | None,
    as_json: bool,
) -> None:
    """A correction: spend a resident's points at a place for them (as its code's rules allow).

    Only the central operator, with --reason (a damaged card, a paper form signed at the town
    hall); residents spend with their card at the place's terminal."""
    ctx = ctx_for(as_json)
    body = request_body(
        mykey_id=mykey_id,
        place=place,
        amount=amount,
        item=item,
        quantity=quantity,
        point_code=point_code,
        memo=memo,
        reason=reason,
        client_id=client_id,
    )
    t = ctx.call("POST", "/v1/spends", body)
    taken = ", ".join(
        say(
            "%(amount)s valid until %(last_day)s", amount=m["amount"], last_day=m["last_day"] or say("no end")
        )
        for m in t["lots"]
    )
    ctx.show(
        t,
        say(
            "transfer %(id)s: %(mykey_id)s spent %(amount)s %(point_code)s points at %(place)s (%(lots)s)",
            id=t["id"],
            mykey_id=t["mykey_id"],
            amount=t["amount"],
            point_code=t["point_code"],
            place=t["place_name"],
            lots=taken,
        ),
    )


@click.command()
@click.argument("transfer_id", type=click.IntRange(min=1))
@click.option("--memo")
@client_id_option
@json_option
def refund(transfer_id: int, memo: str | None, client_id: str | None, as_json: bool) -> None:
    """Refund a spend (within the refund period): the points go back to the lots they came from."""
    ctx = ctx_for(as_json)
    t = ctx.call("POST", f"/v1/spends/{transfer_id}/refund", request_body(memo=memo, client_id=client_id))
    ctx.show(
        t,
        say(
            "transfer %(id)s refunds %(refunded)s: %(amount)s %(point_code)s points back to %(mykey_id)s",
            id=t["id"],
            refunded=transfer_id,
            amount=t["amount"],
            point_code=t["point_code"],
            mykey_id=t["mykey_id"],
        ),
    )


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
        t,
        say(
            "transfer %(id)s reverses %(reversed)s: %(amount)s %(point_code)s back to %(credit)s",
            id=t["id"],
            reversed=transfer_id,
            amount=t["amount"],
            point_code=t["point_code"],
            credit=t["credit"],
        ),
    )


@click.command()
@click.argument("mykey_id", metavar="MYKEY_ID")
@json_option
def balance(mykey_id: str, as_json: bool) -> None:
    """A MyKey holder's points per code: balance, spendable now, expired, what expires next."""
    ctx = ctx_for(as_json)
    data = ctx.call("GET", f"/v1/mykeys/{path_part(mykey_id, 'a MyKey ID')}/balances")
    lines = []
    for b in data["balances"]:
        line = f"{b['point_code']:<18} {b['balance']:>10,}  " + say(
            "spendable %(n)s", n=f"{b['spendable']:,}"
        )
        if b["expired"]:
            line += say(", expired %(n)s", n=f"{b['expired']:,}")
        nxt = b.get("next_expiry")
        if nxt:
            line += say("; %(n)s expire after %(day)s", n=f"{nxt['amount']:,}", day=nxt["last_day"])
        lines.append(line + f"  ({b['name']})")
    ctx.show(
        data, "\n".join(lines) if lines else say("%(mykey_id)s holds no points", mykey_id=data["mykey_id"])
    )


@click.group()
def points() -> None:
    """The points themselves: the expiry sweep."""


@points.command("expire")
@click.option(
    "--as-of", "as_of", required=True, help="YYYY-MM-DD (its start in Japan) or an ISO time: not the future."
)
@click.option("--municipality", help="Only this municipality's point codes (a scoped token: its own).")
@client_id_option
@json_option
def points_expire(as_of: str, municipality: str | None, client_id: str | None, as_json: bool) -> None:
    """Move every point expired by --as-of to its municipality's breakage account; a report.

    Safe to run again: what was swept once is not swept twice."""
    ctx = ctx_for(as_json)
    body = request_body(as_of=as_of, municipality=municipality, client_id=client_id)
    r = ctx.call("POST", "/v1/points/expire", body)
    lines = [
        f"expired as of {r['as_of']}: {r['points']:,} points in {r['lots']:,} lots of {r['holders']:,} holders"
    ]
    lines += [
        f"  {c['point_code']:<18} {c['points']:>10,} points, {c['lots']:,} lots -> {c['breakage_account']}"
        for c in r["point_codes"]
    ]
    # --- paper vouchers: unused ones past their date, back to the municipality ---
    lines += [
        f"  {v['point_code']:<18} {v['points']:>10,} points, {v['vouchers']:,} unused vouchers -> {v['returned_to']}"
        for v in r.get("vouchers", [])
    ]
    ctx.show(r, "\n".join(lines))


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
            say(
                "ledger ok: %(transfers)s transfers, %(accounts)s accounts, %(codes)s point codes, %(lots)s lots",
                transfers=report["transfers"],
                accounts=report["accounts"],
                codes=report["point_codes"],
                lots=report.get("lots", 0),
            ),
        )
        return
    first = report["breaches"][0]
    if ctx.as_json:
        ctx.show(report, "")
    fail(
        1,
        f"ledger breach: {first['code']}: {first['message']} ({len(report['breaches'])} in all)",
        "ledger_breach",
        shown=True,
    )


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
    ctx.show(pc, say("added point code %(code)s (%(name)s)", code=pc["code"], name=pc["name"]))


@point_code.command("list")
@click.argument("municipality")
@json_option
def point_code_list(municipality: str, as_json: bool) -> None:
    """A municipality's point codes."""
    ctx = ctx_for(as_json)
    data = ctx.call("GET", f"/v1/municipalities/{path_part(municipality)}/point-codes")
    ctx.show(data, "\n".join(f"{p['code']:<24} {p['kind']:<8} {p['name']}" for p in data["point_codes"]))
