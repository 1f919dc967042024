"""The phone voucher page as a shop meets it: Japanese first (English on request), refusals in
words with no code shown, a wrong link answered without a form, the form CSRF-checked; and, in
Chromium at phone size, a page with nothing off-screen and no serious accessibility fault."""

from __future__ import annotations

import html
import os
import re
from pathlib import Path

import pytest
from axe import assert_no_serious_violations
from mkp_testing import tables_snapshot
from phone_page import form_fields, refusal_code
from points_helpers import YOKOSUKA, post

SCREENS = Path(__file__).resolve().parents[2] / "docs" / "screens"


def keep(page, name: str) -> None:
    """The screen as the closing notes show it, when asked for (``MKP_SCREENS=1``)."""
    if os.environ.get("MKP_SCREENS") == "1":
        page.screenshot(path=str(SCREENS / f"{name}.png"), full_page=True)


def _link(client, town) -> dict:
    return post(client, town.central, "/v1/vouchers/phone-links", {"place": "yokosuka-shop"}, 201)


def visible_text(page: str) -> str:
    """What a reader sees: the page without its tags (attributes, such as data-code, hidden)."""
    return html.unescape(re.sub(r"<[^>]+>", " ", page))


def test_a_wrong_link_says_so_in_japanese_and_shows_no_form(client):
    answer = client.get("/vouchers/phone/mkp_vp_wrong")
    page = answer.get_data(as_text=True)
    assert answer.status_code == 403
    assert "このリンクは使えません。商店街の事務局に新しいリンクをお求めください。" in visible_text(page)
    assert "unknown_link" not in visible_text(page) and refusal_code(page) == "unknown_link"
    assert "<form" not in page


@pytest.mark.parametrize(
    ("query", "headers"), [("?lang=en", {}), ("", {"Accept-Language": "en-US,en;q=0.9"})]
)
def test_english_on_request(client, query, headers):
    page = client.get(f"/vouchers/phone/mkp_vp_wrong{query}", headers=headers).get_data(as_text=True)
    assert "This link is not valid. Ask the shopping-street office for a new one." in page
    assert '<html lang="en">' in page


def test_a_refusal_is_in_words_and_the_form_stays(client, engine, vouchers_town):
    link = _link(client, vouchers_town)
    fields = form_fields(client, link["path"])
    before = tables_snapshot(engine)
    empty = client.post(link["path"], data=fields)
    page = empty.get_data(as_text=True)
    assert empty.status_code == 422
    assert "券のQRコードを撮影するか、券番号を入力してください。" in visible_text(page)
    assert "voucher_or_serial" not in visible_text(page)
    typo = client.post(link["path"], data={**fields, "serial": "NOT-A-SERIAL"})
    assert "券番号の形が違います" in visible_text(typo.get_data(as_text=True))
    assert '<form method="post"' in page and 'name="csrf_token"' in page
    assert tables_snapshot(engine) == before


def test_a_form_without_its_csrf_token_changes_nothing(client, engine, vouchers_town):
    link = _link(client, vouchers_town)
    batch = post(
        client,
        vouchers_town.central,
        "/v1/vouchers/batches",
        {"point_code": YOKOSUKA, "amount": 500, "count": 1},
        201,
    )
    before = tables_snapshot(engine)
    forged = client.post(
        link["path"], data={"serial": batch["vouchers"][0]["serial"], "client_id": "phone-x-0001"}
    )
    assert forged.status_code == 400
    assert tables_snapshot(engine) == before


@pytest.mark.slow  # starts a browser
def test_the_page_fits_a_phone_and_passes_axe(app, client, vouchers_town, site_page):
    link = _link(client, vouchers_town)
    phone = site_page(app, phone=True)
    phone.goto(link["path"])
    assert phone.get_by_label("券に印刷された券番号").is_visible()
    assert phone.evaluate("() => document.documentElement.scrollWidth") <= 390
    button = phone.get_by_role("button", name="この券を受け付ける").bounding_box()
    assert button is not None and button["height"] >= 56 and button["width"] >= 300  # a thumb's target
    assert_no_serious_violations(phone)
    keep(phone, "phone-voucher")
    phone.get_by_label("券に印刷された券番号").fill("0000-0000-0000-0000")
    phone.get_by_role("button", name="この券を受け付ける").click()
    phone.get_by_role("alert").wait_for()
    assert "unknown" not in phone.get_by_role("alert").inner_text()
    keep(phone, "phone-voucher-refused")
    assert_no_serious_violations(phone)
    wrong = site_page(app, phone=True)
    wrong.goto("/vouchers/phone/mkp_vp_wrong")
    assert wrong.locator("form").count() == 0
    assert_no_serious_violations(wrong)
