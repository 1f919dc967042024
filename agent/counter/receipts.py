"""The counter's receipts: what a spend or a refund prints, and printing it without losing anything.

A receipt is kept (in the queue file) before it is printed; printing is one write to the printer
(:mod:`drivers.printer.job`). If the printer is offline or out of paper the transaction stands:
the counter says so, and the kept receipt can be printed again.
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
from drivers.profiles import ProfileError, load_printer_profile

JST = timezone(timedelta(hours=9), "JST")
OFFLINE_MARK = "オフライン取引"
TITLES = {"spend": "ポイントご利用明細", "refund": "ポイント払い戻し明細"}


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
    job.text(TITLES.get(body["kind"], "明細"), align="center")
    job.text(f"{at.year}年{at.month}月{at.day}日 {at:%H:%M}", align="center")
    if body["offline"]:
        job.text(f"【{OFFLINE_MARK}】", align="center", big=True)
    job.feed()
    item = body.get("item")
    if item:
        job.text(f"{item.get('name', item.get('code'))} ×{item.get('quantity', 1)}")
    if body.get("point_name"):
        job.text(str(body["point_name"]))
    sign = "-" if body["kind"] == "spend" else "+"
    job.text(f"{sign}{int(body['amount'] or 0):,}ポイント", align="right", big=True)
    if body.get("balance_after") is not None:
        job.text(f"残高 {int(body['balance_after']):,}ポイント", align="right")
    job.feed()
    if body.get("transfer_id"):
        job.text(f"取引番号 {body['transfer_id']}")
    if body.get("reference"):
        job.text(f"控え番号 {body['reference']}")
    if body["offline"]:
        job.text("通信回復後に処理されます。")
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
