"""A resident's whole way onto My Page, in real browsers: at the counter page they touch "print a
My Page code" and type their PIN; the receipt comes out of the kiosk's printer (a file, drawn
here as its paper); at home they open the server's sign-up page in a browser of their own, type
the code they read on the paper, choose a login ID and a password, and see their MyKey ID and
points. The one test that joins the counter's half and My Page's half, each tested on its own in
test_counter_page.py and tests/mypage; SQLite only (the server's side runs on both there)."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from argon2 import PasswordHasher
from browser import KIOSK
from counter_helpers import Desk, enter_pin
from mkp_testing import sqlite_database

from drivers.printer.render import render
from drivers.profiles import load_printer_profile
from mkp_core import activation_code
from server.logins import accounts

pytestmark = pytest.mark.slow  # starts a browser
PASSWORD = "umi no mieru machi 2026"
CODE_TITLE = "マイページ登録コード"


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    return sqlite_database(tmp_path)


@pytest.fixture(autouse=True)
def cheap_argon2(monkeypatch: pytest.MonkeyPatch) -> None:
    """The password's hash at argon2id's cheapest (the real cost is ~0.4 s a hash)."""
    monkeypatch.setattr(accounts, "HASHER", PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))


def read_the_receipt(desk: Desk) -> tuple[str, str]:
    """The code and the page to type it on, as the resident reads them on the last receipt: the
    line under its title, and the address that ends in the sign-up page."""
    paper = render(load_printer_profile("epson-tm-t88vi"), (desk.home.parent / "receipt.bin").read_bytes())
    lines = [line.strip() for line in paper.lines if line.strip()]
    title = len(lines) - 1 - lines[::-1].index(CODE_TITLE)
    address = next(line for line in lines[title:] if line.startswith("http"))
    return lines[title + 1], address


def test_a_code_printed_at_the_counter_opens_my_page_at_home(
    chromium: Any, counter_url: str, site_page: Any, desk: Desk
) -> None:
    counter = chromium.new_page(viewport=KIOSK)
    counter.goto(counter_url)
    counter.get_by_test_id("place").filter(has_text="横須賀").wait_for()
    counter.get_by_test_id("action-mypage_code").click()
    enter_pin(counter)
    assert counter.get_by_test_id("result-title").inner_text() == "マイページの登録コードを印刷しました"
    code, address = read_the_receipt(desk)
    assert activation_code.normalise(code), code
    assert address == f"{desk.platform.url}/mypage/signup"
    assert code not in counter.content()  # on the paper only
    counter.close()

    home = site_page(desk.platform.app)  # the resident's own browser: no cookies of the kiosk
    home.goto(urlsplit(address).path)  # the server's own address here is the test's local port
    home.get_by_label("登録コード").fill(code)
    home.get_by_role("button", name="次へ").click()
    home.get_by_label("ログインID").fill("hanako.y")
    home.get_by_label("パスワード", exact=True).fill(PASSWORD)
    home.get_by_label("パスワード（確認）").fill(PASSWORD)
    home.get_by_role("button", name="登録してログイン").click()
    home.get_by_role("heading", name="マイページ", exact=True).wait_for()
    assert home.locator(".mykey-id strong").inner_text() == desk.mykey_id
    assert home.get_by_role("row", name="3,000").count() == 1  # the counter's grant, on the home page
