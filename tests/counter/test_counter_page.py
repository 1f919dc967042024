"""The counter page in a real browser: Playwright drives Debian's headless Chromium (no browser is
downloaded) against the agent's page on 127.0.0.1, with the virtual card in the reader and the
server in this process. A screenshot is kept when a test fails; with MKP_SCREENS=1 one of each
screen goes to docs/screens/ (README shows them), so a test run leaves the work tree as it was."""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from axe import assert_no_serious_violations
from browser import KIOSK, PHONE
from counter_helpers import PIN, enter_pin, offline, online, type_keys
from mkp_testing import sqlite_database

from agent.counter.words import WORDS
from mkp_core import activation_code, i18n
from mkp_core.client import Unreachable

pytestmark = pytest.mark.slow  # starts a browser
SCREENS = Path(__file__).resolve().parents[2] / "docs" / "screens"


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    """The page is the point here: SQLite only (the counter's server side runs on both elsewhere)."""
    return sqlite_database(tmp_path)


@pytest.fixture
def open_page(chromium, counter_url, tmp_path, request) -> Iterator:
    """Open the counter page at a screen size; a failed test keeps a screenshot of each tab."""
    tabs = []

    def open_at(viewport: dict[str, int]):
        tab = chromium.new_page(viewport=viewport)
        tab.goto(counter_url)
        tab.get_by_test_id("place").filter(has_text="横須賀").wait_for()  # the agent's state is in
        tabs.append(tab)
        return tab

    yield open_at
    report = getattr(request.node, "rep_call", None)
    for n, tab in enumerate(tabs):
        if report is not None and report.failed:
            tab.screenshot(path=str(tmp_path / f"failure-{n}.png"))
            print(f"screenshot of the failure: {tmp_path / f'failure-{n}.png'}")
        tab.close()


@pytest.fixture
def page(open_page):
    return open_page(KIOSK)


def pay(page, amount: str, pin: str, shoot: bool = False) -> None:
    page.get_by_test_id("action-spend").click()
    type_keys(page, "amount", amount)
    if shoot:
        keep(page, "amount")
    page.get_by_test_id("amount-ok").click()
    page.get_by_test_id("screen-pin").wait_for(state="visible")
    type_keys(page, "pin", pin)
    if shoot:
        keep(page, "pin")
    page.get_by_test_id("pin-ok").click()
    page.get_by_test_id("screen-result").wait_for(state="visible", timeout=20_000)


def keep(page, name: str) -> None:
    """The screen as README shows it, when asked for (``MKP_SCREENS=1``); drawn either way."""
    image = page.screenshot()
    if os.environ.get("MKP_SCREENS") == "1":
        SCREENS.mkdir(parents=True, exist_ok=True)
        (SCREENS / f"{name}.png").write_bytes(image)


def test_a_spend_from_button_to_printed_receipt(page, desk):
    page.get_by_test_id("screen-home").wait_for(state="visible")
    keep(page, "home")
    pay(page, "300", "1234", shoot=True)
    keep(page, "result")
    assert page.get_by_test_id("result-title").inner_text() == "お支払いが完了しました"
    assert "300" in page.get_by_test_id("result-main").inner_text()
    assert page.get_by_test_id("result-receipt").inner_text() == "レシートを印刷しました"
    assert desk.points() == 2700
    page.get_by_test_id("result-ok").click()
    page.get_by_test_id("screen-home").wait_for(state="visible")


def test_a_wrong_pin_says_so_and_takes_nothing(page, desk):
    pay(page, "300", "9999")
    keep(page, "wrong-pin")
    assert page.get_by_test_id("result-title").inner_text() == "お取り扱いできませんでした"
    assert "2" in page.get_by_test_id("result-main").inner_text()  # tries left
    assert desk.points() == 3000


def test_an_offline_spend_and_its_sync(page, desk):
    offline(desk)
    pay(page, "200", "1234")
    keep(page, "offline")
    assert page.get_by_test_id("result-offline").is_visible()
    assert page.get_by_test_id("result-offline").inner_text() == "オフライン取引"
    assert desk.points() == 3000
    online(desk)
    assert desk.counter.sync()["accepted"] == 1
    assert desk.points() == 2800


def test_english_at_a_touch(page):
    page.get_by_test_id("language").click()
    assert page.get_by_test_id("action-spend").inner_text() == "Pay with points"


def shown_words(page) -> dict[str, str]:
    """Every word the page drew by its key (on every screen, shown or not), as it reads now."""
    return page.evaluate(
        "() => Object.fromEntries([...document.querySelectorAll('[data-t]')]"
        ".map((el) => [el.dataset.t, el.textContent]))"
    )


