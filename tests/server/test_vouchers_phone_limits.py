"""The phone page's photo limits, on SQLite and PostgreSQL: a photo's pixel size is read from its
header and a huge one refused before it is decoded (a small PNG can hold 144 megapixels: decoding
it took seconds and most of a gigabyte); a normal phone-sized JPEG is still read."""

from __future__ import annotations

import io

from mkp_testing import tables_snapshot
from phone_page import form_fields, refusal_code
from points_helpers import YOKOSUKA, post

from server.vouchers import phone


def _link(client, vouchers_town):
    return post(client, vouchers_town.central, "/v1/vouchers/phone-links", {"place": "yokosuka-shop"}, 201)


def _send(client, link, data: bytes, name: str, client_id: str):
    sent = {**form_fields(client, link["path"]), "client_id": client_id, "photo": (io.BytesIO(data), name)}
    return client.post(link["path"], data=sent, content_type="multipart/form-data")


def test_a_photo_of_huge_pixel_size_is_refused_before_it_is_decoded(
    client, engine, vouchers_town, monkeypatch
):
    """An attacker's PNG: 12000 x 12000 pixels of one colour compress to a few dozen kB. Refused
    from its header: not one pixel of it is decoded."""
    from PIL import Image, ImageFile

    bomb = io.BytesIO()
    Image.new("1", (12000, 12000), 1).save(bomb, "PNG")
    assert len(bomb.getvalue()) < phone.MAX_PHOTO_BYTES // 100
    link = _link(client, vouchers_town)
    before = tables_snapshot(engine)

    def decoded(*_: object) -> None:
        raise AssertionError("the photo's pixels were decoded")

    monkeypatch.setattr(ImageFile.ImageFile, "load", decoded)
    refused = _send(client, link, bomb.getvalue(), "voucher.png", "phone-huge-1")
    page = refused.get_data(as_text=True)
    assert refused.status_code == 413, page
    assert refusal_code(page) == "photo_too_large" and "券番号を入力してください" in page
    assert tables_snapshot(engine) == before


def test_a_photo_that_is_no_image_of_a_phone_format_is_refused(client, engine, vouchers_town):
    from PIL import Image

    tiff = io.BytesIO()
    Image.new("L", (64, 64), 255).save(tiff, "TIFF")
    link = _link(client, vouchers_town)
    before = tables_snapshot(engine)
    for n, data in enumerate([tiff.getvalue(), b"\x89PNG\r\n\x1a\n" + b"\0" * 40, b""]):
        refused = _send(client, link, data, "voucher.png", f"phone-odd-{n}")
        page = refused.get_data(as_text=True)
        assert refused.status_code == 422 and refusal_code(page) == "unreadable_image", page
    assert tables_snapshot(engine) == before


def test_a_full_size_phone_jpeg_of_the_voucher_is_read(client, engine, vouchers_town):
    from PIL import Image

    from drivers.printer.render import render
    from drivers.printer.voucher import batch_receipts, voucher_job
    from drivers.profiles import load_printer_profile

    central = vouchers_town.central
    batch = post(
        client, central, "/v1/vouchers/batches", {"point_code": YOKOSUKA, "amount": 500, "count": 1}, 201
    )
    post(client, central, "/v1/vouchers/printed", {"serials": [v["serial"] for v in batch["vouchers"]]}, 200)
    receipt = next(batch_receipts(batch))  # the batch's first voucher, as printed
    profile = load_printer_profile("seiko-rp-f10-58")
    printed = render(profile, voucher_job(profile, receipt).data).image.convert("RGB")
    scale = 4000 / printed.height  # a 12 MP-class photo: the receipt fills its long side
    photo = Image.new("RGB", (3000, 4000), (250, 250, 245))
    photo.paste(printed.resize((int(printed.width * scale), 4000)), (0, 0))
    jpeg = io.BytesIO()
    photo.save(jpeg, "JPEG", quality=90)
    done = _send(client, _link(client, vouchers_town), jpeg.getvalue(), "IMG_0001.jpg", "phone-jpeg-1")
    assert done.status_code == 201, done.get_data(as_text=True)
    assert "500ポイント" in done.get_data(as_text=True)
