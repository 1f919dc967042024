"""My Page in a real browser, as a resident meets it: Playwright drives Debian's headless Chromium
(no browser is downloaded) at a kiosk's 1024×768 and a phone's 390×844, in Japanese, with
axe-core on every page. A screenshot is kept when a test fails; with MKP_SCREENS=1 one of each
page goes to docs/screens/ (mypage-*.png), so a test run leaves the work tree as it was.

The activation code comes from a virtual card at an enrolled terminal (the endpoint the counter
and ``mkp-agent mypage code`` call). The server's side runs on both databases in
test_mypage_pages.py; here SQLite only."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest
from axe import assert_no_serious_violations
from mkp_testing import sqlite_database
from mykey_helpers import MyKeyWorld
from mypage_helpers import FEST, PASSWORD, Resident, activation_code, coupon_codes, login_link_reply

pytestmark = pytest.mark.slow  # starts a browser
SCREENS = Path(__file__).resolve().parents[2] / "docs" / "screens"
PAGES = ("/mypage/", "/mypage/history", "/mypage/links", "/mypage/points", "/mypage/account")


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    return sqlite_database(tmp_path)


def keep(tab: Any, name: str) -> None:
    """The page as the closing note shows it, when asked for (``MKP_SCREENS=1``)."""
    if os.environ.get("MKP_SCREENS") == "1":
        tab.screenshot(path=str(SCREENS / f"mypage-{name}.png"), full_page=True)


def sign_up(tab: Any, code: str, login_id: str, shoot: str | None = None) -> None:
    tab.goto("/mypage/signup")
    assert_no_serious_violations(tab)
    tab.get_by_label("登録コード").fill(code)
    if shoot:
        keep(tab, f"signup-{shoot}")
    tab.get_by_role("button", name="次へ").click()
    tab.get_by_label("ログインID").fill(login_id)
    tab.get_by_label("パスワード", exact=True).fill(PASSWORD)
    tab.get_by_label("パスワード（確認）").fill(PASSWORD)
    assert_no_serious_violations(tab)
    tab.get_by_role("button", name="登録してログイン").click()
    tab.get_by_role("heading", name="マイページ", exact=True).wait_for()


def log_out(tab: Any) -> None:
    tab.locator("header").get_by_role("button", name="ログアウト").click()
    tab.get_by_role("heading", name="マイページにログイン").wait_for()


def test_a_resident_signs_up_uses_points_and_logs_out_at_a_kiosk(
    site_page: Any, mykey: MyKeyWorld, hanako: Resident, kiosk: Any
) -> None:
    tab = site_page(mykey.app)
    sign_up(tab, activation_code(mykey, kiosk, hanako.card), "hanako.y", shoot="kiosk")
    assert hanako.mykey_id in tab.content()
    tab.locator("figure.chart img").wait_for()
    assert tab.evaluate("document.querySelector('figure.chart img').naturalWidth") > 0  # the SVG drew
    keep(tab, "home-kiosk")
    for path in PAGES:
        tab.goto(path)
        assert_no_serious_violations(tab)

    tab.goto("/mypage/account")
    tab.get_by_label("新しいマイキーID").fill("Umikaze7")
    tab.get_by_role("button", name="マイキーIDを変更する").click()
    tab.get_by_text("マイキーIDをUmikaze7に変更しました。").wait_for()
    keep(tab, "account-kiosk")

    (code,) = coupon_codes(mykey)
    tab.goto("/mypage/points")
    tab.get_by_role("textbox", name="クーポンコード").fill(code)
    tab.get_by_role("button", name="交換する").click()
    tab.get_by_text("クーポンの1,000ポイントは").wait_for()
    tab.get_by_role("combobox", name="イベント").select_option(FEST)
    tab.get_by_role("spinbutton", name="ポイント").fill("200")
    tab.get_by_role("button", name="応援する").click()
    tab.get_by_text("200ポイントでイベントを応援しました").wait_for()
    keep(tab, "points-kiosk")

    tab.goto("/mypage/history")
    keep(tab, "history-kiosk")
    with tab.expect_download() as download:
        tab.get_by_role("link", name="すべてCSVでダウンロード").click()
    text = Path(download.value.path()).read_text(encoding="utf-8-sig")
    assert text.splitlines()[0].startswith("id,date,kind") and ",support," in text and "-200" in text

    log_out(tab)
    assert_no_serious_violations(tab)  # the login page
    assert tab.goto("/mypage/").url.endswith("/mypage/login?next=/mypage/")
    tab.get_by_label("ログインID").fill("HANAKO.Y")
    tab.get_by_label("パスワード").fill(PASSWORD)
    tab.get_by_role("button", name="ログイン", exact=True).click()
    tab.get_by_text("Umikaze7").wait_for()


def test_at_phone_size_nothing_overflows_and_a_second_resident_sees_nothing_of_the_first(
    site_page: Any, mykey: MyKeyWorld, hanako: Resident, kiosk: Any
) -> None:
    tab = site_page(mykey.app, phone=True)
    sign_up(tab, activation_code(mykey, kiosk, hanako.card), "hanako.y", shoot="phone")
    for path in PAGES:
        tab.goto(path)
        assert tab.evaluate("document.documentElement.scrollWidth") <= 390, path
        assert_no_serious_violations(tab)
    tab.goto("/mypage/")
    keep(tab, "home-phone")
    tab.goto("/mypage/points")
    keep(tab, "points-phone")

    at_home = site_page(mykey.app, phone=True)  # mkp-agent mypage login opened its browser
    at_home.goto(login_link_reply(mykey, hanako.card).json["path"])
    assert_no_serious_violations(at_home)
    at_home.get_by_role("button", name="ログイン", exact=True).click()
    at_home.get_by_text(hanako.mykey_id).wait_for()
    assert "#" not in at_home.url

    card = mykey.card()
    mykey.register(card)
    taro = site_page(mykey.app, phone=True)
    sign_up(taro, activation_code(mykey, kiosk, card), "taro")
    for path in (*PAGES, "/mypage/history.csv"):
        seen = (
            taro.request.get(path).text() if path.endswith(".csv") else (taro.goto(path) and taro.content())
        )
        assert hanako.mykey_id not in seen and "hanako.y" not in seen and "PASMO-0042" not in seen, path


def test_a_passkey_is_added_and_then_logs_in_without_a_password(
    site_page: Any, mykey: MyKeyWorld, hanako: Resident, kiosk: Any
) -> None:
    tab = site_page(mykey.app)
    tab.goto("/mypage/login")
    origin = tab.evaluate("location.origin").replace("127.0.0.1", "localhost")  # an RP ID is a name
    cdp = tab.context.new_cdp_session(tab)
    cdp.send("WebAuthn.enable")
    cdp.send(
        "WebAuthn.addVirtualAuthenticator",
        {
            "options": {
                "protocol": "ctap2",
                "transport": "internal",
                "hasResidentKey": True,
                "hasUserVerification": True,
                "isUserVerified": True,
            }
        },
    )
    code = activation_code(mykey, kiosk, hanako.card)
    tab.goto(f"{origin}/mypage/signup")
    tab.get_by_label("登録コード").fill(code)
    tab.get_by_role("button", name="次へ").click()
    tab.get_by_label("ログインID").fill("hanako.y")
    tab.get_by_label("パスワード", exact=True).fill(PASSWORD)
    tab.get_by_label("パスワード（確認）").fill(PASSWORD)
    tab.get_by_role("button", name="登録してログイン").click()
    tab.goto(f"{origin}/mypage/account")
    tab.get_by_role("button", name="パスキーを追加").click()
    tab.get_by_text("パスキーを追加しました。").wait_for()
    tab.reload()
    assert "に追加" in tab.content()
    log_out(tab)
    tab.get_by_role("button", name="パスキーでログイン").click()
    tab.get_by_role("heading", name="マイページ", exact=True).wait_for()
    assert hanako.mykey_id in tab.content()
    # and removed again, after the question in words (axe on both pages)
    tab.goto(f"{origin}/mypage/account")
    assert_no_serious_violations(tab)
    tab.get_by_role("button", name=re.compile(r"^このパスキーを削除 \(.+\)$")).click()
    tab.get_by_text("を削除しますか？").wait_for()
    assert_no_serious_violations(tab)
    tab.get_by_role("button", name="はい、このパスキーを削除します").click()
    tab.get_by_text("を削除しました。").wait_for()
    assert "に追加" not in tab.content()
