"""Voucher printing: Japanese right on every printer, the QR by the printer or drawn,
one write per voucher, and failures the caller can void the voucher on."""

from __future__ import annotations

import socket
from dataclasses import replace
from datetime import date

import pytest
from escpos.printer import Dummy
from voucher_helpers import (
    ALL_PRINTERS,
    SHIPPED,
    issue,
    print_voucher_on,
    printer_profile,
    receipt_for,
    variant,
)

from drivers.printer import PrinterError, ReceiptPrinter, open_printer, parse_connection
from drivers.printer.job import PrintJob, qr_module_dots, qr_symbol
from drivers.printer.voucher import print_voucher, voucher_job
from drivers.profiles import ProfileError, load_profile

ESC_INIT, CUT = b"\x1b@", b"\x1bd\x06\x1dV\x00"  # ESC @; ESC d 6, GS V 0 (feed past the cutter, full cut)
KANJI_ON, SHIFT_JIS, KANJI_OFF = b"\x1c&", b"\x1cC\x01", b"\x1c."
QR_EC_Q = b"\x1d(k\x03\x001E2"  # GS ( k fn 69: error correction Q
JAPANESE = ["横須賀市", "ポイント利用券", "3,000ポイント", "有効期限 2027年3月31日まで", "・横須賀美術館"]


@pytest.mark.parametrize("name", ALL_PRINTERS)
def test_a_voucher_job_is_initialised_and_cut_once(name):
    data = print_voucher_on(name).data
    assert data.startswith(ESC_INIT) and data.endswith(CUT)
    assert data.count(b"\x1dV") == 1


@pytest.mark.parametrize("name", [n for n in SHIPPED if printer_profile(n).text.kanji])
def test_japanese_goes_in_kanji_mode_as_shift_jis(name):
    printed = print_voucher_on(name)
    for text in JAPANESE:
        line = KANJI_ON + SHIFT_JIS + text.encode("shift_jis") + b"\n" + KANJI_OFF
        assert line in printed.data, text
        assert text.encode("utf-8") not in printed.data and text.encode("gb18030") not in printed.data
    assert printed.paper.lines[:2] == ["横須賀市", "ポイント利用券"]


def test_half_width_katakana_is_printed_full_width():
    printed = print_voucher_on("epson-tm-t20ii")
    assert "・ヨコスカ中央商店街の加盟店".encode("shift_jis") in printed.data
    assert "ﾖｺｽｶ".encode("cp932") not in printed.data


@pytest.mark.parametrize("name", [n for n in ALL_PRINTERS if printer_profile(n).native_qr])
def test_the_printer_draws_the_qr_at_error_correction_q(name):
    printed = print_voucher_on(name)
    store = b"\x1d(k" + (len(printed.text) + 3).to_bytes(2, "little") + b"1P0" + printed.text.encode()
    assert store in printed.data and QR_EC_Q in printed.data
    assert printed.paper.qr_codes == [printed.text] and printed.paper.qr_ec == ["Q"]


@pytest.mark.parametrize("name", [n for n in ALL_PRINTERS if not printer_profile(n).text.kanji])
def test_a_printer_without_kanji_gets_japanese_drawn(name):
    printed = print_voucher_on(name)
    assert KANJI_ON not in printed.data
    assert printed.paper.images >= len(JAPANESE)
    assert printed.paper.lines == [printed.voucher.serial_text]  # the one ASCII line is text
    command = "GS ( L" if printed.profile.image_command == "graphics" else "GS v 0"
    assert command in printed.paper.commands


@pytest.mark.parametrize("name", [n for n in ALL_PRINTERS if not printer_profile(n).native_qr])
def test_a_drawn_qr_keeps_a_quiet_zone_of_four_modules(name):
    printed = print_voucher_on(name)
    assert b"\x1d(k" not in printed.data
    left, top, width, _ = printed.qr_box
    module = qr_module_dots(printed.profile, printed.text)
    assert abs(width - (4 * 9 + 17) * module) <= 2  # version 9 (zbar's box may be a dot short)
    paper = printed.paper.image
    margin = (paper.width - printed.profile.paper.print_width_dots) // 2
    assert left - margin >= 4 * module  # white to its left, inside the print area
    quiet = paper.crop((left - 4 * module, top - 4 * module, left + width + 4 * module, top))
    assert quiet.getextrema() == (255, 255)


