"""A printer that fails on the Nth voucher of a batch (paper out, cover open, cable pulled): the
vouchers that came out stay valid, the failed one and every one after it are voided and their
points go back; nothing valid is left unprinted. Through `mkp-admin voucher issue --printer-at`
and the terminal's own printing (`mkp-agent voucher issue`'s print_and_settle), in-process.

The failure is the printer's: ReceiptPrinter.send (the one write of a voucher) raises
``PrinterError("offline")`` from its Nth call on, as python-escpos' device error is turned into
one; everything before it went to a real file printer, whose bytes are drawn and read back.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from pyzbar import pyzbar

from agent.cli.voucher import print_and_settle
from agent.terminal import Terminal
from drivers.printer import PrinterError, ReceiptPrinter
from drivers.printer.render import render
from drivers.profiles import load_printer_profile
from mkp_core.keyring import KeyRing
from mkp_core.voucher import decode_voucher
from server.db.engine import make_engine, write
from server.vouchers import keys, service

YOKOSUKA = "142018"


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'mkp.sqlite3'}"


@pytest.fixture
def paper_out_at(monkeypatch):
    """``paper_out_at(n)``: the printer takes n - 1 vouchers, then fails on every one after."""
    sent: list[bytes] = []
    real = ReceiptPrinter.send

    def arm(n: int) -> list[bytes]:
        def send(self: ReceiptPrinter, job: bytes) -> None:
            if len(sent) + 1 >= n:
                raise PrinterError("offline", f"paper out (voucher {len(sent) + 1})")
            real(self, job)
            sent.append(job)

        monkeypatch.setattr(ReceiptPrinter, "send", send)
        return sent

    return arm


def _read_back(out: Path) -> list[str]:
    """The voucher texts on the paper the file printer got (each voucher's QR code, in order)."""
    paper = render(load_printer_profile("epson-tm-t88vi"), out.read_bytes()).image
    codes = pyzbar.decode(np.asarray(paper), symbols=[pyzbar.ZBarSymbol.QRCODE])
    return [c.data.decode() for c in sorted(codes, key=lambda c: c.rect.top)]


def _status(platform, serial: str) -> tuple[str, str | None]:
    shown = json.loads(platform.admin("voucher", "show", serial, "--json").stdout)
    return shown["status"], shown["void_reason"]


def test_a_batch_whose_printer_fails_on_the_third_voucher(platform, paper_out_at, tmp_path):
    platform.api.post(f"/v1/point-codes/{YOKOSUKA}/rules", {"vouchers": True})
    sent = paper_out_at(3)
    out = tmp_path / "batch.bin"
    before = platform.api.get("/v1/ledger/verify")
    done = platform.admin(
        "voucher", "issue", "--point-code", YOKOSUKA, "--amount", "300", "--count", "5",
        "--printer-at", f"file:{out}", "--json",
    )  # fmt: skip
    assert done.returncode == 1 and "printing failed: offline" in done.stderr
    result = json.loads(done.stdout)
    assert len(result["printed"]) == 2 and len(result["voided"]) == 3 and len(sent) == 2
    assert result["points_returned"] == 900 and result["error"].startswith("offline: paper out (voucher 3)")
    ring = KeyRing.from_dict(_ring(platform))
    on_paper = [decode_voucher(t, ring).serial_text for t in _read_back(out)]
    assert on_paper == result["printed"]  # what came out is exactly what is valid
    assert [_status(platform, s) for s in result["printed"]] == [("printed", None)] * 2
    assert [_status(platform, s) for s in result["voided"]] == [("voided", "print_failed")] * 3
    after = platform.api.get("/v1/ledger/verify")
    assert after["ok"] and after["transfers"] == before["transfers"] + 5 + 3  # five issued, three back


def _ring(platform) -> dict:
    engine = make_engine(platform.database_url)
    try:
        with write(engine) as conn:
            return keys.published(conn)
    finally:
        engine.dispose()


def test_the_terminal_prints_what_it_can_and_voids_the_rest(platform, paper_out_at, tmp_path):
    """The terminal's print_and_settle with a batch of three issued at the terminal (as a card
    holder's would be), the printer failing on the second."""
    platform.api.post(f"/v1/point-codes/{YOKOSUKA}/rules", {"vouchers": True})
    home = tmp_path / "office" / "home"
    platform.provision(home, code=platform.new_code()["code"])
    terminal = Terminal.open(home)
    engine = make_engine(platform.database_url)
    try:
        with write(engine) as conn:
            request = service.Issue(YOKOSUKA, 200, 3, f"muni:{YOKOSUKA}", "office-batch-1")
            batch = service.issue(conn, request, platform.tmp / "secrets", f"terminal:{terminal.terminal_id}")
    finally:
        engine.dispose()
    batch = json.loads(json.dumps(batch, default=str))
    sent = paper_out_at(2)
    result = print_and_settle(terminal, batch)
    assert (result["ok"], len(result["printed"]), len(result["voided"]), len(sent)) == (False, 1, 2, 1)
    assert [_status(platform, s) for s in result["printed"]] == [("printed", None)]
    assert [_status(platform, s) for s in result["voided"]] == [("voided", "print_failed")] * 2
    printed_file = home.parent / "receipt.bin"
    assert [
        decode_voucher(t, KeyRing.from_dict(_ring(platform))).serial_text for t in _read_back(printed_file)
    ] == (result["printed"])
    assert platform.api.get("/v1/ledger/verify")["ok"]
