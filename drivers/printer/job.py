"""A receipt built in memory for one printer model, then sent in one write.

python-escpos writes each command to the device as it is made; a receipt that fails halfway
would leave half a voucher. A :class:`PrintJob` builds the whole receipt in python-escpos'
``Dummy`` printer with the model's capabilities profile, and :meth:`ReceiptPrinter.send` writes
the bytes at once, so what the tests check is exactly what the printer gets.

What each line becomes depends on the profile (``firmware-config/printers``):

- ASCII: plain text in the printer's own font;
- Japanese on a model with a Kanji font: Kanji mode, Shift JIS (FS C 1, FS & ... FS .);
- Japanese on a model without: drawn with IPA Gothic, sent as an image;
- a QR code: GS ( k for the printer to draw where the profile says so, else encoded here
  (zxing-cpp) and drawn with its quiet zone of 4 modules, sent as an image;
- images: GS v 0 (raster) or GS ( L (graphics), as the profile says.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import zxingcpp
from escpos.constants import QR_ECLEVEL_Q
from escpos.printer import Dummy
from PIL import Image

from drivers.printer.escpos_device import KANJI_OFF, KANJI_ON, KANJI_SHIFT_JIS
from drivers.printer.japanese import kanji_mode_lines, normalise, shift_jis, text_image
from drivers.profiles import PrinterProfile

#: Font A is 12 x 24 dots (24 x 24 for Kanji); drawn text uses the same height.
TEXT_DOTS = 24
#: A QR module of about 0.75 mm: big enough for a shop's webcam at arm's length.
QR_MODULE_MM = 0.75
QR_QUIET_ZONE = 4
_IMPL = {"raster": "bitImageRaster", "graphics": "graphics"}


class PrintJob:
    """One receipt for one printer model; :attr:`data` is the bytes to send."""

    def __init__(self, profile: PrinterProfile) -> None:
        self.profile = profile
        self._dummy = Dummy(profile=profile.escpos_profile)
        self._dummy.hw("INIT")

    @property
    def data(self) -> bytes:
        return bytes(self._dummy.output)

    @property
    def width_dots(self) -> int:
        return self.profile.paper.print_width_dots

    def text(self, text: str, *, align: str = "left", big: bool = False) -> None:
        """A line of text, broken here by the kinsoku rules when too long for the paper; ``big`` is
        double width and height."""
        text = normalise(text)
        if not text.isascii() and not self.profile.text.kanji:
            self._drawn_text(text, align=align, big=big)
            return
        self._dummy.set(align=align)
        if big:
            self._dummy.set(custom_size=True, width=2, height=2)  # GS !: Kanji too, unlike ESC !
        if text.isascii():
            self._dummy.textln(text)
        else:
            lines = kanji_mode_lines(text, self.width_dots, 2 if big else 1)
            self._dummy._raw(
                KANJI_ON + KANJI_SHIFT_JIS + b"".join(shift_jis(line) + b"\n" for line in lines) + KANJI_OFF
            )
        if big:
            self._dummy.set(custom_size=True, width=1, height=1)
        self._dummy.set(align="left")

    def _drawn_text(self, text: str, *, align: str, big: bool) -> None:
        self._dummy._raw(
            _drawn_text_bytes(
                self.profile.escpos_profile,
                self.profile.image_command,
                text,
                self.width_dots,
                TEXT_DOTS * (2 if big else 1),
                align,
            )
        )

    def feed(self, lines: int = 1) -> None:
        self._dummy.ln(lines)

    def qr(self, data: str) -> None:
        """A QR code at error correction Q (a quarter of it may be lost), centred."""
        module = qr_module_dots(self.profile, data)
        if self.profile.native_qr:
            self._dummy.set(align="center")
            self._dummy.qr(data, ec=QR_ECLEVEL_Q, size=module, native=True)
            self._dummy.set(align="left")
        else:
            self.image(qr_image(data, module))

    def image(self, image: Image.Image) -> None:
        """An image no wider than the print area, centred, by the profile's image command."""
        self._dummy.image(image, impl=_IMPL[self.profile.image_command], center=True)

    def cut(self) -> None:
        """Feed past the cutter and cut."""
        self._dummy.cut()


@lru_cache(maxsize=8)
def qr_symbol(data: str) -> np.ndarray:
    """The QR symbol for ``data`` at error correction Q, one element per module (True = dark).

    zxing-cpp's encoder (C++, the same library the scanner reads with): the smallest version
    that holds the data, the data modes and the mask chosen as the QR standard says, in about a
    millisecond; pure-Python encoders spend 20 ms choosing the mask.
    """
    barcode = zxingcpp.create_barcode(data, zxingcpp.BarcodeFormat.QRCode, ec_level="Q")
    modules: np.ndarray = np.asarray(barcode.to_image(scale=1, add_quiet_zones=False)) < 128
    return modules


def qr_module_dots(profile: PrinterProfile, data: str) -> int:
    """Dots per QR module: about :data:`QR_MODULE_MM`, fewer if the code and its quiet zone would
    not fit the print area."""
    modules = qr_symbol(data).shape[0] + 2 * QR_QUIET_ZONE
    module = max(1, round(QR_MODULE_MM * profile.paper.dpi / 25.4))
    while module > 1 and modules * module > profile.paper.print_width_dots:
        module -= 1
    return min(module, 16)  # GS ( k takes 1 to 16


def qr_image(data: str, module: int) -> Image.Image:
    """The QR code as a 1-bit image, ``module`` dots a module, quiet zone of 4 modules included."""
    light = Image.fromarray(~np.pad(qr_symbol(data), QR_QUIET_ZONE, constant_values=False))  # "1": True white
    return light.resize((light.width * module, light.height * module), Image.Resampling.NEAREST)


@lru_cache(maxsize=512)
def _drawn_text_bytes(
    escpos_profile: str, image_command: str, text: str, width: int, size: int, align: str
) -> bytes:
    """The image commands for a drawn line; a municipality's name is drawn once, not per voucher."""
    dummy = Dummy(profile=escpos_profile)
    dummy.image(text_image(text, width=width, size=size, align=align), impl=_IMPL[image_command])
    return bytes(dummy.output)
