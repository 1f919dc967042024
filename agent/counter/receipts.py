"""The counter's receipts: what a spend or a refund prints, and printing it without losing anything.

A receipt is kept (in the queue file) before it is printed; printing is one write to the printer
(:mod:`drivers.printer.job`). If the printer is offline or out of paper the transaction stands:
the counter says so, and the kept receipt can be printed again. What it says is kept as data, not
as text: its words are the one catalogue's, printed in Japanese when it is printed
(:mod:`drivers.printer.printed_words`), so a reprint reads as the first print did.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from agent.failpoints import reach
from agent.home import Home, read_agent_toml
from agent.queue import OfflineQueue
from drivers.printer.errors import PrinterError
from drivers.printer.escpos_device import open_printer
from drivers.printer.job import PrintJob
from drivers.printer.printed_words import printed, printed_points, printed_time
from drivers.profiles import ProfileError, load_printer_profile
from mkp_core.i18n import N_

JST = timezone(timedelta(hours=9), "JST")
#: A receipt's title by its kind (an unknown kind: a plain "statement").
TITLES = {"spend": N_("Statement of points spent"), "refund": N_("Statement of points refunded")}
UNKNOWN_KIND_TITLE = N_("Statement")
OFFLINE_MARK = N_("Offline transaction")
BALANCE = N_("Balance: %(points)s points")
TRANSACTION_NUMBER = N_("Transaction number %(id)s")
REFERENCE_NUMBER = N_("Reference number %(reference)s")
SENT_LATER = N_("Processed once the network is back.")


@dataclass(frozen=True)
class Printed:
    receipt_id: int
    printed: bool
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.receipt_id, "printed": self.printed, "error": self.error}


def receipt_body(
    kind: str, place: str, result: dict[str, Any], offline: bool, at: datetime
) -> dict[str, Any]:
    """What the receipt says, as plain data (kept, and printed from)."""
    return {
        "kind": kind,
        "place": place,
        "at": at.astimezone(UTC).isoformat(),
        "amount": result.get("amount"),
        "point_name": result.get("point_name") or result.get("point_code"),
        "item": result.get("item"),
        "balance_after": result.get("balance_after"),
        "transfer_id": result.get("id"),
        "reference": result.get("reference"),
        "offline": offline,
    }


def job_for(profile_id: str, body: dict[str, Any]) -> PrintJob:
    """The receipt laid out for the terminal's printer model."""
    job = PrintJob(load_printer_profile(profile_id))
    at = datetime.fromisoformat(body["at"]).astimezone(JST)
    job.text(body["place"], align="center", big=True)
    job.text(printed(TITLES.get(body["kind"], UNKNOWN_KIND_TITLE)), align="center")
    job.text(printed_time(at), align="center")
    if body["offline"]:
        job.text(f"【{printed(OFFLINE_MARK)}】", align="center", big=True)
    job.feed()
    item = body.get("item")
    if item:
        job.text(f"{item.get('name', item.get('code'))} ×{item.get('quantity', 1)}")
    if body.get("point_name"):
        job.text(str(body["point_name"]))
    sign = "-" if body["kind"] == "spend" else "+"
    job.text(printed_points(int(body["amount"] or 0), sign), align="right", big=True)
    if body.get("balance_after") is not None:
        job.text(printed(BALANCE, points=f"{int(body['balance_after']):,}"), align="right")
    job.feed()
    if body.get("transfer_id"):
        job.text(printed(TRANSACTION_NUMBER, id=body["transfer_id"]))
    if body.get("reference"):
        job.text(printed(REFERENCE_NUMBER, reference=body["reference"]))
    if body["offline"]:
        job.text(printed(SENT_LATER))
    job.cut()
    return job


class ReceiptPrinting:
    """The terminal's printer as agent.toml names it (profile and connection)."""

    def __init__(self, home: Home, queue: OfflineQueue) -> None:
        printer = read_agent_toml(home).get("printer", {})
        self.profile: str | None = printer.get("profile")
        self.connection: str | None = printer.get("connection")
        self.queue = queue

    def print_new(self, body: dict[str, Any]) -> Printed:
        """Keep the receipt, then print it."""
        receipt_id = self.queue.keep_receipt(body["kind"], body)
        reach("spend:before-print")
        return self.print_kept(receipt_id)

    def print_kept(self, receipt_id: int) -> Printed:
        kept = self.queue.receipt(receipt_id)
        if kept is None:
            return Printed(receipt_id, False, "unknown_receipt")
        error = self._print(kept["body"])
        reach("spend:after-print")
        self.queue.receipt_printed(receipt_id, error)
        return Printed(receipt_id, error is None, error)

    def _print(self, body: dict[str, Any]) -> str | None:
        """None if the receipt went out, else the printer's error code."""
        if not self.profile or not self.connection:
            return "no_printer"
        try:
            data = job_for(self.profile, body).data
            with open_printer(load_printer_profile(self.profile), self.connection) as printer:
                printer.send(data)
        except PrinterError as e:
            return e.code
        except ProfileError:
            return "no_printer"
        return None
