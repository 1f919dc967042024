"""The phone page: a shop without a terminal redeems a voucher by a photo of it or its serial typed in.

A plain HTML form (no script): the operator gives the shop a link (``mkp-admin voucher phone-link
--place P``) whose token names the place; the server keeps only the token's hash. The form
carries a client id made when the page was shown, so sending it twice (a reload, a double tap)
redeems once and shows the first answer. The web issue will dress the page; this is its core.

A photo is small on the wire but not in memory: a PNG of 12000 x 12000 pixels is 164 kB and took
2.7 s and 837 MB to decode. So its pixel size is read from its header (Pillow opens lazily) and a
photo past ``MAX_PHOTO_PIXELS`` is refused before anything is decoded; the same Pillow image is
then decoded, so what was measured is what is read. Only the formats phones send are opened.
"""

from __future__ import annotations

import html
import io
import uuid
import warnings
from typing import Any

from flask import Blueprint, Response, request

from mkp_core.errors import MkpError, TooLarge
from mkp_core.ids import validate_client_id
from server.db.client_ids import phone_key
from server.db.engine import read
from server.db.idempotency import write_once
from server.vouchers import keys, service
from server.web.context import engine, limit_body
from server.web.errors import STATUS_BY_KIND

bp = Blueprint("voucher_phone", __name__, url_prefix="/vouchers/phone")
#: A phone photo (JPEG) of a receipt; the page refuses larger uploads before reading them.
MAX_PHOTO_BYTES = 8 * 1024 * 1024
#: 50 megapixels: a phone's full-resolution 48 MP photo (8000 x 6000) passes; decoded as grey it
#: takes 50 MB at most. The decoder brings every photo down to 1920 pixels a side anyway.
MAX_PHOTO_PIXELS = 50_000_000
PHOTO_FORMATS = ("JPEG", "PNG", "WEBP")

_PAGE = """<!doctype html>
<html lang="ja"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>ポイント利用券の受付 — {place}</title></head>
<body>
<h1>ポイント利用券の受付</h1>
<p>{place}</p>
{result}
<form method="post" enctype="multipart/form-data">
<input type="hidden" name="client_id" value="{client_id}">
<p><label>券の写真 (QRコード)<br><input type="file" name="photo" accept="image/*" capture="environment"></label></p>
<p><label>または券番号<br><input type="text" name="serial" autocomplete="off" placeholder="7K3M-Q9XD-2RWB-F0TE"></label></p>
<p><button type="submit">受け付ける</button></p>
</form>
</body></html>
"""


def _page(place: str, result: str, status: int = 200) -> Response:
    body = _PAGE.format(place=html.escape(place), result=result, client_id=uuid.uuid4())
    return Response(body, status=status, mimetype="text/html")


def _refusal(e: MkpError) -> str:
    return (
        f'<p role="alert"><strong>受け付けできません</strong> ({html.escape(e.code)})<br>'
        f"{html.escape(e.message)}</p>"
    )


def _status(e: MkpError) -> int:
    """The HTTP status of a refusal, as the API's error handler would answer it."""
    return STATUS_BY_KIND.get(e.kind, 400)


@bp.get("/", defaults={"token": None})
@bp.get("/<token>")
def page(token: str | None) -> Response:
    """The form, for the place the link's token names (403 for no token or a wrong one)."""
    try:
        with read(engine()) as conn:
            place = service.place_of_token(conn, token)
    except MkpError as e:
        return _page("", _refusal(e), _status(e))
    return _page(place["name"], "")


@bp.post("/", defaults={"token": None})
@bp.post("/<token>")
def redeem(token: str | None) -> Response:
    """Redeem what the form sent: the photo's QR code (verified like a scan), else the typed serial."""
    limit_body(MAX_PHOTO_BYTES)
    try:
        with read(engine()) as conn:
            place = service.place_of_token(conn, token)
    except MkpError as e:
        return _page("", _refusal(e), _status(e))
    try:
        reply = _redeem(place, request.form, request.files.get("photo"))
    except MkpError as e:
        return _page(place["name"], _refusal(e), _status(e))
    done = (
        f'<p role="status"><strong>受け付けました</strong>: {reply["amount"]:,}ポイント '
        f"(券番号 {html.escape(reply['serial'])})</p>"
    )
    return _page(place["name"], done, 201)


def _redeem(place: dict[str, Any], form: Any, photo: Any) -> dict[str, Any]:
    client_id = str(form.get("client_id") or "")
    serial = (form.get("serial") or "").strip() or None
    text = _scanned(photo.read()) if photo is not None and photo.filename else None
    if text is None and serial is None:
        raise MkpError("voucher_or_serial", "take a photo of the voucher's QR code, or type its serial")
    redemption = service.Redemption(place["id"], f"phone:{place['id']}", text, None if text else serial)
    validate_client_id(client_id)
    return write_once(
        engine(),
        phone_key(place["id"], client_id),
        f"vouchers.phone:{place['id']}",
        {"text": text, "serial": serial},
        lambda conn: service.redeem(conn, redemption, keys.ring(conn), f"phone:{place['id']}"),
    )[0]


def _scanned(data: bytes) -> str:
    """The voucher text in a photo (the scanner's decoder: zbar, then zxing-cpp)."""
    try:
        import numpy as np
        from PIL import Image

        from drivers.scanner import Decoder
        from drivers.scanner.decode import MAX_SIDE
    except ModuleNotFoundError:
        raise MkpError(
            "photo_unsupported", "this server cannot read photos (no scanner libraries): type the serial"
        ) from None
    grey = np.asarray(_decoded_grey(data, Image, MAX_SIDE))
    found = [d.text for d in Decoder().decode(grey) if d.text.startswith("MKP")]
    if not found:
        raise MkpError(
            "no_code_found", "no voucher QR code in the photo: take it again, closer, or type the serial"
        )
    return found[0]


def _decoded_grey(data: bytes, image_module: Any, max_side: int) -> Any:
    """The photo as an 8-bit grey Pillow image, its pixel size checked from its header first."""
    unreadable = MkpError(
        "unreadable_image",
        "the photo could not be read (JPEG, PNG or WebP): take it again, or type the serial",
    )
    try:
        with warnings.catch_warnings():  # Pillow warns of a bomb past 89 MP: ours refuses it below
            warnings.simplefilter("ignore", image_module.DecompressionBombWarning)
            image = image_module.open(io.BytesIO(data), formats=PHOTO_FORMATS)  # reads the header only
    except image_module.DecompressionBombError:  # Pillow's own guard, far past ours
        raise _too_large("far more pixels than") from None
    except (OSError, ValueError, SyntaxError):
        raise unreadable from None
    width, height = image.size
    if width * height > MAX_PHOTO_PIXELS:
        raise _too_large(f"{width} x {height} pixels, more than")
    shrink = max(1, max(width, height) // max_side)
    try:
        image.draft("L", (width // shrink, height // shrink))  # a JPEG decodes at a smaller scale
        return image.convert("L")
    except (OSError, ValueError, SyntaxError):
        raise unreadable from None


def _too_large(what: str) -> TooLarge:
    return TooLarge(
        "photo_too_large",
        f"the photo is {what} this page reads ({MAX_PHOTO_PIXELS // 1_000_000} megapixels): "
        "take it again at the camera's normal size, or type the serial",
    )
