"""The paper point voucher as printed: what it says, laid out for 58 and 80 mm receipt paper.

The printer module knows nothing of the ledger or the codec: the caller (the server's batch
issue, a street-office kiosk) hands it a :class:`VoucherReceipt` of plain data, the QR text it
already signed included. If :func:`print_voucher` raises :class:`PrinterError`, nothing usable
came out of the printer (the job is one write), and the caller voids the voucher. Its words are the
one catalogue's, printed in Japanese (:mod:`drivers.printer.printed_words`).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from drivers.printer.errors import PrinterError
from drivers.printer.escpos_device import ReceiptPrinter
from drivers.printer.job import PrintJob
from drivers.printer.printed_words import printed, printed_day, printed_points
from drivers.profiles import PrinterProfile
from mkp_core.i18n import N_

TITLE = N_("Point voucher")
PLACES_HEADING = N_("Shops and facilities that take it")
VALID_UNTIL = N_("Valid until %(when)s")
ONCE = N_("This voucher is good once. No change is given.")
_QR_TEXT = re.compile(r"[0-9A-Z $%*+\-./:]{1,300}")  # the QR's alphanumeric mode


@dataclass(frozen=True)
class VoucherReceipt:
    """What a voucher receipt shows. Plain data: any caller can fill it in."""

    qr_text: str  # the signed voucher text, e.g. "MKP1:..."
    municipality: str  # 横須賀市
    amount: int  # points, a whole number
    expires_on: date  # the last day it can be used
    places: tuple[str, ...]  # where it can be used
    serial_text: str  # the serial, grouped for reading: 7K3M-Q9XD-2RWB-F0TE
    point_name: str = ""  # an event's points: よこすか開国祭ポイント

    def __post_init__(self) -> None:
        if not isinstance(self.qr_text, str) or not _QR_TEXT.fullmatch(self.qr_text):
            raise PrinterError(
                "invalid_receipt",
                "qr_text must be 1-300 characters of the QR alphanumeric set (0-9 A-Z $%*+-./: )",
            )
        if type(self.amount) is not int or self.amount < 1:
            raise PrinterError(
                "invalid_receipt", f"amount must be a whole number of points, not {self.amount!r}"
            )
        if not isinstance(self.expires_on, date):
            raise PrinterError("invalid_receipt", "expires_on must be a date")
        if (
            # a caller without a type checker may hand one string, which would iterate as letters
            isinstance(self.places, str)  # type: ignore[unreachable]
            or not self.places
            or not all(isinstance(p, str) and p for p in self.places)
        ):
            raise PrinterError(
                "invalid_receipt", "places must name at least one place where the voucher is good"
            )
        for name in ("municipality", "serial_text"):
            if not isinstance(getattr(self, name), str) or not getattr(self, name):
                raise PrinterError("invalid_receipt", f"{name} must not be empty")


def batch_receipts(batch: Mapping[str, Any]) -> Iterator[VoucherReceipt]:
    """The receipts of an issued batch as the server answers it (``server.vouchers.schemas.VoucherBatch`` as
    JSON), one per voucher in the batch's order.

    The street-office kiosk and ``mkp-admin voucher issue`` both print from the same answer. Each
    receipt is made as it is asked for, so a voucher the printer refuses (``invalid_receipt``)
    stops the run there and those before it are already out.
    """
    for v in batch["vouchers"]:
        yield VoucherReceipt(
            qr_text=v["text"],
            municipality=batch["municipality_name"],
            amount=v["amount"],
            expires_on=date.fromisoformat(v["last_day"]),
            places=tuple(batch["places"]),
            serial_text=v["serial"],
            point_name=batch.get("point_name") or "",
        )


def voucher_job(profile: PrinterProfile, receipt: VoucherReceipt) -> PrintJob:
    """The voucher as one print job for ``profile``: text, QR code, serial, cut."""
    job = PrintJob(profile)
    job.text(receipt.municipality, align="center", big=True)
    job.text(printed(TITLE), align="center")
    if receipt.point_name:
        job.text(receipt.point_name, align="center")
    job.text(printed_points(receipt.amount), align="center", big=True)
    job.text(printed(VALID_UNTIL, when=printed_day(receipt.expires_on)), align="center")
    job.feed()
    job.text(printed(PLACES_HEADING))
    for place in receipt.places:
        job.text(f"・{place}")
    job.feed()
    job.qr(receipt.qr_text)
    job.feed()
    job.text(receipt.serial_text, align="center")
    job.text(printed(ONCE), align="center")
    job.cut()
    return job


def print_voucher(printer: ReceiptPrinter, receipt: VoucherReceipt) -> int:
    """Print one voucher in one write; return the bytes sent. ``PrinterError`` if it did not go out."""
    data = voucher_job(printer.profile, receipt).data
    printer.send(data)
    return len(data)