def test_the_words_on_the_page_are_the_catalogues_in_either_language(page):
    page.get_by_test_id("screen-home").wait_for(state="visible")
    for lang, switch in (("ja", "English"), ("en", "日本語")):
        shown = shown_words(page)
        assert shown == {key: i18n.gettext(WORDS[key], lang) for key in shown}
        assert page.title() == i18n.gettext(WORDS["title"], lang)
        assert page.get_by_test_id("language").inner_text() == switch
        page.get_by_test_id("language").click()
    assert shown_words(page)["pay"] == "お支払い"  # and back again


def test_a_page_that_cannot_read_its_words_draws_no_screen_until_it_can(chromium, counter_url):
    tab = chromium.new_page(viewport=KIOSK)
    try:
        tab.route("**/api/words", lambda route: route.abort())
        tab.goto(counter_url)
        tab.get_by_test_id("place").filter(has_text="横須賀").wait_for()  # the agent's state is in
        assert tab.get_by_test_id("screen-home").is_hidden()
        assert tab.get_by_test_id("language").is_hidden()
        tab.unroute("**/api/words")
        tab.get_by_test_id("screen-home").wait_for(state="visible")  # asked again, and drawn
        assert tab.get_by_test_id("action-spend").inner_text() == "お支払い"
        assert tab.get_by_test_id("language").inner_text() == "English"
    finally:
        tab.close()


def test_the_balance_is_shown_with_what_expires_next(page):
    page.get_by_test_id("action-balance").click()
    enter_pin(page)
    assert page.get_by_test_id("result-title").inner_text() == "ポイント残高"
    assert page.get_by_test_id("result-main").inner_text() == "3,000 ポイント"
    assert page.get_by_test_id("result-detail").inner_text() == "横須賀市ポイント: 3,000 ポイント"
    page.get_by_test_id("result-ok").click()
    page.get_by_test_id("screen-home").wait_for(state="visible")


def test_an_agent_that_does_not_answer_gives_a_way_back(page, desk, monkeypatch):
    desk.counter.action_timeout_s = 1
    answer = threading.Event()  # the agent answers only when the test is done
    monkeypatch.setattr(desk.counter, "balance", lambda pin: answer.wait(10) and {"ok": False})
    page.reload()
    page.get_by_test_id("action-balance").click()
    try:
        enter_pin(page)
        assert page.get_by_test_id("result-title").inner_text() == "応答がありません"
        assert "係の者" in page.get_by_test_id("result-main").inner_text()
        page.get_by_test_id("result-ok").click()
        page.get_by_test_id("screen-home").wait_for(state="visible")
    finally:
        answer.set()


def test_a_payment_shows_the_balance_left_and_its_refund_the_amount(page, desk):
    pay(page, "300", PIN)
    assert page.get_by_test_id("result-detail").inner_text() == "残り 2,700 ポイント"
    page.get_by_test_id("result-ok").click()
    page.get_by_test_id("action-refund").click()
    page.get_by_test_id("screen-refunds").get_by_role("button").first.click()
    enter_pin(page)
    assert page.get_by_test_id("result-title").inner_text() == "払い戻しが完了しました"
    assert page.get_by_test_id("result-main").inner_text() == "300 ポイント"
    assert desk.points() == 3000


def test_digit_keys_enter_the_amount_and_the_pin(page, desk):
    page.get_by_test_id("action-spend").focus()
    page.keyboard.press("Enter")
    page.get_by_test_id("screen-amount").wait_for(state="visible")
    page.keyboard.type("2500")
    page.keyboard.press("Backspace")
    assert page.get_by_test_id("amount").inner_text() == "250"
    page.keyboard.press("Enter")
    page.get_by_test_id("screen-pin").wait_for(state="visible")
    page.keyboard.type(PIN)
    page.keyboard.press("Enter")
    page.get_by_test_id("screen-result").wait_for(state="visible", timeout=20_000)
    assert page.get_by_test_id("result-title").inner_text() == "お支払いが完了しました"
    assert desk.points() == 2750


def test_offline_greys_out_what_needs_the_server(page, desk):
    assert desk.counter.spend(PIN, amount=100)["ok"]  # a payment to refund
    offline(desk)
    with pytest.raises(Unreachable):
        desk.counter.heartbeat()  # the agent finds the server away
    page.get_by_test_id("offline-note").wait_for(state="visible")
    assert page.get_by_test_id("action-balance").is_disabled()
    assert page.get_by_test_id("action-refund").is_disabled()
    assert page.get_by_test_id("action-register").is_disabled()
    assert page.get_by_test_id("action-mypage_code").is_disabled()
    assert page.get_by_test_id("action-spend").is_enabled()  # offline within the limits
    assert_no_serious_violations(page)


def overflow(page) -> list[str]:
    """What sticks out of the window sideways, or is cut off by it: empty when all fits."""
    return page.evaluate(
        """() => {
          const width = document.documentElement.clientWidth, out = [];
          if (document.documentElement.scrollWidth > width) out.push(`page ${document.documentElement.scrollWidth}px`);
          for (const el of document.querySelectorAll('.screen.shown button, header *')) {
            const box = el.getBoundingClientRect();
            if (box.width && (box.left < 0 || box.right > width)) out.push(`${el.textContent} ${box.left}-${box.right}`);
          }
          return out;
        }"""
    )


