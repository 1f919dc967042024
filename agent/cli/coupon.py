"""`mkp-agent coupon redeem CODE | pending` and `mkp-agent partner link | home`: partner points
with the card in the reader (at home with ``--server``, or at a kiosk with ``--home DIR``).

A code is checked here first: a typo (its check character does not fit) is refused before the
card is asked for its PIN, and before the server counts it as a wrong try."""

from __future__ import annotations

from datetime import datetime
from functools import partial
from typing import Any

import click

from agent.cli.mykey import HolderOptions, _with_card, holder_command
from agent.partner_points import PartnerPoints
from mkp_core import coupon as codec
from mkp_core import dates
from mkp_core.errors import MkpError


@click.group()
def coupon() -> None:
    """Partner coupon codes: redeem one, see what waits on hold."""


@click.group()
def partner() -> None:
    """Partner points: link your member number, set your home municipality."""


def _conversion_text(r: dict[str, Any]) -> str:
    premium = f" + {r['premium']:,} premium" if r.get("premium") else ""
    return f"{r['points']:,}{premium} points of {r['point_code']} on hold until {dates.jst_date(datetime.fromisoformat(r['due_at']))}"


def _checked_code(o: HolderOptions, code: str) -> str:
    try:
        plain = codec.normalise(code)
    except codec.CouponFormatError as e:
        o.fail(MkpError("invalid_coupon_code", str(e)))
    if not codec.check_ok(plain):
        o.fail(MkpError("coupon_typo", "this code has a typo: a character mistyped or two swapped; check it"))
    return codec.pretty(plain)


@click.argument("code")
@click.option("--destination", help="A municipality or event point code (default: your home municipality).")
@partial(holder_command, group=coupon)
def redeem(o: HolderOptions, code: str, destination: str | None) -> None:
    """Redeem coupon CODE (XXXX-XXXX-XXXX-XXXX-C) into your points."""
    typed = _checked_code(o, code)
    _with_card(
        o, lambda api, card: PartnerPoints(api.api).redeem_coupon(card, typed, destination), _conversion_text
    )


@partial(holder_command, group=coupon)
def pending(o: HolderOptions) -> None:
    """Your conversions on hold and the day each reaches your wallet."""

    def text(r: dict[str, Any]) -> str:
        lines = [f"MyKey ID {r['mykey_id']}: {len(r['conversions'])} on hold"]
        return "\n".join(lines + ["  " + _conversion_text(c) for c in r["conversions"]])

    _with_card(o, lambda api, card: PartnerPoints(api.api).pending(card), text)


def _link_text(r: dict[str, Any]) -> str:
    if r["status"] == "active" or not r.get("link_code"):
        return f"linked {r['partner']}: {r['member']} ({r['status']})"
    until = datetime.fromisoformat(r["code_expires_at"]).astimezone(dates.JST)
    return (
        f"asked to link {r['partner']}: {r['member']} (pending)\n"
        f"your link code: {r['link_code']} (valid until {until:%Y-%m-%d %H:%M} JST)\n"
        f"enter it in {r['partner']}'s own site or app to confirm the link; it is shown only now "
        "(lost: ask again for a new one)"
    )


@click.argument("member")
@click.argument("partner_id")
@partial(holder_command, group=partner)
def link(o: HolderOptions, partner_id: str, member: str) -> None:
    """Link your member number MEMBER at PARTNER_ID: you get a one-time link code, which you enter in
    the partner's own site or app, and the partner confirms the link with it."""
    _with_card(
        o, lambda api, card: PartnerPoints(api.api).link_partner(card, partner_id.upper(), member), _link_text
    )


@click.argument("municipality", required=False)
@partial(holder_command, group=partner)
def home(o: HolderOptions, municipality: str | None) -> None:
    """Set your home municipality (6-digit code; none: clear it)."""
    _with_card(
        o,
        lambda api, card: PartnerPoints(api.api).set_home(card, municipality),
        lambda r: f"home municipality: {r['home_municipality'] or '(none)'}",
    )
