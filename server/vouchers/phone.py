"""The phone page: a shop without a terminal redeems a voucher by a photo of it or its serial typed in.

A form (no script) on the page kernel (``server.site``): CSRF-checked, in Japanese or English as the
visitor asks (``?lang=en``, ``Accept-Language``), styled for a phone held in one hand: big fields
and buttons, the camera opened by the photo field. The operator gives the shop a link
(``mkp-admin voucher phone-link --place P``) whose token names the place; the server keeps only
the token's hash, and a wrong or revoked link gets a page that says so and shows no form. The
form carries a client id made when the page was shown, so sending it twice (a reload, a double
tap) redeems once and shows the first answer. A refusal is said in words the shop can act on,
never as a code (the code stays in the page's markup, ``data-code``, for scripts and tests).

A photo is small on the wire but not in memory: a PNG of 12000 x 12000 pixels is 164 kB and took
2.7 s and 837 MB to decode. So its pixel size is read from its header (Pillow opens lazily) and a
photo past ``MAX_PHOTO_PIXELS`` is refused before anything is decoded; the same Pillow image is
then decoded, so what was measured is what is read. Only the formats phones send are opened.
"""

from __future__ import annotations

import io
import uuid
import warnings
from datetime import datetime
from typing import Any

from flask import Response, request
from werkzeug.exceptions import RequestEntityTooLarge

from mkp_core.errors import MkpError, TooLarge
from mkp_core.i18n import N_
from mkp_core.ids import validate_client_id
from mkp_core.voucher import JST
from server.db.client_ids import phone_key
from server.db.engine import read
from server.db.idempotency import write_once
from server.site import gettext, page_blueprint, render
from server.vouchers import keys, service
from server.web.context import engine, limit_body
from server.web.errors import STATUS_BY_KIND

bp = page_blueprint("voucher_phone", __name__, url_prefix="/vouchers/phone")
#: A phone photo (JPEG) of a receipt; the page refuses larger uploads before reading them.
MAX_PHOTO_BYTES = 8 * 1024 * 1024
#: 50 megapixels: a phone's full-resolution 48 MP photo (8000 x 6000) passes; decoded as grey it
#: takes 50 MB at most. The decoder brings every photo down to 1920 pixels a side anyway.
MAX_PHOTO_PIXELS = 50_000_000
PHOTO_FORMATS = ("JPEG", "PNG", "WEBP")

#: What the shop reads for each refusal: what happened and what to do (the catalogue has the
#: Japanese). A code not listed gets :data:`OTHER_REFUSAL`.
REFUSALS = {
    "unknown_link": N_("This link is not valid. Ask the shopping-street office for a new one."),
    "voucher_or_serial": N_("Take a photo of the voucher's QR code, or type its serial number."),
    "no_code_found": N_(
        "No voucher QR code was found in the photo. Take it again, closer, or type the serial number."
    ),
    "unreadable_image": N_("The photo could not be read. Take it again, or type the serial number."),
    "photo_too_large": N_(
        "The photo is too large. Take it again at the camera's normal size, or type the serial number."
    ),
    "photo_unsupported": N_("Photos cannot be read here. Type the serial number."),
    "too_large": N_(
        "The photo is too large. Take it again at the camera's normal size, or type the serial number."
    ),
    "voucher_used": N_("This voucher has been used already (%(when)s, %(place)s). Do not accept it."),
    "voucher_expired": N_("This voucher has expired. Do not accept it."),
    "voucher_voided": N_("This voucher is void. Do not accept it."),
    "voucher_not_yet_valid": N_("This voucher is not valid yet. Do not accept it."),
    "not_allowed_here": N_("This voucher cannot be used at this shop."),
    "invalid_voucher_serial": N_(
        "That is not a serial number. Check it and type it again (16 letters and digits)."
    ),
    "unknown_voucher": N_("There is no voucher with this serial number. Check it and type it again."),
    "invalid_client_id": N_("This form has expired. Reload the page and send it again."),
}
OTHER_REFUSAL = N_("This voucher cannot be accepted. Do not accept it, and ask the shopping-street office.")


def _refusal_text(e: MkpError) -> str:
    """The shop's words for a refusal, its details (when and where a voucher was used) filled in."""
    words = REFUSALS.get(e.code) or (
        REFUSALS["voucher_voided"] if e.code.startswith(("voucher_", "invalid_voucher")) else OTHER_REFUSAL
    )
    if e.code != "voucher_used":
        return gettext(words)
    used = (e.details or [{}])[0]
    when = used.get("redeemed_at")
    at = f"{datetime.fromisoformat(when).astimezone(JST):%Y-%m-%d %H:%M}" if when else "?"
    return gettext(words, when=at, place=used.get("place_name") or "?")


def _page(place: dict[str, Any] | None, status: int = 200, **shown: Any) -> Response:
    """The page; without a ``place`` (a wrong link) it says why and shows no form."""
    return render(
        "vouchers/phone.html",
        status=status,
        place=place,
        client_id=uuid.uuid4(),
        **shown,
    )


def _refused(place: dict[str, Any] | None, e: MkpError) -> Response:
    return _page(place, STATUS_BY_KIND.get(e.kind, 400), refusal=_refusal_text(e), code=e.code)


def _place(token: str | None) -> dict[str, Any]:
    with read(engine()) as conn:
        return service.place_of_token(conn, token)


@bp.url_value_preprocessor
def _allow_a_photo(endpoint: str | None, values: dict[str, Any] | None) -> None:
    """A photo is larger than the API's body limit: the limit is raised here, before the CSRF check
    reads the form (a body past it is refused from its length, unread)."""
    if request.method == "POST":
        limit_body(MAX_PHOTO_BYTES)


def _too_large_page(e: Exception) -> Response:
    """A body past the photo limit: the form again, saying so (a wrong link: no form)."""
    try:
        place = _place((request.view_args or {}).get("token"))
    except MkpError as refusal:
        return _refused(None, refusal)
    return _refused(place, TooLarge("photo_too_large", "the photo is larger than this page reads"))


bp.register_error_handler(TooLarge, _too_large_page)
bp.register_error_handler(RequestEntityTooLarge, _too_large_page)


@bp.get("/", defaults={"token": None})
@bp.get("/<token>")
def page(token: str | None) -> Response:
    """The form, for the place the link's token names (403 and no form for no token or a wrong one)."""
    try:
        place = _place(token)
    except MkpError as e:
        return _refused(None, e)
    return _page(place)


@bp.post("/", defaults={"token": None})
@bp.post("/<token>")
def redeem(token: str | None) -> Response:
    """Redeem what the form sent: the photo's QR code (verified like a scan), else the typed serial."""
    try:
        place = _place(token)
    except MkpError as e:
        return _refused(None, e)
    try:
        reply = _redeem(place, request.form, request.files.get("photo"))
    except MkpError as e:
        return _refused(place, e)
    return _page(place, 201, done=reply)


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
