"""Receipt printers: a thin adapter over python-escpos, driven by a printer profile.

python-escpos does the ESC/POS work (init, text, native QR with GS ( k, cut) and knows each model
through its capabilities profile. What it lacks is Japanese Kanji mode, so :meth:`ReceiptPrinter.kanji_line`
sends the Epson Kanji commands itself: FS & (Kanji mode on), FS C 1 (Shift JIS code system),
the text encoded as Shift JIS (cp932), FS . (Kanji mode off).

Connection specs: ``file:PATH``, ``network:HOST[:PORT]`` (default 9100), ``usb:VID:PID`` (hex),
``serial:DEVICE``. USB needs the ``pyusb`` package and serial the ``pyserial`` package.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from escpos import printer as escpos_printer
from escpos.constants import QR_ECLEVEL_M
from escpos.exceptions import DeviceNotFoundError
from escpos.exceptions import Error as EscposError

from drivers.printer.errors import PrinterError
from drivers.printer.japanese import shift_jis

if TYPE_CHECKING:
    from drivers.profiles import PrinterProfile

_T = TypeVar("_T")

KANJI_ON = b"\x1c\x26"  # FS &
KANJI_SHIFT_JIS = b"\x1c\x43\x01"  # FS C 1
KANJI_OFF = b"\x1c\x2e"  # FS .


@dataclass(frozen=True)
class Connection:
    kind: str  # file, network, usb, serial
    target: str
    port: int | None = None
    vendor_id: int | None = None
    product_id: int | None = None


_NETWORK = re.compile(r"(?P<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(?::(?P<port>\d{1,5}))?")
_USB = re.compile(r"(?:0x)?(?P<vid>[0-9A-Fa-f]{1,4}):(?:0x)?(?P<pid>[0-9A-Fa-f]{1,4})")


def parse_connection(spec: str) -> Connection:
    """Parse ``file:``, ``network:``, ``usb:`` or ``serial:`` specs; a clear error for anything else."""
    kind, sep, rest = spec.partition(":")
    if not sep or not rest:
        raise PrinterError(
            "bad_connection", f"{spec!r}: expected file:PATH, network:HOST[:PORT], usb:VID:PID or serial:DEV"
        )
    if kind == "file":
        return Connection("file", rest)
    if kind == "network":
        m = _NETWORK.fullmatch(rest)
        port = int(m["port"]) if m and m["port"] else 9100
        if not m or not 0 < port < 65536:
            raise PrinterError(
                "bad_connection", f"{spec!r}: expected network:HOST[:PORT] with a port 1-65535"
            )
        return Connection("network", m["host"].strip("[]"), port=port)
    if kind == "usb":
        m = _USB.fullmatch(rest)
        if not m:
            raise PrinterError("bad_connection", f"{spec!r}: expected usb:VID:PID in hex, e.g. usb:04b8:0202")
        return Connection("usb", rest, vendor_id=int(m["vid"], 16), product_id=int(m["pid"], 16))
    if kind == "serial":
        return Connection("serial", rest)
    raise PrinterError(
        "bad_connection", f"{spec!r}: unknown connection type {kind!r} (file, network, usb, serial)"
    )


class ReceiptPrinter:
    """An open printer plus its profile. Use as a context manager so the connection is closed."""

    def __init__(
        self, device: escpos_printer.Escpos, profile: PrinterProfile, connection: Connection
    ) -> None:
        self.device = device
        self.profile = profile
        self.connection = connection

    def __enter__(self) -> ReceiptPrinter:
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        try:
            self.close()
        except PrinterError:
            if exc_type is None:
                raise  # a failure while closing is the news; on top of another, it is not

    def close(self) -> None:
        """Close the connection (flushes a file printer): ``offline`` if what was sent is lost."""
        self._guard(lambda: self.device.close())

    def _guard(self, action: Callable[[], _T]) -> _T:
        try:
            return action()
        except (OSError, EscposError) as exc:
            raise PrinterError(
                "offline", f"printer {self.connection.kind}:{self.connection.target} stopped answering: {exc}"
            ) from None

    def init(self) -> None:
        """ESC @: reset the printer to its power-on modes."""
        self._guard(lambda: self.device.hw("INIT"))

    def line(self, text: str = "", *, align: str = "left", bold: bool = False, big: bool = False) -> None:
        """Print a line in the single-byte code page (python-escpos picks the encoding)."""

        def act() -> None:
            self.device.set(align=align, bold=bold, double_height=big, double_width=big)
            self.device.textln(text)
            self.device.set(normal_textsize=True, bold=False, align="left")

        self._guard(act)

    def kanji_line(self, text: str, *, align: str = "left") -> None:
        """Print Japanese in Kanji mode; refuses on a model without a Kanji font."""
        if not self.profile.text.kanji:
            raise PrinterError(
                "no_kanji", f"{self.profile.model} has no Kanji font (profile {self.profile.id})"
            )
        data = shift_jis(text)

        def act() -> None:
            self.device.set(align=align)
            self.device._raw(KANJI_ON + KANJI_SHIFT_JIS + data + b"\n" + KANJI_OFF)
            self.device.set(align="left")

        self._guard(act)

    def qr(self, data: str, *, size: int = 6) -> None:
        """A QR code printed by the printer itself (GS ( k), error correction M."""
        self._guard(lambda: self.device.qr(data, ec=QR_ECLEVEL_M, size=size, native=True))

    def cut(self) -> None:
        """Feed past the tear bar and cut (full cut where the model has one)."""
        self._guard(lambda: self.device.cut())

    def send(self, job: bytes) -> None:
        """Send a whole job (see :class:`drivers.printer.job.PrintJob`) in one write.

        One write: the printer gets the receipt whole or the caller gets ``offline`` (and can void
        what the receipt stood for); never half a voucher followed by a silent failure.
        """
        self._guard(lambda: self.device._raw(job))


def _os_reason(exc: Exception) -> str:
    """Why python-escpos could not open a device, in the system's words ("Permission denied"):
    its own message repeats the path and the OS error's text, quotes and brackets and all."""
    cause = exc.__cause__ or exc.__context__
    if isinstance(cause, OSError) and cause.strerror:
        return cause.strerror
    return str(exc).splitlines()[-1]


def open_printer(profile: PrinterProfile, spec: str, *, timeout: float = 5.0) -> ReceiptPrinter:
    """Open the printer described by ``profile`` at ``spec``; fail now, with a clear error, if unreachable."""
    conn = parse_connection(spec)
    name = profile.escpos_profile
    try:
        if conn.kind == "file":
            path = Path(conn.target)
            device: escpos_printer.Escpos = escpos_printer.File(str(path), profile=name)
            try:
                device.open()
            except DeviceNotFoundError as exc:
                raise PrinterError("not_writable", f"cannot write to {path}: {_os_reason(exc)}") from None
        elif conn.kind == "network":
            device = escpos_printer.Network(
                conn.target, port=conn.port or 9100, timeout=timeout, profile=name
            )
            try:
                device.open()
            except DeviceNotFoundError as exc:
                reason = str(exc).splitlines()[-1]
                raise PrinterError(
                    "offline", f"printer at {conn.target}:{conn.port} does not answer: {reason}"
                ) from None
        elif conn.kind == "usb":
            if not escpos_printer.Usb.is_usable():
                raise PrinterError("unsupported", "usb: printers need the 'pyusb' package on this terminal")
            device = escpos_printer.Usb(conn.vendor_id, conn.product_id, profile=name)
            try:
                device.open()
            except DeviceNotFoundError as exc:
                raise PrinterError("offline", f"no USB printer {conn.target}: {exc}") from None
        else:
            if not escpos_printer.Serial.is_usable():
                raise PrinterError(
                    "unsupported", "serial: printers need the 'pyserial' package on this terminal"
                )
            device = escpos_printer.Serial(conn.target, timeout=timeout, profile=name)
            try:
                device.open()
            except DeviceNotFoundError as exc:
                raise PrinterError("offline", f"serial printer {conn.target} not found: {exc}") from None
    except PrinterError:
        raise
    except (OSError, EscposError) as exc:
        raise PrinterError("offline", f"cannot open printer {spec}: {exc}") from None
    return ReceiptPrinter(device, profile, conn)


def print_test_page(
    printer: ReceiptPrinter, *, terminal: str, place: str, when: datetime, qr_data: str
) -> None:
    """The page a technician prints at enrollment: who, where, when, a QR code, and Kanji if the model has it."""
    p = printer.profile
    printer.init()
    printer.line("MKP TEST PAGE", align="center", bold=True, big=True)
    printer.line(f"Terminal: {terminal}")
    if place.isascii():
        printer.line(f"Place: {place}")
    elif p.text.kanji:
        printer.kanji_line(f"設置場所: {place}")
    else:
        printer.line("Place: (Japanese name; this printer has no Kanji font)")
    printer.line(f"Time: {when.isoformat(timespec='seconds')}")
    printer.line(f"Printer: {p.vendor} {p.model}, {p.paper.width_mm} mm")
    if p.text.kanji:
        printer.kanji_line("テスト印刷 マイキープラットフォーム", align="center")
    printer.qr(qr_data)
    printer.line(qr_data, align="center")
    printer.cut()
