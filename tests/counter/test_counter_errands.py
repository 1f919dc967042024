"""The resident's errands at the counter, as the page gets them from the agent: a MyKey ID, a link
to this place's service or a partner, a coupon, a paper voucher through the camera. Each answer
is what the page shows; a refusal comes with the counter's words, and one that needs no card
(this place has no service, a member number that cannot be one) touches no card."""

from __future__ import annotations

import json

import pytest
from counter_helpers import PIN, offline
from mkp_testing import sqlite_database
from PIL import Image

from agent.counter.messages import message
from drivers.printer.job import qr_image
from drivers.scanner import ImageFiles

WRONG_PIN = "9999"  # would cost a PIN try, and say so, if the card were touched
#: What any refusal without words of its own says.
GENERIC_JA = "処理できませんでした。係の者をお呼びください。"


@pytest.fixture
def database_url(tmp_path) -> str:
    """SQLite, as the rest of this folder: the server side of each errand runs on both databases
    in tests/server (these pass on PostgreSQL too, at twice the time)."""
    return sqlite_database(tmp_path)


def with_service(desk, service: str) -> None:
    """This place's service in the terminal's downloaded config (as a sync would write it)."""
    path = desk.counter.terminal.home.config
    config = json.loads(path.read_text())
    config["place"]["service"] = service
    path.write_text(json.dumps(config))


def test_the_card_s_mykey_id_is_shown(desk):
    done = desk.counter.register(PIN)
    assert done["ok"] and done["kind"] == "register"
    assert done["mykey_id"] == desk.mykey_id and done["created"] is False


def test_a_service_link_where_the_place_has_none_touches_no_card(desk):
    refused = desk.counter.link_service(WRONG_PIN, "789")
    assert refused["error"]["code"] == "no_service"
    assert refused["error"]["message"]["ja"] == "このお店には登録できるサービスがありません。"


def test_a_member_number_that_cannot_be_one_touches_no_card(desk):
    with_service(desk, "A1")
    refused = desk.counter.link_service(WRONG_PIN, "７８９ 番")
    assert refused["error"]["code"] == "invalid_service_id"
    assert refused["error"]["message"]["ja"] == "会員番号は半角の英数字で入力してください。"


def test_an_unknown_partner_and_a_wrong_coupon_are_said_in_words(desk):
    partner = desk.counter.link_partner(PIN, "nosuch", "12345")
    coupon = desk.counter.redeem_coupon(PIN, "ABCD-EFGH")
    for refused in (partner, coupon):
        assert refused["ok"] is False, refused
        assert refused["error"]["message"]["ja"] != GENERIC_JA, refused["error"]


def test_offline_the_errands_say_they_need_the_network(desk):
    offline(desk)
    refused = desk.counter.register(PIN)
    assert refused["error"]["code"] == "offline_not_possible"
    assert desk.counter.online is False


def test_no_camera_no_voucher(desk):
    desk.counter.voucher_camera = None
    assert desk.counter.scan_voucher()["error"]["code"] == "no_scanner"


def camera_seeing(desk, tmp_path, image: Image.Image) -> None:
    """The terminal's camera, showing ``image`` (one frame from a file)."""
    path = tmp_path / "frame.png"
    image.save(path)
    desk.counter.voucher_camera = lambda: ImageFiles([path])


def test_a_camera_that_sees_no_code_says_to_hold_the_voucher_up(desk, tmp_path):
    camera_seeing(desk, tmp_path, Image.new("L", (320, 240), 255))
    refused = desk.counter.scan_voucher()
    assert refused["error"]["code"] == "no_code_found"
    assert refused["error"]["message"]["ja"].startswith("QRコードが読み取れませんでした。")


def test_a_qr_code_that_is_no_voucher_is_refused_in_words(desk, tmp_path):
    camera_seeing(desk, tmp_path, qr_image("https://example.org/not-a-voucher", 6))
    refused = desk.counter.scan_voucher()
    assert refused["ok"] is False and refused["error"]["code"] == "not_a_voucher"
    assert refused["error"]["message"] == message(refused["error"]["code"])
    assert refused["error"]["message"]["ja"] == "この券は使えません。係の者にお申し出ください。"
