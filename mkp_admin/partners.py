"""`mkp-admin partner ...` and `mkp-admin points release-held`: partner companies and their points.

``partner add`` makes the partner's key pair here, on the operator's machine, and writes the
private key to a file only its owner can read (0600) for hand-over to the partner; the server
gets the public key only. A partner that made its own key pair gives ``--public-key FILE``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import click

from mkp_admin.base import (
    client_id_option,
    ctx_for,
    fail,
    json_option,
    path_part,
    request_body,
    table,
    when,
)
from mkp_core import signing
from mkp_core.cli_speech import say
from mkp_core.i18n import N_


@click.group()
def partner() -> None:
    """Partner companies: credentials, rates, coupon codes, premium campaigns, conversions on hold."""


def _rate(text: str | None) -> tuple[int, int] | None:
    """``500:100`` (500 partner points make 100 points) or ``1`` (1:1)."""
    if text is None:
        return None
    left, sep, right = text.partition(":")
    try:
        pair = (int(left), int(right) if sep else 1)
    except ValueError:
        pair = (0, 0)
    if pair[0] <= 0 or pair[1] <= 0:
        fail(
            2,
            say(
                "--rate is PARTNER:POINTS in whole numbers, e.g. 10000:10000 or 500:100; got %(text)s",
                text=repr(text),
            ),
        )
    return pair


def _public_key(partner_id: str, public_key: str | None, key_out: str | None) -> tuple[str, Path | None]:
    """The public key PEM to register, and the private key file made here (None: the partner's own)."""
    if public_key is not None:
        try:
            pem = Path(public_key).read_text(encoding="ascii")
            signing.load_public_key(pem)
        except (OSError, ValueError) as e:
            fail(2, say("%(file)s: not a P-256 public key (PEM): %(reason)s", file=public_key, reason=e))
        return pem, None
    target = Path(key_out or f"partner-{partner_id}.key")
    if target.exists():
        fail(
            2,
            say(
                "%(file)s exists already: give another --key-out (a partner's key is never overwritten)",
                file=target,
            ),
        )
    key = signing.generate_terminal_key()
    signing.save_private_key(key, target)
    return signing.public_key_pem(key).decode(), target


@partner.command("add")
@click.argument("partner_id")
@click.option("--name", required=True, help="The company's name, e.g. 全日本空輸.")
@click.option("--rate", help="PARTNER:POINTS, e.g. 500:100 (default 1:1).")
@click.option("--hold-days", type=click.IntRange(0, 365), help="Days converted points wait (default 14).")
@click.option("--public-key", help="The partner's own P-256 public key (PEM); else a key pair is made here.")
@click.option("--key-out", help="Where the private key made here goes (default partner-ID.key, 0600).")
@client_id_option
@json_option
def partner_add(
    partner_id: str,
    name: str,
    rate: str | None,
    hold_days: int | None,
    public_key: str | None,
    key_out: str | None,
    client_id: str | None,
    as_json: bool,
) -> None:
    """Register partner PARTNER_ID (2-8 of A-Z, 0-9) with its signing key."""
    ctx = ctx_for(as_json)
    pair = _rate(rate)
    pem, made = _public_key(partner_id, public_key, key_out)
    body = request_body(
        partner_id=partner_id,
        name=name,
        rate_from=pair[0] if pair else None,
        rate_to=pair[1] if pair else None,
        hold_days=hold_days,
        public_key=pem,
        client_id=client_id,
    )
    try:
        p = ctx.call("POST", "/v1/partners", body)
    except SystemExit:
        if made is not None:
            made.unlink(missing_ok=True)  # refused: a key for nothing is not left lying around
        raise
    extra = {"private_key_file": str(made)} if made else {}
    text = say(
        "added partner %(partner)s (%(name)s): %(rate_from)s -> %(rate_to)s points, held %(days)s days, "
        "key id %(key)s",
        partner=p["partner_id"],
        name=p["name"],
        rate_from=f"{p['rate_from']:,}",
        rate_to=f"{p['rate_to']:,}",
        days=p["hold_days"],
        key=p["key_id"],
    )
    if made:
        text += "\n" + say(
            "private key: %(file)s (0600): hand it to the partner, then delete it here", file=made
        )
    ctx.show({**p, **extra}, text)


@partner.command("list")
@json_option
def partner_list(as_json: bool) -> None:
    """Every partner, its rate, hold and key status."""
    ctx = ctx_for(as_json)
    data = ctx.call("GET", "/v1/partners")
    if ctx.as_json:
        ctx.show(data, "")
        return
    rows = [{**p, "rate": f"{p['rate_from']}:{p['rate_to']}"} for p in data["partners"]]
    table(
        [
            ("partner_id", N_("partner")),
            ("name", N_("name")),
            ("rate", N_("rate")),
            ("hold_days", N_("hold days")),
            ("status", N_("status")),
        ],
        rows,
    )


@partner.command("revoke")
@click.argument("partner_id")
@client_id_option
@json_option
def partner_revoke(partner_id: str, client_id: str | None, as_json: bool) -> None:
    """Revoke the partner's key at once."""
    ctx = ctx_for(as_json)
    p = ctx.call("POST", f"/v1/partners/{path_part(partner_id)}/revoke", request_body(client_id=client_id))
    ctx.show(
        p, say("revoked partner %(partner)s: its requests are refused from now on", partner=p["partner_id"])
    )


def _write_private(path: Path, text: str) -> None:
    """Codes are bearer values: the file is the owner's alone (0600), never overwritten."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)


@partner.command("coupons")
@click.argument("partner_id")
@click.option("--count", required=True, type=click.IntRange(1, 100_000), help="How many codes.")
@click.option("--points", required=True, type=click.IntRange(min=1), help="Points each code is worth.")
@click.option("--expires", help="Last valid moment: YYYY-MM-DD (its start in JST) or an ISO time.")
@click.option("--out", "out", help="Write the codes to this file (0600; default: stdout).")
@client_id_option
@json_option
def partner_coupons(
    partner_id: str,
    count: int,
    points: int,
    expires: str | None,
    out: str | None,
    client_id: str | None,
    as_json: bool,
) -> None:
    """A batch of single-use coupon codes for PARTNER_ID (shown once: keep them)."""
    ctx = ctx_for(as_json)
    if out and Path(out).exists():
        fail(2, say("%(file)s exists already", file=out))
    body = request_body(count=count, points=points, expires_at=expires, client_id=client_id)
    batch = ctx.call("POST", f"/v1/partners/{path_part(partner_id)}/coupons", body)
    codes = batch.get("codes") or []
    head = say(
        "batch %(batch)s: %(count)s codes of %(points)s points, until %(until)s",
        batch=batch["batch_id"],
        count=f"{batch['count']:,}",
        points=f"{batch['points']:,}",
        until=when(batch["expires_at"]),
    )
    if out:
        _write_private(Path(out), "".join(c + "\n" for c in codes))
        ctx.show(
            {**batch, "codes": None, "file": out},
            head + "\n" + say("codes written to %(file)s (0600)", file=out),
        )
    elif not codes:
        ctx.show(batch, head + "\n" + say("(a retry: the codes were shown once, in the first answer)"))
    else:
        ctx.show(batch, head + "\n" + "\n".join(codes))


@partner.command("cancel-batch")
@click.argument("batch_id", type=int)
@client_id_option
@json_option
def cancel_batch(batch_id: int, client_id: str | None, as_json: bool) -> None:
    """Cancel every code of a batch not redeemed yet."""
    ctx = ctx_for(as_json)
    b = ctx.call("POST", f"/v1/coupon-batches/{batch_id}/cancel", request_body(client_id=client_id))
    ctx.show(
        b,
        say(
            "cancelled batch %(batch)s (%(count)s codes; redeemed ones stay redeemed)",
            batch=b["batch_id"],
            count=f"{b['count']:,}",
        ),
    )


@partner.command("cancel-code")
@click.argument("code")
@client_id_option
@json_option
def cancel_code(code: str, client_id: str | None, as_json: bool) -> None:
    """Cancel one coupon code (lost or stolen)."""
    ctx = ctx_for(as_json)
    r = ctx.call("POST", "/v1/coupons/cancel", request_body(code=code, client_id=client_id))
    ctx.show(r, say("cancelled"))


@partner.command("campaign")
@click.argument("partner_id")
@click.option("--name", required=True)
@click.option("--percent", type=click.IntRange(1, 1000), help="Bonus: this % of the converted points.")
@click.option("--fixed", type=click.IntRange(min=1), help="Bonus: so many points a conversion.")
@click.option("--from", "starts_at", required=True, help="Start: YYYY-MM-DD (JST) or an ISO time.")
@click.option("--to", "ends_at", required=True, help="End (not included).")
@click.option("--budget", required=True, type=click.IntRange(min=1), help="Total bonus points.")
@click.option(
    "--cap", "cap_per_holder", type=click.IntRange(min=1), help="Most bonus points one holder gets."
)
@click.option("--funded-by", type=click.Choice(["partner", "municipality"]), default="partner")
@click.option("--municipality", help="The funding municipality (its points only).")
@client_id_option
@json_option
def campaign(partner_id: str, client_id: str | None, as_json: bool, **terms: Any) -> None:
    """Start a premium campaign on PARTNER_ID's conversions."""
    ctx = ctx_for(as_json)
    c = ctx.call(
        "POST", f"/v1/partners/{path_part(partner_id)}/campaigns", request_body(client_id=client_id, **terms)
    )
    bonus = (
        f"+{c['percent']}%"
        if c["percent"] is not None
        else say("+%(points)s points", points=f"{c['fixed']:,}")
    )
    ctx.show(
        c,
        say(
            "campaign %(id)s %(name)s: %(bonus)s, budget %(budget)s, funded by %(funded_by)s",
            id=c["campaign_id"],
            name=c["name"],
            bonus=bonus,
            budget=f"{c['budget']:,}",
            funded_by=c["funded_by"],
        ),
    )


@partner.command("campaigns")
@click.argument("partner_id")
@json_option
def campaigns(partner_id: str, as_json: bool) -> None:
    """PARTNER_ID's premium campaigns and their budgets."""
    ctx = ctx_for(as_json)
    data = ctx.call("GET", f"/v1/partners/{path_part(partner_id)}/campaigns")
    if ctx.as_json:
        ctx.show(data, "")
        return
    table(
        [
            ("campaign_id", N_("id")),
            ("name", N_("name")),
            ("budget", N_("budget")),
            ("used", N_("used")),
            ("status", N_("status")),
        ],
        data["campaigns"],
    )


@partner.command("conversions")
@click.argument("mykey_id")
@json_option
def conversions(mykey_id: str, as_json: bool) -> None:
    """MYKEY_ID's conversions on hold and the day each is due."""
    ctx = ctx_for(as_json)
    data = ctx.call("GET", f"/v1/mykeys/{path_part(mykey_id)}/conversions")
    lines = [
        say(
            "%(mykey_id)s: %(count)s conversions on hold",
            mykey_id=data["mykey_id"],
            count=len(data["conversions"]),
        )
    ]
    lines += [
        f"  {c['partner']:<8} {c['points'] + c['premium']:>10,} {c['point_code']:<18} "
        + say("due %(when)s", when=when(c["due_at"]))
        for c in data["conversions"]
    ]
    ctx.show(data, "\n".join(lines))


@click.command("release-held")
@click.option("--as-of", required=True, help="Release what is due by then: YYYY-MM-DD (JST) or an ISO time.")
@client_id_option
@json_option
def release_held(as_of: str, client_id: str | None, as_json: bool) -> None:
    """Move converted points whose hold has ended to the holders' wallets (again: moves nothing;
    a future --as-of is refused; a conversion that cannot be booked stays on hold, listed)."""
    ctx = ctx_for(as_json)
    r = ctx.call("POST", "/v1/points/release-held", request_body(as_of=as_of, client_id=client_id))
    lines = [
        say(
            "released %(points)s points of %(conversions)s conversions to %(holders)s holders",
            points=f"{r['points']:,}",
            conversions=f"{r['conversions']:,}",
            holders=f"{r['holders']:,}",
        )
    ]
    lines += [
        "  "
        + say(
            "conversion %(id)s (%(points)s points) stays on hold: %(code)s: %(message)s",
            id=f["conversion_id"],
            points=f"{f['points']:,}",
            code=f["code"],
            message=f["message"],
        )
        for f in r.get("refused") or []
    ]
    ctx.show(r, "\n".join(lines))
