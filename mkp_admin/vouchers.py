"""`mkp-admin voucher issue | printed | void | reprint | show | phone-link | key`: paper point vouchers.

``issue`` asks the server for the vouchers (state ``issued``), prints them here through
``drivers/printer`` (a receipt printer by profile, or a PDF for a print shop), then tells the
server which were printed and voids the rest: a print that fails (paper out, offline, a full
disk) leaves nothing valid unprinted, and the points of what did not come out go back. What
came out is never voided: if the server does not hear "printed", the serials are listed (exit 1)
to confirm with ``printed SERIAL...``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from mkp_admin.base import Ctx, client_id_option, ctx_for, fail, json_option, path_part, request_body, when
from mkp_core import cli_speech
from mkp_core.cli_speech import say

DEFAULT_PROFILE = "epson-tm-t88vi"


@click.group()
def voucher() -> None:
    """Paper point vouchers: issue and print, void, reprint, phone links, voucher keys."""


@dataclass
class Output:
    """Where vouchers are printed: a receipt printer (profile and connection) or a PDF file."""

    profile: str
    printer_at: str | None
    pdf: Path | None

    def check(self) -> Any:
        """The printer profile (the printing libraries must be here: they come with mkp[agent]).

        Checked before the server issues anything: python-escpos for every output (the profile
        and the receipt's bytes), Pillow and numpy for a PDF."""
        if (self.printer_at is None) == (self.pdf is None):
            raise click.UsageError("give --printer-at SPEC (e.g. file:out.bin) or --pdf FILE")
        try:
            from drivers.printer import voucher as receipts  # noqa: F401 (python-escpos)
            from drivers.profiles import ProfileError, load_printer_profile

            if self.pdf is not None:
                from drivers.printer import render as pdf_pages  # noqa: F401 (Pillow, numpy)
        except ModuleNotFoundError as e:
            fail(2, say("printing needs %(package)s: install mkp[agent] on this machine", package=e.name))
        try:
            return load_printer_profile(self.profile)
        except ProfileError as e:
            cli_speech.fail_with(2, e)


def _receipts(batch: dict[str, Any]) -> list[Any]:
    from drivers.printer.voucher import batch_receipts

    return list(batch_receipts(batch))


def _print(output: Output, profile: Any, receipts: list[Any]) -> tuple[int, str | None]:
    """Print the receipts in order; (how many came out whole, the error that stopped it or None)."""
    from drivers.printer.errors import PrinterError
    from drivers.printer.escpos_device import open_printer
    from drivers.printer.voucher import print_voucher, voucher_job

    done = 0
    try:
        if output.pdf is not None:
            _pdf(output.pdf, profile, [voucher_job(profile, r).data for r in receipts])
            return len(receipts), None
        assert output.printer_at is not None
        with open_printer(profile, output.printer_at) as printer:
            for receipt in receipts:
                print_voucher(printer, receipt)
                done += 1
    except PrinterError as e:
        return done, f"{e.code}: {e.message}"
    return done, None


#: A4 at the printers' resolution: receipts are laid out side by side, as many as fit.
A4_MM = (210, 297)


def _pdf(path: Path, profile: Any, jobs: list[bytes]) -> None:
    """The vouchers as a receipt printer would print them, tiled on A4 pages, one PDF file."""
    from PIL import Image

    from drivers.printer.errors import PrinterError
    from drivers.printer.render import render

    dpi = profile.paper.dpi
    page_w, page_h = (round(mm * dpi / 25.4) for mm in A4_MM)
    pages: list[Image.Image] = []
    page, x, y, row_h = Image.new("L", (page_w, page_h), 255), 0, 0, 0
    for job in jobs:
        paper = render(profile, job).image
        if x + paper.width > page_w:
            x, y, row_h = 0, y + row_h, 0
        if y + paper.height > page_h:
            pages.append(page)
            page, x, y, row_h = Image.new("L", (page_w, page_h), 255), 0, 0, 0
        page.paste(paper, (x, y))
        x, row_h = x + paper.width, max(row_h, paper.height)
    pages.append(page)
    try:
        pages[0].save(path, "PDF", resolution=dpi, save_all=True, append_images=pages[1:])
    except OSError as e:
        raise PrinterError("not_writable", f"cannot write {path}: {e.strerror or e}") from None


def _settle(ctx: Ctx, batch: dict[str, Any], output: Output, profile: Any) -> dict[str, Any]:
    """Print the batch, then mark what came out printed and void the rest (their points go back)."""
    serials = [v["serial"] for v in batch["vouchers"]]
    if batch.get("replayed"):
        fail(
            1,
            f"voucher_replayed: this client id issued {len(serials)} vouchers before ({', '.join(serials[:3])}"
            f"{' …' if len(serials) > 3 else ''}); they are not printed twice: reprint a lost one with "
            "mkp-admin voucher reprint SERIAL",
        )
    done, error = _print(output, profile, _receipts(batch))
    unconfirmed = _confirm(ctx, serials[:done]) if done else None
    voided = None
    if done < len(serials) and unconfirmed is None:
        voided = ctx.call("POST", "/v1/vouchers/void", {"serials": serials[done:], "reason": "print_failed"})
    elif done < len(serials):  # the server did not hear the confirmation: say that first
        voided, _ = _send(ctx, "/v1/vouchers/void", {"serials": serials[done:], "reason": "print_failed"})
    return {
        **{k: v for k, v in batch.items() if k != "vouchers"},
        "printed": serials[:done],
        "voided": serials[done:] if voided else [],
        "not_voided": [] if voided else serials[done:],
        "points_returned": voided["points_returned"] if voided else 0,
        "error": error,
        "unconfirmed": serials[:done] if unconfirmed else [],
        "confirm_error": unconfirmed,
        "output": str(output.pdf or output.printer_at),
    }


def _send(ctx: Ctx, path: str, body: dict[str, Any]) -> tuple[Any, str | None]:
    """(the server's reply, None) or (None, why it did not answer yes), without exiting."""
    from mkp_core.client import ApiError, Unreachable

    try:
        return ctx.client().post(path, body), None
    except ApiError as e:
        return None, f"{e.code}: {e.message}"
    except Unreachable as e:
        return None, f"server_unreachable: {e}"


def _confirm(ctx: Ctx, serials: list[str]) -> str | None:
    """Tell the server these came out; why it could not be told (None: it was). The paper is out,
    so nothing printed is voided: the operator confirms later with ``mkp-admin voucher printed``."""
    return _send(ctx, "/v1/vouchers/printed", {"serials": serials})[1]


def _unconfirmed_hint(result: dict[str, Any]) -> str:
    serials = result["unconfirmed"]
    return (
        f"printed but not confirmed ({result['confirm_error']}): {' '.join(serials)}\n"
        "they are not valid until confirmed: run mkp-admin voucher printed " + " ".join(serials)
    )


def _report(ctx: Ctx, result: dict[str, Any]) -> None:
    where = result["output"]
    text = say(
        "%(count)s vouchers of %(amount)s %(point_code)s points printed to %(where)s (key %(key)s)",
        count=len(result["printed"]),
        amount=f"{result['amount']:,}",
        point_code=result["point_code"],
        where=where,
        key=result["key_id"],
    )
    if result["error"]:  # why it stopped is said once, on the error line below
        text += say(
            "; %(voided)s voided, %(points)s points returned",
            voided=len(result["voided"]),
            points=f"{result['points_returned']:,}",
        )
    ctx.show(result, text)
    if result["unconfirmed"]:
        unsettled = result["not_voided"]
        more = (
            f"\nnot printed and not voided yet (never valid; void them with mkp-admin voucher void "
            f"{' '.join(unsettled)})"
            if unsettled
            else ""
        )
        fail(1, _unconfirmed_hint(result) + more, "unconfirmed", shown=True)
    if result["error"]:
        fail(1, say("printing failed: %(error)s", error=result["error"]), "printing_failed", shown=True)


@voucher.command("printed")
@click.argument("serials", nargs=-1, required=True)
@client_id_option
@json_option
def printed(serials: tuple[str, ...], client_id: str | None, as_json: bool) -> None:
    """Confirm vouchers printed whose confirmation was lost: from now on they can be used."""
    ctx = ctx_for(as_json)
    r = ctx.call("POST", "/v1/vouchers/printed", request_body(serials=list(serials), client_id=client_id))
    ctx.show(r, say("%(count)s vouchers confirmed printed: valid from now on", count=r["printed"]))


printer_options = [
    click.option(
        "--printer-at", help="The printer: file:PATH, network:HOST[:PORT], usb:VID:PID, serial:DEV."
    ),
    click.option(
        "--printer",
        "profile",
        default=DEFAULT_PROFILE,
        show_default=True,
        help="Printer model (firmware-config).",
    ),
    click.option(
        "--pdf", type=click.Path(dir_okay=False, path_type=Path), help="A PDF for a print shop instead."
    ),
]


def with_printer_options(f: Any) -> Any:
    """--printer-at / --printer / --pdf, shared by issue and reprint."""
    for option in reversed(printer_options):
        f = option(f)
    return f


@voucher.command("issue")
@click.option("--point-code", required=True, help="Whose points (the code's rules must allow vouchers).")
@click.option("--amount", required=True, type=click.IntRange(min=1), help="Points per voucher.")
@click.option(
    "--count", default=1, show_default=True, type=click.IntRange(1, 1000), help="How many vouchers."
)
@click.option("--department", help="Pay from this department's budget (default: the municipality's).")
@click.option(
    "--last-day", help="Last day the vouchers are good, YYYY-MM-DD (default: as the rule expires points)."
)
@with_printer_options
@client_id_option
@json_option
def issue(
    point_code: str,
    amount: int,
    count: int,
    department: str | None,
    last_day: str | None,
    printer_at: str | None,
    profile: str,
    pdf: Path | None,
    client_id: str | None,
    as_json: bool,
) -> None:
    """Issue vouchers and print them; whatever does not print is voided and its points returned."""
    ctx = ctx_for(as_json)
    output = Output(profile, printer_at, pdf)
    printer = output.check()
    body = request_body(
        point_code=point_code,
        amount=amount,
        count=count,
        department=department,
        last_day=last_day,
        client_id=client_id,
    )
    batch = ctx.call("POST", "/v1/vouchers/batches", body)
    _report(ctx, _settle(ctx, batch, output, printer))


@voucher.command("reprint")
@click.argument("serial")
@with_printer_options
@client_id_option
@json_option
def reprint(
    serial: str, printer_at: str | None, profile: str, pdf: Path | None, client_id: str | None, as_json: bool
) -> None:
    """A lost voucher: its serial is voided first, then a new voucher of the same points is printed."""
    ctx = ctx_for(as_json)
    output = Output(profile, printer_at, pdf)
    printer = output.check()
    batch = ctx.call(
        "POST", f"/v1/vouchers/{path_part(serial, 'a serial')}/reprint", request_body(client_id=client_id)
    )
    _report(ctx, _settle(ctx, batch, output, printer))


@voucher.command("void")
@click.argument("serials", nargs=-1, required=True)
@click.option("--reason", default="operator", show_default=True)
@client_id_option
@json_option
def void(serials: tuple[str, ...], reason: str, client_id: str | None, as_json: bool) -> None:
    """Void vouchers not yet used: their points go back where they came from."""
    ctx = ctx_for(as_json)
    r = ctx.call(
        "POST", "/v1/vouchers/void", request_body(serials=list(serials), reason=reason, client_id=client_id)
    )
    ctx.show(
        r,
        say(
            "%(count)s vouchers voided, %(points)s points returned",
            count=r["voided"],
            points=f"{r['points_returned']:,}",
        ),
    )


@voucher.command("show")
@click.argument("serial")
@json_option
def show(serial: str, as_json: bool) -> None:
    """A voucher's state: printed, used (when and where), voided, expired."""
    ctx = ctx_for(as_json)
    v = ctx.call("GET", f"/v1/vouchers/{path_part(serial, 'a serial')}")
    used = (
        say(", used %(time)s at %(place)s", time=when(v["redeemed_at"]), place=v["redeemed_place_name"])
        if v.get("redeemed_at")
        else ""
    )
    ctx.show(
        v,
        say(
            "%(serial)s: %(amount)s %(point_code)s points, %(status)s%(used)s, good through %(last_day)s",
            serial=v["serial"],
            amount=f"{v['amount']:,}",
            point_code=v["point_code"],
            status=v["status"],
            used=used,
            last_day=v["last_day"],
        ),
    )


@voucher.command("phone-link")
@click.option("--place", required=True, help="The shop the link is for.")
@click.option("--revoke", is_flag=True, help="Stop every link of the place instead (a lost phone).")
@client_id_option
@json_option
def phone_link(place: str, revoke: bool, client_id: str | None, as_json: bool) -> None:
    """A link for a shop without a terminal to redeem vouchers on its phone (shown once: keep it)."""
    ctx = ctx_for(as_json)
    if revoke:
        gone = ctx.call(
            "POST", "/v1/vouchers/phone-links/revoke", request_body(place=place, client_id=client_id)
        )
        ctx.show(gone, f"{gone['place_name']}: {gone['revoked']} phone link(s) revoked")
        return
    r = ctx.call("POST", "/v1/vouchers/phone-links", request_body(place=place, client_id=client_id))
    if not r.get("token"):
        ctx.show(r, f"a link for {r['place']} was made by this client id before; it is shown only once")
        return
    ctx.show(
        r, f"{r['place_name']}: {ctx.server.rstrip('/')}{r['path']}\n(shown once: only its hash is kept)"
    )


@voucher.group("key")
def key() -> None:
    """The server's voucher signing keys (the private halves never leave the server)."""


def _key_line(k: dict[str, Any]) -> str:
    line = f"{k['key_id']}  {k['status']:<9}  from {k['valid_from'][:16]}"
    if k.get("retired_at"):
        line += f"  retired {when(k['retired_at'])}"
    if k.get("withdrawn_at"):
        line += f"  withdrawn {when(k['withdrawn_at'])} ({k.get('withdraw_reason') or 'no reason given'})"
    return line


@key.command("rotate")
@client_id_option
@json_option
def key_rotate(client_id: str | None, as_json: bool) -> None:
    """Start a new signing key now; vouchers signed before stay good until they expire."""
    ctx = ctx_for(as_json)
    k = ctx.call("POST", "/v1/voucher-keys/rotate", request_body(client_id=client_id))
    ctx.show(k, f"new voucher key {_key_line(k)} (terminals get it at their next sync)")


@key.command("withdraw")
@click.argument("key_id")
@click.option("--reason", help="Why (a leak, say).")
@client_id_option
@json_option
def key_withdraw(key_id: str, reason: str | None, client_id: str | None, as_json: bool) -> None:
    """A leaked key: no voucher it signed is accepted any more."""
    ctx = ctx_for(as_json)
    k = ctx.call(
        "POST",
        f"/v1/voucher-keys/{path_part(key_id, 'a key id')}/withdraw",
        request_body(reason=reason, client_id=client_id),
    )
    left = k.get("outstanding") or 0
    hint = (
        f"\n{left} of its vouchers ({k.get('outstanding_points') or 0:,} points) are unused and no longer "
        f"accepted: void them (their points go back) with mkp-admin voucher key void-unused {k['key_id']}, "
        "then reprint each for whoever brings one (mkp-admin voucher reprint SERIAL)"
        if left
        else ""
    )
    ctx.show(k, f"withdrawn: {_key_line(k)}{hint}")


@key.command("void-unused")
@click.argument("key_id")
@client_id_option
@json_option
def key_void_unused(key_id: str, client_id: str | None, as_json: bool) -> None:
    """A withdrawn key's unused vouchers: void them all (their points go back where they came
    from) and list their serials, to reprint for whoever brings one."""
    ctx = ctx_for(as_json)
    r = ctx.call(
        "POST",
        f"/v1/voucher-keys/{path_part(key_id, 'a key id')}/void-unused",
        request_body(client_id=client_id),
    )
    lines = [f"{r['voided']} vouchers of key {r['key_id']} voided, {r['points_returned']:,} points returned"]
    if r["serials"]:
        lines.append("to reprint when their holders bring them (mkp-admin voucher reprint SERIAL):")
        lines += [f"  {s}" for s in r["serials"]]
    ctx.show(r, "\n".join(lines))


@key.command("list")
@json_option
def key_list(as_json: bool) -> None:
    """Every voucher key, signing, retired or withdrawn."""
    ctx = ctx_for(as_json)
    data = ctx.call("GET", "/v1/voucher-keys")
    ctx.show(
        data,
        "\n".join(_key_line(k) for k in data["keys"]) or "no voucher key yet (made by the first voucher)",
    )
