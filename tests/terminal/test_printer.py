"""Receipt printer driver: test page bytes written to a file, and clear errors."""

from __future__ import annotations

import socket
from datetime import datetime

import pytest

from drivers.printer import PrinterError, open_printer, parse_connection, print_test_page
from drivers.profiles import load_printer_profile

WHEN = datetime(2026, 11, 25, 18, 0, 0)
ESC_INIT = b"\x1b@"
QR_STORE = b"\x1d(k\x12\x001P0MKP-TEST-T-0001"  # GS ( k, store 15 bytes of QR data
QR_PRINT = b"\x1d(k\x03\x001Q0"  # GS ( k, print the stored symbol
FULL_CUT = b"\x1dV\x00"  # GS V 0
KANJI_ON, SHIFT_JIS, KANJI_OFF = b"\x1c&", b"\x1cC\x01", b"\x1c."


def test_page(profile_id: str, tmp_path, place: str = "日本橋商店街") -> bytes:
    out = tmp_path / "receipt.bin"
    with open_printer(load_printer_profile(profile_id), f"file:{out}") as printer:
        print_test_page(printer, terminal="T-0001", place=place, when=WHEN, qr_data="MKP-TEST-T-0001")
    return out.read_bytes()


test_page.__test__ = False  # a helper, not a test


def test_test_page_starts_with_init_has_qr_and_ends_with_cut(tmp_path):
    data = test_page("epson-tm-t88vi", tmp_path)
    assert data.startswith(ESC_INIT)
    assert data.endswith(FULL_CUT)
    assert QR_STORE in data and QR_PRINT in data
    assert data.index(QR_STORE) < data.index(QR_PRINT) < data.index(FULL_CUT)
    for text in (b"T-0001", b"2026-11-25T18:00:00", b"Epson TM-T88VI, 80 mm"):
        assert text in data


def test_japanese_is_printed_in_kanji_mode_as_shift_jis(tmp_path):
    data = test_page("epson-tm-t88vi", tmp_path)
    place = "日本橋商店街".encode("cp932")
    start = data.index(KANJI_ON + SHIFT_JIS)
    assert data.index(place) > start
    assert data.index(KANJI_OFF, start) > data.index(place)
    assert "日本橋".encode() not in data  # no UTF-8 leaks onto the paper


def test_printer_without_kanji_font_gets_no_kanji_commands(tmp_path):
    data = test_page("star-tsp650ii", tmp_path)
    assert KANJI_ON not in data and "日本橋商店街".encode("cp932") not in data
    assert b"no Kanji font" in data
    assert data.startswith(ESC_INIT) and QR_STORE in data


def test_ascii_place_is_printed_as_plain_text(tmp_path):
    data = test_page("star-tsp650ii", tmp_path, place="Museum Desk 2")
    assert b"Place: Museum Desk 2" in data


def test_kanji_line_on_a_printer_without_kanji_is_refused(tmp_path):
    with open_printer(load_printer_profile("star-tsp650ii"), f"file:{tmp_path / 'r.bin'}") as printer:
        with pytest.raises(PrinterError) as info:
            printer.kanji_line("日本")
    assert info.value.code == "no_kanji"


def test_text_outside_shift_jis_is_refused_clearly(tmp_path):
    with open_printer(load_printer_profile("epson-tm-t88vi"), f"file:{tmp_path / 'r.bin'}") as printer:
        with pytest.raises(PrinterError, match="Shift JIS") as info:
            printer.kanji_line("emoji 😀")
    assert info.value.code == "no_kanji"


def test_path_not_writable(tmp_path):
    with pytest.raises(PrinterError) as info:
        open_printer(load_printer_profile("epson-tm-t88vi"), f"file:{tmp_path / 'no-such-dir' / 'r.bin'}")
    assert info.value.code == "not_writable"
    # The system's reason once, without python-escpos's own wrapping of it ("…r.bin')").
    assert (
        str(info.value) == f"cannot write to {tmp_path / 'no-such-dir' / 'r.bin'}: No such file or directory"
    )


def test_network_printer_offline():
    with socket.socket() as s:  # a port that was free a moment ago: nothing listens there
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(PrinterError) as info:
        open_printer(load_printer_profile("epson-tm-t88vi"), f"network:127.0.0.1:{port}", timeout=2)
    assert info.value.code == "offline"
    assert f"127.0.0.1:{port}" in str(info.value)


def test_network_printer_receives_the_page():
    import threading

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    received = bytearray()

    def accept():
        conn, _ = server.accept()
        with conn:
            while chunk := conn.recv(65536):
                received.extend(chunk)

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    spec = f"network:127.0.0.1:{server.getsockname()[1]}"
    with open_printer(load_printer_profile("epson-tm-t20ii"), spec) as printer:
        print_test_page(printer, terminal="T-0002", place="Museum", when=WHEN, qr_data="MKP-TEST-T-0001")
    thread.join(5)
    server.close()
    assert bytes(received).startswith(ESC_INIT) and bytes(received).endswith(FULL_CUT)


@pytest.mark.parametrize(
    "spec, kind, detail",
    [
        ("file:/dev/usb/lp0", "file", {"target": "/dev/usb/lp0"}),
        ("network:192.168.1.50", "network", {"target": "192.168.1.50", "port": 9100}),
        ("network:printer.local:9101", "network", {"target": "printer.local", "port": 9101}),
        ("usb:04b8:0202", "usb", {"vendor_id": 0x04B8, "product_id": 0x0202}),
        ("serial:/dev/ttyUSB0", "serial", {"target": "/dev/ttyUSB0"}),
    ],
)
def test_connection_specs(spec, kind, detail):
    conn = parse_connection(spec)
    assert conn.kind == kind
    for name, value in detail.items():
        assert getattr(conn, name) == value


@pytest.mark.parametrize(
    "spec",
    [
        "",
        "lp0",
        "file:",
        "bluetooth:AA:BB",
        "usb:04b8",
        "usb:zzzz:0202",
        "network:host:0",
        "network:host:99999",
        "network:bad host",
    ],
)
def test_bad_connection_specs(spec):
    with pytest.raises(PrinterError) as info:
        parse_connection(spec)
    assert info.value.code == "bad_connection"
    assert repr(spec) in str(info.value)


@pytest.mark.parametrize(
    "spec, cls, package", [("usb:04b8:0202", "Usb", "pyusb"), ("serial:/dev/ttyS0", "Serial", "pyserial")]
)
def test_usb_and_serial_without_their_packages_say_what_is_missing(monkeypatch, spec, cls, package):
    from escpos import printer as escpos_printer

    monkeypatch.setattr(getattr(escpos_printer, cls), "is_usable", staticmethod(lambda: False))
    with pytest.raises(PrinterError) as info:
        open_printer(load_printer_profile("epson-tm-t88vi"), spec)
    assert info.value.code == "unsupported"
    assert package in str(info.value)
