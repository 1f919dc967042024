"""The counter page in a real browser: Playwright drives Debian's headless Chromium (no browser is
downloaded) against the agent's page on 127.0.0.1, with the virtual card in the reader and the
server in this process. A screenshot is kept when a test fails; with MKP_SCREENS=1 one of each
screen goes to docs/screens/ (README shows them), so a test run leaves the work tree as it was."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from counter_helpers import offline, online
from mkp_testing import sqlite_database

from agent.counter.web import CounterServer

pytestmark = pytest.mark.slow  # starts a browser
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SCREENS = Path(__file__).resolve().parents[2] / "docs" / "screens"


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    """The page is the point here: SQLite only (the counter's server side runs on both elsewhere)."""
    return sqlite_database(tmp_path)


@pytest.fixture(scope="module")
def browser() -> Iterator:
    """One headless Chromium for the module (starting it is the slow part); a page per test."""
    sync_api = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium is not installed (install.sh installs it)")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        yield browser
        browser.close()


@pytest.fixture
def page(browser, desk, tmp_path, request) -> Iterator:
    server = CounterServer(desk.counter, 0).start()
    stop_watch = desk.counter.watch_cards()
    tab = browser.new_page(viewport={"width": 1024, "height": 768})
    tab.goto(server.url)
    yield tab
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        tab.screenshot(path=str(tmp_path / "failure.png"))
        print(f"screenshot of the failure: {tmp_path / 'failure.png'}")
    tab.close()
    stop_watch()
    server.stop()


def type_keys(page, target: str, digits: str) -> None:
    for digit in digits:
        page.get_by_test_id(f"key-{target}-{digit}").click()


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
