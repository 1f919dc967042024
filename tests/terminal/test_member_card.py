"""A street's old member card scanned at a kiosk to link its number: the number in
its barcode, or a clear refusal before the My Number card is touched."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import zxingcpp
from mkp_testing import invoke

from agent.cli import main
from agent.member_card import number_from_barcode
from mkp_core.errors import MkpError


def card_photo(tmp_path, fmt: zxingcpp.BarcodeFormat, text: str, name: str = "card.png"):
    """The barcode as a photo would show it: on a white card, with a margin."""
    code = np.array(zxingcpp.write_barcode_to_image(zxingcpp.create_barcode(text, fmt), scale=4))
    photo = np.full((code.shape[0] + 200, code.shape[1] + 200), 255, dtype=np.uint8)
    photo[100:-100, 100:-100] = code
    path = tmp_path / name
    cv2.imwrite(str(path), photo)
    return path


@pytest.mark.parametrize(
    ("fmt", "text"),
    [(zxingcpp.BarcodeFormat.Code128, "A1-000789"), (zxingcpp.BarcodeFormat.EAN13, "4912345678904")],
)
def test_the_number_is_read_from_the_cards_barcode(tmp_path, fmt, text):
    assert number_from_barcode(card_photo(tmp_path, fmt, text)) == text


def test_a_barcode_that_holds_no_member_number_is_refused(tmp_path):
    photo = card_photo(tmp_path, zxingcpp.BarcodeFormat.QRCode, "https://example.jp/点数")
    with pytest.raises(MkpError) as e:
        number_from_barcode(photo)
    assert e.value.code == "invalid_service_id"


def test_the_cli_refuses_before_touching_the_card(tmp_path):
    blank = tmp_path / "blank.png"
    cv2.imwrite(str(blank), np.full((200, 200), 255, dtype=np.uint8))
    both = invoke(
        main, "mykey", "link", "A1", "789", "--scan-image", str(blank), "--server", "http://127.0.0.1:9"
    )
    assert both.exit_code == 2 and "one of them" in both.stderr
    unread = invoke(main, "mykey", "link", "A1", "--scan-image", str(blank), "--server", "http://127.0.0.1:9")
    assert unread.exit_code != 0 and "no_code_found" in unread.stderr
