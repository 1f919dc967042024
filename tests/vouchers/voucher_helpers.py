"""Shared by the voucher tests and bench/vouchers.py: one key, one voucher, its receipt, and
the printers to print it on (every shipped profile, and variants that take the other paths).

The variants are shipped models with their Kanji font or QR command switched off, so each way of
printing (Kanji mode or drawn text; GS ( k or a drawn QR; GS v 0 or GS ( L) is exercised at both
head resolutions (180 and 203 dpi) and both paper widths.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from pathlib import Path

import numpy as np
from cryptography.hazmat.primitives.asymmetric import ed25519
from pyzbar import pyzbar

from drivers.printer.render import Receipt, render
from drivers.printer.voucher import VoucherReceipt, voucher_job
from drivers.profiles import PrinterProfile, load_printer_profile
from mkp_core.keyring import KeyRing
from mkp_core.voucher import Voucher, issue_voucher

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = sorted(p.stem for p in (ROOT / "firmware-config" / "printers").glob("*.toml"))
NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
KEY = ed25519.Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
RING = KeyRing([KEY.public_key()])
PLACES = ("横須賀美術館", "ﾖｺｽｶ中央商店街の加盟店")


def variant(base: str, name: str, **changes: object) -> PrinterProfile:
    """A shipped profile with some settings changed, validated like a file would be."""
    doc = load_printer_profile(base).model_dump()
    doc.update(id=name, memory=None, **changes)
    return PrinterProfile.model_validate(doc)


VARIANTS = {
    "tm-t88vi-no-kanji-graphics": lambda: variant(
        "epson-tm-t88vi",
        "tm-t88vi-no-kanji-graphics",
        text={"kanji": False, "code_page": "CP932"},
        qr="image",
        image_command="graphics",
    ),
    "rp-f10-58-no-kanji": lambda: variant(
        "seiko-rp-f10-58", "rp-f10-58-no-kanji", text={"kanji": False, "code_page": "CP437"}, qr="image"
    ),
    "tsp650ii-native-qr": lambda: variant("star-tsp650ii", "tsp650ii-native-qr", qr="native"),
}
ALL_PRINTERS = [*SHIPPED, *VARIANTS]


def printer_profile(name: str) -> PrinterProfile:
    return VARIANTS[name]() if name in VARIANTS else load_printer_profile(name)


@dataclass(frozen=True)
class Printed:
    """One voucher through one printer: what was signed, the bytes sent, and the paper."""

    profile: PrinterProfile
    voucher: Voucher
    text: str
    receipt: VoucherReceipt
    data: bytes
    paper: Receipt

    @property
    def qr_box(self) -> tuple[int, int, int, int]:
        """Where the QR code is on the paper (left, top, width, height), as zbar finds it."""
        found = pyzbar.decode(np.asarray(self.paper.image), symbols=[pyzbar.ZBarSymbol.QRCODE])
        assert [d.data.decode() for d in found] == [self.text], "the clean print must read back"
        r = found[0].rect
        return r.left, r.top, r.width, r.height


def issue(point_code: str = "142018-FEST2026", amount: int = 3000) -> tuple[Voucher, str]:
    return issue_voucher(
        KEY, point_code=point_code, amount=amount, issued=NOW, expires=datetime(2027, 3, 31, 15, tzinfo=UTC)
    )


def receipt_for(voucher: Voucher, text: str, **overrides: object) -> VoucherReceipt:
    fields: dict[str, object] = {
        "qr_text": text,
        "municipality": "横須賀市",
        "amount": voucher.amount,
        "expires_on": voucher.last_valid_day,
        "places": PLACES,
        "serial_text": voucher.serial_text,
        "point_name": "よこすか開国祭ポイント",
    }
    return VoucherReceipt(**{**fields, **overrides})  # type: ignore[arg-type]


#: The voucher the printers print (a fixed serial: the same QR on every printer, drawn once).
VOUCHER, TEXT = issue_voucher(
    KEY,
    point_code="142018-FEST2026",
    amount=3000,
    issued=NOW,
    expires=datetime(2027, 3, 31, 15, tzinfo=UTC),
    serial=bytes.fromhex("5c1d2e3f405162738495"),
)


@cache
def print_voucher_on(name: str) -> Printed:
    """:data:`VOUCHER` printed on ``name`` (a shipped profile or a variant) and rendered; once per printer."""
    profile = printer_profile(name)
    voucher, text = VOUCHER, TEXT
    receipt = receipt_for(voucher, text)
    data = voucher_job(profile, receipt).data
    return Printed(profile, voucher, text, receipt, data, render(profile, data))