@pytest.mark.parametrize("name", ALL_PRINTERS)
def test_the_qr_with_its_quiet_zone_fits_the_paper(name):
    profile = printer_profile(name)
    _, text = issue(point_code="142018-ABCDEFGHIJKLMNOP", amount=1_000_000_000)
    module = qr_module_dots(profile, text)
    assert qr_symbol(text).shape == (53, 53)  # version 9 (the qrcode library agrees: test_voucher_codec)
    assert (53 + 8) * module <= profile.paper.print_width_dots
    assert 0.5 <= module * 25.4 / profile.paper.dpi <= 0.9  # mm per module: readable by a webcam


def test_what_goes_to_a_file_printer_is_the_job_exactly(tmp_path):
    voucher, text = issue()
    receipt = receipt_for(voucher, text)
    profile = printer_profile("epson-tm-t88vi")
    out = tmp_path / "voucher.bin"
    with open_printer(profile, f"file:{out}") as printer:
        sent = print_voucher(printer, receipt)
    assert out.read_bytes() == voucher_job(profile, receipt).data
    assert sent == out.stat().st_size


def test_a_voucher_is_one_write_to_the_device():
    voucher, text = issue()
    profile = printer_profile("star-tsp650ii")
    device = Dummy(profile=profile.escpos_profile)
    print_voucher(
        ReceiptPrinter(device, profile, parse_connection("file:/dev/null")), receipt_for(voucher, text)
    )
    assert len(device._output_list) == 1


def test_a_printer_that_cannot_take_the_job_raises_offline():
    voucher, text = issue()
    with pytest.raises(PrinterError) as info:
        with open_printer(printer_profile("epson-tm-t20ii"), "file:/dev/full") as printer:
            print_voucher(printer, receipt_for(voucher, text))
    assert info.value.code == "offline"
    assert "No space left" in info.value.message


def test_printers_that_cannot_be_reached_raise_their_codes(tmp_path):
    with pytest.raises(PrinterError) as info:
        open_printer(printer_profile("epson-tm-t20ii"), f"file:{tmp_path / 'gone' / 'out.bin'}")
    assert info.value.code == "not_writable"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(PrinterError) as info:
        open_printer(printer_profile("epson-tm-t20ii"), f"network:127.0.0.1:{port}", timeout=2)
    assert info.value.code == "offline"


@pytest.mark.parametrize(
    "changes, code",
    [
        ({"amount": 0}, "invalid_receipt"),
        ({"amount": True}, "invalid_receipt"),
        ({"amount": "500"}, "invalid_receipt"),
        ({"places": ()}, "invalid_receipt"),
        ({"places": "横須賀美術館"}, "invalid_receipt"),
        ({"places": ("",)}, "invalid_receipt"),
        ({"qr_text": "mkp1:lower"}, "invalid_receipt"),
        ({"qr_text": "MKP1:" + "A" * 400}, "invalid_receipt"),
        ({"expires_on": "2027-03-31"}, "invalid_receipt"),
        ({"municipality": ""}, "invalid_receipt"),
        ({"serial_text": ""}, "invalid_receipt"),
    ],
)
def test_a_receipt_that_breaks_its_rules_is_refused(changes, code):
    voucher, text = issue()
    with pytest.raises(PrinterError) as info:
        receipt_for(voucher, text, **changes)
    assert info.value.code == code


@pytest.mark.parametrize("name", ["epson-tm-t20ii", "star-tsp650ii"])
def test_a_control_character_in_a_name_never_reaches_the_printer(name):
    voucher, text = issue()
    receipt = receipt_for(voucher, text, municipality="横須賀市\x1b@\x1dV\x00")
    with pytest.raises(PrinterError) as info:
        voucher_job(printer_profile(name), receipt)
    assert info.value.code == "invalid_text"


def test_a_character_outside_shift_jis_is_refused_on_a_kanji_printer():
    voucher, text = issue()
    receipt = receipt_for(voucher, text, places=("カフェ☕",))
    with pytest.raises(PrinterError, match="Shift JIS") as info:
        voucher_job(printer_profile("epson-tm-t20ii"), receipt)
    assert info.value.code == "no_kanji"


