"""A shopping street's old member card, read at a kiosk: the number in its barcode.

A street that retires its own card asks its members to link their member number to their MyKey
ID (their balance is credited then). Typing it works; scanning the card's barcode (CODE128 or
EAN-13, as point cards print them, or a QR code) avoids typos. The number read must be a MyKey
service ID (letters, digits, '.', '_', '-'), as a typed one must.
"""

from __future__ import annotations

from pathlib import Path

from mkp_core.errors import MkpError
from mkp_core.ids import validate_local_service_id

SYMBOLOGIES = ("CODE128", "EAN13", "QRCODE")


def number_from_barcode(image: Path | None = None, camera: int | None = None, timeout: float = 30) -> str:
    """The member number in the first barcode of ``image``, or seen by ``camera`` within ``timeout`` s."""
    from drivers.scanner import Camera, Decoder, ImageFiles, scan

    decoder = Decoder(SYMBOLOGIES)
    if image is not None:
        found = scan(ImageFiles([image]), decoder)
    else:
        with Camera(camera or 0) as source:
            found = scan(source, decoder, timeout=timeout)
    text = found[0].text.strip()
    try:
        return validate_local_service_id(text)
    except MkpError:
        raise MkpError(
            "invalid_service_id",
            f"the barcode holds {text[:40]!r}, not a member number: type the number instead",
        ) from None
