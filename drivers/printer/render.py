"""A small ESC/POS printer in software: the bytes a receipt printer gets, drawn as its paper.

Shipped (not only a test tool) because people need to see a voucher without a printer: the demo
shows one as a PNG, and ``mkp-admin voucher issue --pdf`` lays the vouchers out for a print
shop exactly as a receipt printer would print them. The round-trip tests draw with it too.

It knows only the commands mkp's printer module sends (the list below); any other control byte
or command is a :class:`RenderError`, so a receipt that would print garbage on a real printer
fails its test. Japanese is read as a printer in Kanji mode reads it (FS C 1: Shift JIS) and
must be valid JIS X 0208 Shift JIS; outside Kanji mode only printable ASCII is allowed (no
GB18030 or code-page bytes can leak onto the paper).

Commands: LF; ESC @ (init), ESC a (align), ESC ! (print mode), ESC E (bold), ESC t (code page),
ESC d (print and feed); GS ! (size), GS V (cut), GS v 0 (raster image), GS ( L (graphics:
store, print), GS ( k (QR: model, module size, error correction, store, print); FS & / FS . (Kanji
mode on / off), FS C (Kanji code system).

A QR code the printer draws itself is drawn here from its stored data with the ``qrcode``
library at the module size and error correction the job set, as the printer's own encoder would
(smallest version, automatic data modes, no quiet zone: the paper around it is the quiet zone).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
import qrcode
import qrcode.constants
from PIL import Image, ImageDraw, ImageFont

from drivers.printer.errors import PrinterError
from drivers.printer.japanese import find_japanese_font
from drivers.profiles import PrinterProfile

ESC, GS, FS, LF = 0x1B, 0x1D, 0x1C, 0x0A
ANK_W, CELL_H, KANJI_W = 12, 24, 24  # Font A
LINE_SPACING_IN = 1 / 6  # ESC 2, the power-on default
_EC = {48: qrcode.constants.ERROR_CORRECT_L, 49: qrcode.constants.ERROR_CORRECT_M,
       50: qrcode.constants.ERROR_CORRECT_Q, 51: qrcode.constants.ERROR_CORRECT_H}  # fmt: skip


class RenderError(PrinterError):
    """Bytes a receipt printer would not print as meant (``unprintable``)."""

    def __init__(self, message: str) -> None:
        super().__init__("unprintable", message)


@dataclass
class Receipt:
    """What came out of the printer."""

    image: Image.Image  # the paper, white margins included, at the printer's dpi ("L": 0 black)
    lines: list[str] = field(default_factory=list)  # text printed as text (ASCII and Kanji mode)
    qr_codes: list[str] = field(default_factory=list)  # data of QR codes the printer drew (GS ( k)
    qr_ec: list[str] = field(default_factory=list)  # their error correction levels, "L" .. "H"
    images: int = 0  # images printed (GS v 0, GS ( L)
    cuts: int = 0
    commands: list[str] = field(default_factory=list)  # every command, by name, in order


@dataclass
class _State:
    align: int = 0
    width_mul: int = 1
    height_mul: int = 1
    ank_double_w: bool = False
    ank_double_h: bool = False
    kanji: bool = False
    kanji_system: int | None = None
    qr_module: int = 3
    qr_ec: int = 48
    qr_data: bytes | None = None
    graphics: np.ndarray | None = None


class EscPosRenderer:
    """Parse and draw one job for one printer profile."""

    def __init__(self, profile: PrinterProfile) -> None:
        self.profile = profile
        self.width = profile.paper.print_width_dots
        self.dpi = profile.paper.dpi
        self.line_pitch = round(LINE_SPACING_IN * self.dpi)
        self.font = _font()
        self.rows: list[np.ndarray] = []
        self.line: list[tuple[str, int, int]] = []  # (character, cell width, height multiplier)
        self.state = _State()
        self.receipt = Receipt(image=Image.new("L", (1, 1), 255))
        self._text = ""

    # --- drawing -----------------------------------------------------------------------------

    def _block(self, ink: np.ndarray) -> None:
        """Put a block of dots (True = black) on the paper at the current alignment."""
        height, width = ink.shape
        if width > self.width:
            raise RenderError(f"an image {width} dots wide does not fit {self.width} dots")
        row = np.full((height, self.width), 255, np.uint8)
        left = {0: 0, 1: (self.width - width) // 2, 2: self.width - width}[self.state.align]
        row[:, left : left + width][ink] = 0
        self.rows.append(row)

    def _glyph(self, ch: str, width: int, height: int) -> np.ndarray:
        return _glyph(self.font, ch, width, height)

    def _print_line(self, feed: bool = True) -> None:
        if self.line:
            height = CELL_H * max(h for _, _, h in self.line)
            pieces = [self._glyph(ch, w, CELL_H * h) for ch, w, h in self.line]
            pieces = [np.vstack([np.zeros((height - p.shape[0], p.shape[1]), bool), p]) for p in pieces]
            self._block(np.hstack(pieces))
            self.rows.append(np.full((max(0, self.line_pitch - CELL_H), self.width), 255, np.uint8))
            self.receipt.lines.append(self._text)
        elif feed:
            self.rows.append(np.full((self.line_pitch, self.width), 255, np.uint8))
        self.line, self._text = [], ""

    def _char(self, ch: str, kanji: bool) -> None:
        s = self.state
        if kanji:
            width, height = KANJI_W * s.width_mul, s.height_mul
        else:
            width = ANK_W * max(s.width_mul, 2 if s.ank_double_w else 1)
            height = max(s.height_mul, 2 if s.ank_double_h else 1)
        if sum(w for _, w, _ in self.line) + width > self.width:  # the printer wraps a long line
            self._print_line()
        self.line.append((ch, width, height))
        self._text += ch

    # --- parsing -----------------------------------------------------------------------------

    def render(self, data: bytes) -> Receipt:
        i = 0
        while i < len(data):
            i = self._step(data, i)
        if self.line:
            raise RenderError(f"text left unprinted at the end of the job: {self._text!r}")
        return self._finish()

    def _step(self, data: bytes, i: int) -> int:
        b = data[i]
        if b == LF:
            self.receipt.commands.append("LF")
            self._print_line()
            return i + 1
        if b in (ESC, GS, FS):
            return self._command(data, i)
        if b < 0x20 or b == 0x7F:
            raise RenderError(f"control byte 0x{b:02x} at {i} is not a command this printer is sent")
        return self._text_bytes(data, i)

    def _text_bytes(self, data: bytes, i: int) -> int:
        b = data[i]
        if 0x20 <= b < 0x7F:
            self._char(chr(b), kanji=False)
            return i + 1
        if not self.state.kanji:
            raise RenderError(
                f"byte 0x{b:02x} at {i} outside Kanji mode: not ASCII, would print as code-page garbage"
            )
        if self.state.kanji_system != 1:
            raise RenderError(f"Kanji bytes at {i} before FS C 1 (Shift JIS) was selected")
        pair = data[i : i + 2]
        try:
            ch = pair.decode("shift_jis")
        except UnicodeDecodeError:
            raise RenderError(f"bytes {pair.hex()} at {i} are not a Shift JIS character") from None
        if len(pair) != 2 or len(ch) != 1 or ch.isascii():
            raise RenderError(
                f"bytes {pair.hex()} at {i}: a one-byte character in Kanji mode (half-width kana?)"
            )
        self._char(ch, kanji=True)
        return i + 2

    def _command(self, data: bytes, i: int) -> int:
        prefix, op = data[i], data[i + 1] if i + 1 < len(data) else None
        handler = _COMMANDS.get((prefix, op)) if op is not None else None
        if handler is None:
            raise RenderError(f"unknown command {bytes(data[i : i + 3]).hex(' ')} at {i}")
        name, method = handler
        self.receipt.commands.append(
            f"GS ( {chr(data[i + 2])}" if name == "GS (" and i + 2 < len(data) else name
        )
        return method(self, data, i + 2)

    def _arg(self, data: bytes, i: int, n: int = 1) -> bytes:
        if i + n > len(data):
            raise RenderError(f"command at {i - 2} is cut short")
        return data[i : i + n]

    # one method per command: each takes the index after the two command bytes, returns the next
    def _init(self, data: bytes, i: int) -> int:
        if self.line:
            raise RenderError("ESC @ with text not yet printed")
        self.state = _State()
        return i

    def _align(self, data: bytes, i: int) -> int:
        n = self._arg(data, i)[0]
        if n not in (0, 1, 2, 48, 49, 50):
            raise RenderError(f"ESC a {n}: no such alignment")
        self.state.align = n % 48
        return i + 1

    def _mode(self, data: bytes, i: int) -> int:
        n = self._arg(data, i)[0]
        self.state.ank_double_h, self.state.ank_double_w = bool(n & 0x10), bool(n & 0x20)
        return i + 1

    def _one_arg(
        self, data: bytes, i: int
    ) -> int:  # ESC E (bold), ESC t (code page): no change to the dots here
        self._arg(data, i)
        return i + 1

    def _feed(self, data: bytes, i: int) -> int:
        n = self._arg(data, i)[0]
        self._print_line(feed=False)
        self.rows.append(np.full((n * self.line_pitch, self.width), 255, np.uint8))
        return i + 1

    def _size(self, data: bytes, i: int) -> int:
        n = self._arg(data, i)[0]
        self.state.width_mul, self.state.height_mul = (n >> 4) + 1, (n & 0x0F) + 1
        if self.state.width_mul > 8 or self.state.height_mul > 8:
            raise RenderError(f"GS ! 0x{n:02x}: no such size")
        return i + 1

    def _cut(self, data: bytes, i: int) -> int:
        m = self._arg(data, i)[0]
        if m not in (0, 1, 48, 49, 65, 66):
            raise RenderError(f"GS V {m}: no such cut")
        self._print_line(feed=False)
        self.receipt.cuts += 1
        return i + 1 + (1 if m in (65, 66) else 0)

    def _raster(self, data: bytes, i: int) -> int:
        if self._arg(data, i)[0] != 0x30:
            raise RenderError("GS v: only GS v 0 (raster bit image) is known")
        m, xl, xh, yl, yh = self._arg(data, i + 1, 5)
        if m != 0:
            raise RenderError(f"GS v 0 m={m}: only normal density is sent")
        width_bytes, height = xl + 256 * xh, yl + 256 * yh
        bits = self._arg(data, i + 6, width_bytes * height)
        self._print_line(feed=False)
        self._block(_unpack(bits, width_bytes, height))
        self.receipt.images += 1
        return i + 6 + width_bytes * height

    def _graphics(self, data: bytes, i: int) -> int:
        if self._arg(data, i)[0] != 0x4C:  # GS ( L
            return self._qr(data, i)
        pl, ph, m, fn = self._arg(data, i + 1, 4)
        size = pl + 256 * ph
        body = self._arg(data, i + 3, size)
        if m != 0x30 or fn not in (0x70, 0x32):
            raise RenderError(f"GS ( L m={m} fn={fn}: only store (p) and print (2) are sent")
        if fn == 0x32:
            if self.state.graphics is None:
                raise RenderError("GS ( L print with no graphics stored")
            self._print_line(feed=False)
            self._block(self.state.graphics)
            self.state.graphics = None
            self.receipt.images += 1
        else:
            tone, bx, by, color, xl, xh, yl, yh = body[2:10]
            if (tone, bx, by, color) != (0x30, 1, 1, 0x31):
                raise RenderError("GS ( L store: only monochrome at normal size is sent")
            width, height = xl + 256 * xh, yl + 256 * yh
            width_bytes = (width + 7) // 8
            self.state.graphics = _unpack(body[10:], width_bytes, height)[:, :width]
        return i + 3 + size

    def _qr(self, data: bytes, i: int) -> int:
        if self._arg(data, i)[0] != 0x6B:  # GS ( k
            raise RenderError(f"GS ( {chr(data[i])!r}: not a command this printer is sent")
        pl, ph, cn, fn = self._arg(data, i + 1, 4)
        size = pl + 256 * ph
        body = self._arg(data, i + 5, size - 2)
        if cn != 0x31:
            raise RenderError(f"GS ( k cn={cn}: only QR codes (49) are sent")
        s = self.state
        if fn == 65 and body in (b"\x31\x00", b"\x32\x00"):  # model 1 / 2
            pass
        elif fn == 67 and len(body) == 1 and 1 <= body[0] <= 16:
            s.qr_module = body[0]
        elif fn == 69 and len(body) == 1 and body[0] in _EC:
            s.qr_ec = body[0]
        elif fn == 80 and body[:1] == b"0" and len(body) > 1:
            s.qr_data = bytes(body[1:])
        elif fn == 81 and body == b"0":
            self._print_qr()
        else:
            raise RenderError(f"GS ( k fn={fn} with {bytes(body).hex()}: not sent by mkp")
        return i + 3 + size

    def _print_qr(self) -> None:
        s = self.state
        if s.qr_data is None:
            raise RenderError("GS ( k print with no QR data stored")
        text = s.qr_data.decode("ascii")
        modules = _qr_modules(text, _EC[s.qr_ec])
        self._print_line(feed=False)
        self._block(np.kron(modules, np.ones((s.qr_module, s.qr_module), bool)))
        self.receipt.qr_codes.append(text)
        self.receipt.qr_ec.append("LMQH"[s.qr_ec - 48])

    def _kanji_on(self, data: bytes, i: int) -> int:
        self.state.kanji = True
        return i

    def _kanji_off(self, data: bytes, i: int) -> int:
        self.state.kanji = False
        return i

    def _kanji_system(self, data: bytes, i: int) -> int:
        n = self._arg(data, i)[0]
        if n not in (0, 1, 48, 49):
            raise RenderError(f"FS C {n}: no such Kanji code system")
        self.state.kanji_system = n % 48
        return i + 1

    def _finish(self) -> Receipt:
        paper = round(self.profile.paper.width_mm * self.dpi / 25.4)
        body = np.vstack(self.rows) if self.rows else np.full((1, self.width), 255, np.uint8)
        page = np.full((body.shape[0], paper), 255, np.uint8)
        left = (paper - self.width) // 2
        page[:, left : left + self.width] = body
        self.receipt.image = Image.fromarray(page, "L")
        return self.receipt


@lru_cache(maxsize=4096)
def _glyph(font: ImageFont.FreeTypeFont, ch: str, width: int, height: int) -> np.ndarray:
    """One character in its cell (Font A's 12 x 24, 24 x 24 for Kanji; scaled for bigger sizes)."""
    cell = Image.new("L", (width, height), 255)
    glyph = Image.new("L", (KANJI_W if width >= KANJI_W else ANK_W, CELL_H), 255)
    ImageDraw.Draw(glyph).text((0, 1), ch, font=font, fill=0)
    cell.paste(glyph.resize((width, height)), (0, 0))
    return np.asarray(cell) < 128


@lru_cache(maxsize=64)
def _qr_modules(text: str, ec: int) -> np.ndarray:
    """The symbol the printer's encoder makes of ``text``: smallest version, automatic modes."""
    qr = qrcode.QRCode(error_correction=ec, box_size=1, border=0)
    qr.add_data(text)
    qr.make(fit=True)
    return np.array(qr.get_matrix(), dtype=bool)


def _unpack(bits: bytes, width_bytes: int, height: int) -> np.ndarray:
    """Raster bytes (MSB first, 1 = black) as rows of booleans."""
    array = np.frombuffer(bytes(bits), np.uint8).reshape(height, width_bytes)
    return np.unpackbits(array, axis=1).astype(bool)


_COMMANDS = {
    (ESC, 0x40): ("ESC @", EscPosRenderer._init),
    (ESC, 0x61): ("ESC a", EscPosRenderer._align),
    (ESC, 0x21): ("ESC !", EscPosRenderer._mode),
    (ESC, 0x45): ("ESC E", EscPosRenderer._one_arg),
    (ESC, 0x74): ("ESC t", EscPosRenderer._one_arg),
    (ESC, 0x64): ("ESC d", EscPosRenderer._feed),
    (GS, 0x21): ("GS !", EscPosRenderer._size),
    (GS, 0x56): ("GS V", EscPosRenderer._cut),
    (GS, 0x76): ("GS v 0", EscPosRenderer._raster),
    (GS, 0x28): ("GS (", EscPosRenderer._graphics),
    (FS, 0x26): ("FS &", EscPosRenderer._kanji_on),
    (FS, 0x2E): ("FS .", EscPosRenderer._kanji_off),
    (FS, 0x43): ("FS C", EscPosRenderer._kanji_system),
}


@lru_cache(maxsize=1)
def _font() -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(find_japanese_font()), CELL_H - 2)


def render(profile: PrinterProfile, data: bytes) -> Receipt:
    """Draw the job ``data`` as ``profile``'s printer would print it."""
    return EscPosRenderer(profile).render(data)