def test_the_expiry_and_amount_are_printed_as_given():
    printed = print_voucher_on("epson-tm-t20ii")
    assert printed.voucher.serial_text in printed.paper.lines
    receipt = replace(printed.receipt, amount=12345, expires_on=date(2027, 1, 5))
    data = voucher_job(printer_profile("epson-tm-t20ii"), receipt).data
    assert "12,345ポイント".encode("shift_jis") in data and "2027年1月5日まで".encode("shift_jis") in data


# --- the Japanese font --------------------------------------------------------------------------


def test_a_font_named_in_the_environment_must_exist(monkeypatch, tmp_path):
    from drivers.printer.japanese import find_japanese_font

    monkeypatch.setenv("MKP_JAPANESE_FONT", str(tmp_path / "none.ttf"))
    with pytest.raises(PrinterError) as info:
        find_japanese_font()
    assert info.value.code == "no_japanese_font" and "none.ttf" in info.value.message


def test_no_japanese_font_says_what_to_install(monkeypatch):
    from drivers.printer.japanese import find_japanese_font

    monkeypatch.delenv("MKP_JAPANESE_FONT", raising=False)
    monkeypatch.setenv("PATH", "/nonexistent")  # no fc-list either
    with pytest.raises(PrinterError) as info:
        find_japanese_font(candidates=())
    assert info.value.code == "no_japanese_font" and "fonts-ipafont-gothic" in info.value.message


def test_a_file_that_is_not_a_font_is_refused(tmp_path):
    from drivers.printer.japanese import load_font

    bogus = tmp_path / "bogus.ttf"
    bogus.write_text("not a font")
    with pytest.raises(PrinterError) as info:
        load_font(24, str(bogus))
    assert info.value.code == "no_japanese_font"


def test_the_font_is_found_where_debian_puts_it(monkeypatch):
    from drivers.printer.japanese import find_japanese_font

    monkeypatch.delenv("MKP_JAPANESE_FONT", raising=False)
    assert find_japanese_font().name in {"ipag.ttf", "fonts-japanese-gothic.ttf"}


# --- profiles -----------------------------------------------------------------------------------

NO_QR_PRINTER = """\
kind = "printer"
id = "{id}"
vendor = "Generic"
model = "58 mm"
escpos_profile = "NT-5890K"
command_mode = "escpos"
{extra}

[paper]
width_mm = 58
print_width_mm = 48.0
print_width_dots = 384
dpi = 203

[text]
kanji = false
code_page = "CP437"
"""


def test_a_profile_without_a_qr_command_draws_the_qr(tmp_path):
    path = tmp_path / "generic-58.toml"
    path.write_text(NO_QR_PRINTER.format(id="generic-58", extra=""))
    profile = load_profile(path)
    assert profile.native_qr is False and profile.image_command == "raster"
    voucher, text = issue()
    assert b"\x1d(k" not in voucher_job(profile, receipt_for(voucher, text)).data


@pytest.mark.parametrize(
    "extra, field",
    [
        ('qr = "native"', "qr: 'native'"),
        ('image_command = "graphics"', "image_command"),
        ('qr = "laser"', "qr"),
    ],
)
def test_a_profile_asking_for_what_the_model_lacks_is_refused(tmp_path, extra, field):
    path = tmp_path / "generic-58.toml"
    path.write_text(NO_QR_PRINTER.format(id="generic-58", extra=extra))
    with pytest.raises(ProfileError) as info:
        load_profile(path)
    assert field in str(info.value) and info.value.code == "invalid_profile"


def test_variants_validate_like_files():
    with pytest.raises(Exception, match="image_command"):
        variant("epson-tm-t88vi", "x", image_command="laser")


def test_an_ascii_line_is_plain_text_even_big():
    job = PrintJob(printer_profile("epson-tm-t20ii"))
    job.text("ABC-123", align="center", big=True)
    assert job.data == ESC_INIT + b"\x1ba\x01\x1d!\x11\x1bt\x00ABC-123\n\x1d!\x00\x1ba\x00"


@pytest.mark.parametrize("name", [n for n in SHIPPED if printer_profile(n).text.kanji])
def test_no_printed_line_begins_with_closing_punctuation(name):
    lines = print_voucher_on(name).paper.lines
    assert "この券は1回限り有効です。おつりは出ません。" in "".join(lines)
    assert [line for line in lines if line[:1] in "。、」"] == []
