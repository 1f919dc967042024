"""What a printed voucher says comes from the server's batch answer, the same for the kiosk and
mkp-admin: each voucher's text, amount, last day and serial, the batch's town, places and point name."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest

from drivers.printer.errors import PrinterError
from drivers.printer.voucher import VoucherReceipt, batch_receipts


def _batch(*texts: str | None) -> dict[str, object]:
    return {
        "municipality_name": "横須賀市",
        "point_name": "",
        "places": ["ドブ板商店街", "横須賀美術館"],
        "vouchers": [
            {"serial": f"7K3M-Q9XD-2RWB-F0T{i}", "text": text, "amount": 500 + i, "last_day": "2027-03-31"}
            for i, text in enumerate(texts)
        ],
    }


def test_one_receipt_per_voucher_in_the_batch_order():
    receipts = list(batch_receipts(_batch("MKP1:AAA", "MKP1:BBB")))
    first = VoucherReceipt(
        qr_text="MKP1:AAA",
        municipality="横須賀市",
        amount=500,
        expires_on=date(2027, 3, 31),
        places=("ドブ板商店街", "横須賀美術館"),
        serial_text="7K3M-Q9XD-2RWB-F0T0",
    )
    assert receipts == [
        first,
        replace(first, qr_text="MKP1:BBB", amount=501, serial_text="7K3M-Q9XD-2RWB-F0T1"),
    ]


def test_an_event_batch_names_its_points():
    batch = {**_batch("MKP1:AAA"), "point_name": "よこすか開国祭ポイント"}
    (receipt,) = batch_receipts(batch)
    assert receipt.point_name == "よこすか開国祭ポイント"


def test_a_voucher_without_its_text_stops_the_run_after_those_before_it():
    receipts = batch_receipts(_batch("MKP1:AAA", None))  # a retry's answer carries no texts
    assert next(receipts).qr_text == "MKP1:AAA"
    with pytest.raises(PrinterError) as refused:
        next(receipts)
    assert refused.value.code == "invalid_receipt"
