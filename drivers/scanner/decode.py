"""Reading codes out of frames: zbar first, zxing-cpp for what zbar cannot read.

A frame is made grey, a phone photo is brought down to at most 1920 pixels on its long side
(decode time grows with the pixels; a code is still dozens of pixels across), and then tried in
steps, cheapest first, until one finds a code:

1. zbar (pyzbar) on a half-size copy, binarised with Otsu's threshold: fast (a few ms for a
   1280 x 720 frame) and reads a code whose modules are 4 pixels or more at full size;
2. zxing-cpp on the grey frame: its local binariser copes with uneven light, low contrast, blur
   and a code at any angle, and with the holes lost dots leave in a thermal print;
3. zbar at full size, binarised: small codes;
4. zxing-cpp on the binarised frame.

The light pre-processing (a 3 x 3 blur before the threshold) only evens out sensor noise; the
error correction of the code itself (Q: a quarter may be lost) does the rest.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import cv2
import numpy as np
import zxingcpp
from pyzbar import pyzbar

from drivers.scanner.errors import ScannerError
from drivers.scanner.frames import FrameSource

MAX_SIDE = 1920
_ZBAR = {
    "QRCODE": pyzbar.ZBarSymbol.QRCODE,
    "EAN13": pyzbar.ZBarSymbol.EAN13,
    "CODE128": pyzbar.ZBarSymbol.CODE128,
}
_ZXING = {
    "QRCODE": zxingcpp.BarcodeFormat.QRCode,
    "EAN13": zxingcpp.BarcodeFormat.EAN13,
    "CODE128": zxingcpp.BarcodeFormat.Code128,
}
_ZXING_NAMES = {v: k for k, v in _ZXING.items()}


@dataclass(frozen=True)
class Decoded:
    """One code read from a frame."""

    text: str
    symbology: str  # QRCODE, EAN13, CODE128
    decoder: str  # "zbar" or "zxing": which one read it


class Decoder:
    """Reads the given symbologies (the scanner profile's ``symbologies``) from frames."""

    def __init__(self, symbologies: Iterable[str] = ("QRCODE",), *, max_side: int = MAX_SIDE) -> None:
        names = list(symbologies)
        unknown = sorted(set(names) - set(_ZBAR))
        if unknown or not names:
            raise ScannerError(
                "unknown_symbology", f"symbologies {unknown or names}: known are {', '.join(_ZBAR)}"
            )
        self.symbologies = tuple(names)
        self.max_side = max_side
        self._zbar_symbols = [_ZBAR[n] for n in names]
        self._zxing_formats = zxingcpp.BarcodeFormats([_ZXING[n] for n in names])
        self._steps: list[Callable[[np.ndarray], list[Decoded]]] = [
            lambda grey: self._zbar(_binarised(_half(grey))),
            self._zxing,
            lambda grey: self._zbar(_binarised(grey)),
            lambda grey: self._zxing(_binarised(grey)),
        ]

    def decode(self, frame: np.ndarray) -> list[Decoded]:
        """Every code found in ``frame`` (empty if none); ``bad_frame`` if it is not an image."""
        grey = self.grey(frame)
        for step in self._steps:
            found = step(grey)
            if found:
                return _distinct(found)
        return []

    def grey(self, frame: np.ndarray) -> np.ndarray:
        """The frame as 8-bit grey, no larger than ``max_side``."""
        if not isinstance(frame, np.ndarray) or frame.dtype != np.uint8 or frame.ndim not in (2, 3):
            raise ScannerError("bad_frame", "a frame must be an 8-bit image array (as OpenCV makes them)")
        if frame.ndim == 3:
            channels = frame.shape[2]
            if channels not in (1, 3, 4):
                raise ScannerError("bad_frame", f"a frame with {channels} channels is not an image")
            frame = (
                frame[:, :, 0]
                if channels == 1
                else cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY if channels == 3 else cv2.COLOR_BGRA2GRAY)
            )
        if min(frame.shape) < 16:
            raise ScannerError(
                "bad_frame", f"a frame of {frame.shape[1]} x {frame.shape[0]} pixels is too small"
            )
        side = max(frame.shape)
        if side > self.max_side:
            scale = self.max_side / side
            frame = cv2.resize(frame, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        return np.ascontiguousarray(frame)

    def _zbar(self, grey: np.ndarray) -> list[Decoded]:
        return [
            Decoded(d.data.decode("utf-8", "replace"), str(d.type), "zbar")
            for d in pyzbar.decode(grey, symbols=self._zbar_symbols)
        ]

    def _zxing(self, grey: np.ndarray) -> list[Decoded]:
        return [
            Decoded(b.text, _ZXING_NAMES.get(b.format, str(b.format)), "zxing")
            for b in zxingcpp.read_barcodes(grey, formats=self._zxing_formats)
            if b.valid
        ]


def _half(grey: np.ndarray) -> np.ndarray:
    return cv2.resize(grey, (grey.shape[1] // 2, grey.shape[0] // 2), interpolation=cv2.INTER_AREA)


def _binarised(grey: np.ndarray) -> np.ndarray:
    blurred = cv2.GaussianBlur(grey, (3, 3), 0)
    return cv2.threshold(blurred, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)[1]


def _distinct(found: list[Decoded]) -> list[Decoded]:
    seen: set[str] = set()
    out = []
    for d in found:
        if d.text not in seen:
            seen.add(d.text)
            out.append(d)
    return out


_DEFAULT: Decoder | None = None


def decode_frame(frame: np.ndarray) -> list[Decoded]:
    """QR codes in one frame (see :class:`Decoder` for other symbologies)."""
    global _DEFAULT
    if _DEFAULT is None:
        _DEFAULT = Decoder()
    return _DEFAULT.decode(frame)


def scan(
    source: FrameSource, decoder: Decoder | None = None, *, timeout: float | None = None
) -> list[Decoded]:
    """The codes in the first frame of ``source`` that holds any.

    A camera gives frames until a code is seen or ``timeout`` seconds pass; image files and
    video end by themselves. ``no_code_found`` when none held a code.
    """
    decoder = decoder or Decoder()
    start = time.monotonic()
    count = 0
    for frame in source.frames():
        count += 1
        found = decoder.decode(frame)
        if found:
            return found
        if timeout is not None and time.monotonic() - start >= timeout:
            raise ScannerError(
                "no_code_found", f"no code seen by {source.name} in {timeout:g} s ({count} frames)"
            )
    raise ScannerError("no_code_found", f"no code in {count} frame(s) from {source.name}")