def test_a_phone_shows_every_screen_whole(open_page, desk):
    phone = open_page(PHONE)
    phone.get_by_test_id("screen-home").wait_for(state="visible")
    assert overflow(phone) == []
    phone.get_by_test_id("action-spend").click()
    type_keys(phone, "amount", "300")
    assert overflow(phone) == []
    phone.get_by_test_id("amount-ok").click()
    phone.get_by_test_id("screen-pin").wait_for(state="visible")
    assert overflow(phone) == []
    enter_pin(phone)
    assert overflow(phone) == []
    keep(phone, "phone-result")
    assert_no_serious_violations(phone)
    phone.get_by_test_id("result-ok").click()
    phone.get_by_test_id("action-link_partner").click()
    assert overflow(phone) == []
    assert_no_serious_violations(phone)


def test_back_stays_on_screen_under_eight_refunds(page, desk):
    for amount in range(10, 90, 10):
        assert desk.counter.spend(PIN, amount=amount)["ok"]
    page.reload()
    page.get_by_test_id("place").filter(has_text="横須賀").wait_for()  # the agent's state is in again
    page.get_by_test_id("action-refund").click()
    refunds = page.get_by_test_id("screen-refunds").get_by_role("button")
    refunds.nth(8).wait_for()  # the list is drawn from the state the page polls
    assert refunds.count() == 9  # 8 and もどる
    back = page.get_by_test_id("refunds-back").bounding_box()
    assert back is not None and back["y"] + back["height"] <= KIOSK["height"]
    keep(page, "refunds")
    assert_no_serious_violations(page)


def test_a_mykey_id_made_at_the_counter(page, desk):
    page.get_by_test_id("action-register").click()
    enter_pin(page)
    keep(page, "register")
    assert page.get_by_test_id("result-title").inner_text() == "マイキーID"
    assert page.get_by_test_id("result-main").inner_text() == desk.mykey_id
    assert page.get_by_test_id("result-detail").inner_text() == "このカードのマイキーIDです。"


def test_a_my_page_code_printed_and_shown_only_when_the_printer_fails(page, desk, tmp_path):
    page.get_by_test_id("action-mypage_code").click()
    enter_pin(page)
    assert page.get_by_test_id("result-title").inner_text() == "マイページの登録コードを印刷しました"
    assert page.get_by_test_id("result-main").inner_text().endswith("まで有効（24時間）")
    assert "/mypage/signup" in page.get_by_test_id("result-detail").inner_text()
    assert_no_serious_violations(page)
    page.get_by_test_id("result-ok").click()

    desk.counter.receipts.connection = f"file:{tmp_path / 'no-such-dir' / 'printer.bin'}"
    page.get_by_test_id("action-mypage_code").click()
    enter_pin(page)
    assert page.get_by_test_id("result-title").inner_text() == "マイページの登録コード"
    assert activation_code.normalise(page.get_by_test_id("result-main").inner_text())
    assert "書き写して" in page.get_by_test_id("result-receipt").inner_text()
    assert page.get_by_test_id("reprint").is_hidden()  # a code is never kept to print again
    assert_no_serious_violations(page)
    page.get_by_test_id("result-ok").click()
    assert page.get_by_test_id("result-main").inner_text() == ""  # gone with its resident


def test_a_my_page_code_in_english_fills_in_its_date_hours_and_address(page):
    page.get_by_test_id("language").click()
    page.get_by_test_id("action-mypage_code").click()
    enter_pin(page)
    assert page.get_by_test_id("result-title").inner_text() == "My Page activation code printed"
    assert re.fullmatch(r"Valid until .+ \(24 hours\)", page.get_by_test_id("result-main").inner_text())
    assert re.fullmatch(
        r"At home, open \S+/mypage/signup\S* on a computer or phone and enter the code \(it works once\)\.",
        page.get_by_test_id("result-detail").inner_text(),
    )


def test_every_screen_passes_axe(page):
    assert_no_serious_violations(page)
    page.get_by_test_id("action-spend").click()
    assert_no_serious_violations(page)
    type_keys(page, "amount", "100")
    page.get_by_test_id("amount-ok").click()
    page.get_by_test_id("screen-pin").wait_for(state="visible")
    assert_no_serious_violations(page)
    page.get_by_test_id("pin-back").click()
    page.get_by_test_id("action-coupon").click()
    page.get_by_test_id("field-code").fill("ABCD-EFGH")
    assert_no_serious_violations(page)
    page.get_by_test_id("form-ok").click()
    enter_pin(page)
    assert page.get_by_test_id("result-title").inner_text() == "お取り扱いできませんでした"
    assert_no_serious_violations(page)
