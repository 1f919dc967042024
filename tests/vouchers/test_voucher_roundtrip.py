"""The round trip: voucher → ESC/POS bytes → paper → thermal print and phone camera →
scanner → the same voucher, on every printer profile. The big degraded set is bench/vouchers.py's;
here a sample of each printer's paper, photographed as badly as a counter would."""

from __future__ import annotations

import numpy as np
import pytest
from degrade import FRAME, degraded
from escpos.printer import Dummy
from voucher_helpers import ALL_PRINTERS, RING, print_voucher_on, printer_profile

from drivers.printer.render import RenderError, render
from drivers.scanner import Decoder
from mkp_core.voucher import decode_voucher

SAMPLE = 5  # degraded photos per printer: 7 printers, 35 photos


@pytest.mark.parametrize("name", ALL_PRINTERS)
def test_a_printed_voucher_reads_back_as_the_same_voucher(name):
    printed = print_voucher_on(name)
    paper = np.asarray(printed.paper.image)
    assert paper.shape[1] == round(printed.profile.paper.width_mm * printed.profile.paper.dpi / 25.4)
    assert printed.paper.cuts == 1
    decoder = Decoder()
    clean = decoder.decode(paper)
    assert [d.text for d in clean] == [printed.text]
    box = printed.qr_box
    readers = set()
    for seed in range(SAMPLE):
        frame, look = degraded(paper, box, seed)
        assert frame.shape == (FRAME[1], FRAME[0])
        found = decoder.decode(frame)
        assert [d.text for d in found] == [printed.text], f"{name}, photo {seed}: {look}"
        assert decode_voucher(found[0].text, RING, now=printed.voucher.issued) == printed.voucher
        readers.add(found[0].decoder)
    assert readers <= {"zbar", "zxing"}


def test_zxing_reads_what_zbar_cannot():
    printed = print_voucher_on("epson-tm-t20ii")
    paper = np.asarray(printed.paper.image)
    readers = [Decoder().decode(degraded(paper, printed.qr_box, seed)[0])[0].decoder for seed in range(2)]
    assert "zbar" in readers and "zxing" in readers


@pytest.mark.parametrize("name", ALL_PRINTERS)
def test_the_paper_says_what_the_voucher_is(name):
    printed = print_voucher_on(name)
    lines = printed.paper.lines
    assert printed.voucher.serial_text in lines
    if printed.profile.text.kanji:
        assert lines[:4] == ["横須賀市", "ポイント利用券", "よこすか開国祭ポイント", "3,000ポイント"]
        assert "有効期限 2027年3月31日まで" in lines and "・横須賀美術館" in lines


# --- the renderer refuses what a printer would print wrongly ------------------------------------


def _job(profile_name: str, build) -> bytes:
    dummy = Dummy(profile=printer_profile(profile_name).escpos_profile)
    build(dummy)
    return dummy.output


@pytest.mark.parametrize(
    "build, why",
    [
        (lambda d: d.textln("横須賀市"), "outside Kanji mode"),  # python-escpos' own Japanese: GB18030
        (lambda d: d._raw(b"\x1c&\x1cC\x01" + "ﾖｺｽｶ".encode("cp932") + b"\n\x1c."), "one-byte"),
        (lambda d: d._raw(b"\x1c&\x1cC\x01\x81\x7f\n\x1c."), "Shift JIS"),
        (lambda d: d._raw(b"\x1c&" + "横".encode("cp932") + b"\n\x1c."), "FS C 1"),
        (lambda d: d.barcode("4901234567894", "EAN13"), "unknown command"),
        (lambda d: d.image(_dot(), impl="bitImageColumn"), "unknown command"),
        (lambda d: d._raw(b"\x07"), "control byte 0x07"),
        (lambda d: d._raw(b"\x1dv0\x00\x10\x00"), "cut short"),
        (lambda d: d.text("left in the buffer"), "unprinted"),
    ],
    ids=[
        "gb18030",
        "half-width-kana",
        "bad-shift-jis",
        "no-code-system",
        "barcode",
        "esc-star",
        "bell",
        "short",
        "unprinted",
    ],
)
def test_the_renderer_fails_what_would_misprint(build, why):
    with pytest.raises(RenderError, match=why):
        render(printer_profile("epson-tm-t20ii"), _job("epson-tm-t20ii", build))


def _dot():
    from PIL import Image

    return Image.new("1", (8, 8), 0)


def test_the_renderer_draws_graphics_and_raster_images_alike():
    image = _dot()
    raster = render(printer_profile("epson-tm-t88vi"), _job("epson-tm-t88vi", lambda d: d.image(image)))
    graphics = render(
        printer_profile("epson-tm-t88vi"), _job("epson-tm-t88vi", lambda d: d.image(image, impl="graphics"))
    )
    assert raster.commands == ["GS v 0"] and graphics.commands == ["GS ( L", "GS ( L"]
    assert np.array_equal(np.asarray(raster.image), np.asarray(graphics.image))
    assert (np.asarray(raster.image) == 0).sum() == 64
