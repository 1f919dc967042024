"""The console in a real browser (Debian's Chromium under Playwright), the way a town's staff meet
it: a town applies, the platform approves, its admin joins by the link, adds a passkey (Chromium's
virtual authenticator) and logs in with it; a Shift_JIS grant file with mixed errors is listed
whole, fixed and applied; the dashboard shows the total;
a month is closed; a connection test is watched. axe-core checks every page on the way.

With MKP_SCREENS=1 the console's screens go to docs/screens/ (console-*.png), at kiosk and phone size.
"""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from axe import assert_no_serious_violations
from console_helpers import PASSWORD, member
from mkp_testing import sqlite_database
from points_helpers import YOKOSUKA

from mkp_core.dates import JST

pytestmark = pytest.mark.slow  # starts a browser
SCREENS = Path(__file__).resolve().parents[2] / "docs" / "screens"
MIXED = (
    "自治体コード,マイキーID,ポイント,付与種別\r\n"
    "142018,HANAKO23,1000,childcare\r\n"
    "142018,NOBODY99,100,childcare\r\n"
    "142018,TAROU234,百,childcare\r\n"
    "142018,JIROU345,100,nokind\r\n"
)
FIXED = "自治体コード,マイキーID,ポイント,付与種別\r\n142018,HANAKO23,1000,childcare\r\n142018,TAROU234,500,childcare\r\n"


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    """The pages are the point here: SQLite only (the console runs on both databases in-process)."""
    return sqlite_database(tmp_path)


def keep(tab, name: str) -> None:
    """Check the page with axe-core; keep its screen for README when asked (MKP_SCREENS=1)."""
    assert_no_serious_violations(tab)
    image = tab.screenshot(full_page=True)
    if os.environ.get("MKP_SCREENS") == "1":
        SCREENS.mkdir(parents=True, exist_ok=True)
        (SCREENS / f"console-{name}.png").write_bytes(image)


def log_in(tab, login_id: str) -> None:
    tab.goto("/console/login")
    tab.get_by_label("ログインID").fill(login_id)
    tab.get_by_label("パスワード").fill(PASSWORD)
    tab.get_by_role("button", name="ログイン", exact=True).click()


def with_virtual_authenticator(tab) -> None:
    """Chromium's virtual authenticator: a platform passkey that verifies its user at once."""
    cdp = tab.context.new_cdp_session(tab)
    cdp.send("WebAuthn.enable")
    options = {"protocol": "ctap2", "transport": "internal", "hasResidentKey": True}
    cdp.send(
        "WebAuthn.addVirtualAuthenticator",
        {"options": {**options, "hasUserVerification": True, "isUserVerified": True}},
    )


def test_a_town_applies_is_approved_and_its_admin_joins_and_logs_in(app, engine, operators, site_page):
    town = site_page(app)
    town.goto("/console/apply")
    keep(town, "apply")
    town.get_by_label("自治体コード（6桁）").fill("142042")
    town.get_by_label("担当部署").fill("市民協働部")
    town.get_by_label("ご担当者名").fill("鎌倉 花子")
    town.get_by_label("ご担当者のメールアドレス").fill("hanako@city.kamakura.example.jp")
    town.get_by_role("button", name="申し込む").click()
    town.get_by_text("申し込みを受け付けました").first.wait_for()

    platform = site_page(app)
    log_in(platform, member(engine, None, "admin"))
    platform.get_by_role("link", name="参加申込").click()
    keep(platform, "applications")
    platform.get_by_role("button", name="鎌倉市を承認する").click()
    link = platform.get_by_test_id("invitation-link").inner_text()

    with_virtual_authenticator(town)
    town.goto(link.replace("127.0.0.1", "localhost"))  # a passkey's relying party is a name
    keep(town, "join")
    town.get_by_label("ログインID").fill("kamakura-admin")
    town.get_by_label("パスワード", exact=True).fill(PASSWORD)
    town.get_by_label("パスワード（確認）").fill(PASSWORD)
    town.get_by_role("button", name="登録する").click()
    town.get_by_role("heading", name="ログイン設定").wait_for()
    town.get_by_role("button", name="パスキーを追加").click()
    town.get_by_text("パスキーを追加しました。").wait_for()
    keep(town, "passkey-added")
    town.get_by_role("button", name="ログアウト").click()
    town.get_by_role("heading", name="自治体コンソールへのログイン").wait_for()
    keep(town, "login")
    town.get_by_role("button", name="パスキーでログイン").click()
    town.get_by_role("heading", name="ダッシュボード").wait_for()
    town.goto(town.url.split("/console/")[0] + "/console/account")  # and the passkey removed again
    keep(town, "account")
    town.get_by_role("button", name=re.compile(r"^このパスキーを削除 \(.+\)$")).click()
    town.get_by_text("を削除しますか？").wait_for()
    keep(town, "passkey-remove")
    town.get_by_role("button", name="はい、このパスキーを削除します").click()
    town.get_by_text("を削除しました。").wait_for()


def test_grants_from_a_file_then_the_dashboard_a_closed_month_and_a_watched_test(
    app, engine, town, enrolled_here, site_page, tmp_path
):
    tab = site_page(app)
    log_in(tab, member(engine, YOKOSUKA, "admin"))
    tab.get_by_role("link", name="ルール").click()
    tab.get_by_text("142018 の新しいバージョン").click()
    tab.get_by_label("店舗").check()
    tab.get_by_label("博物館・美術館").check()
    tab.get_by_label("有効期限").select_option("month_end")
    tab.get_by_label("日数、または月末から何か月後").fill("6")
    tab.get_by_role("button", name="変更を確認する").click()
    assert "付与した月の末日から6か月後" in tab.get_by_test_id("preview").inner_text()
    keep(tab, "rule-preview")
    tab.get_by_role("button", name="このバージョンを記録する").click()
    tab.get_by_test_id("rule-added").wait_for()

    tab.get_by_role("link", name="端末").click()
    tab.get_by_role("button", name="端末を登録する").click()
    assert "--code" in tab.get_by_test_id("enrollment-command").inner_text()
    keep(tab, "terminal-enrolled")

    tab.get_by_role("link", name="ポイント付与").click()
    bad = tmp_path / "4月分.csv"
    bad.write_bytes(MIXED.encode("cp932"))
    tab.get_by_label("CSVファイル（UTF-8 または Shift_JIS）").set_input_files(str(bad))
    tab.get_by_role("button", name="アップロードして確認").click()
    assert "3 件の問題" in tab.get_by_test_id("problem-count").inner_text()
    listed = tab.get_by_test_id("problems").inner_text()
    assert all(f"{line} 行目" in listed for line in (3, 4, 5))
    keep(tab, "grant-problems")

    tab.get_by_role("link", name="ファイルの一覧へ戻る").click()
    good = tmp_path / "4月分-修正.csv"
    good.write_bytes(FIXED.encode("cp932"))
    tab.get_by_label("CSVファイル（UTF-8 または Shift_JIS）").set_input_files(str(good))
    tab.get_by_role("button", name="アップロードして確認").click()
    assert tab.get_by_test_id("points").inner_text() == "1,500"
    tab.get_by_role("button", name="付与する").click()
    tab.get_by_test_id("applied").wait_for()
    keep(tab, "grant-applied")

    tab.get_by_role("link", name="ダッシュボード").click()
    assert tab.get_by_test_id("granted-total").inner_text() == "1,500"
    keep(tab, "dashboard")

    tab.get_by_role("link", name="精算").click()
    last = (datetime.now(UTC).astimezone(JST).replace(day=1) - timedelta(days=1)).strftime("%Y-%m")
    tab.get_by_label("締める月").fill(last)
    tab.get_by_role("button", name="月を締める").click()
    tab.get_by_test_id("closed").wait_for()
    with tab.expect_download() as download:
        tab.get_by_role("link", name="CSV（Shift_JIS）").click()
    assert Path(download.value.path()).read_bytes().decode("cp932").startswith("period,")
    keep(tab, "settlement")

    tab.get_by_role("link", name="接続テスト").click()
    starts = (datetime.now(UTC) + timedelta(minutes=5)).astimezone(JST).strftime("%Y-%m-%dT%H:%M")
    tab.get_by_label("開始（日本時間）").fill(starts)
    tab.get_by_role("button", name="テストを予約する").click()
    assert tab.get_by_test_id("progress").get_attribute("max") == "1"
    tab.get_by_text("横須賀美術館").first.wait_for()
    keep(tab, "conntest")

    phone = site_page(app, phone=True)
    log_in(phone, member(engine, YOKOSUKA, "viewer"))
    assert phone.get_by_test_id("granted-total").inner_text() == "1,500"
    keep(phone, "dashboard-phone")


@pytest.fixture
def enrolled_here(client, town):
    """A terminal at 横須賀美術館 (the town's place), silent in the connection test."""
    from terminal_helpers import csr_for, new_code

    from mkp_core import signing

    code = new_code(client, town)["code"]
    answer = client.post("/v1/enroll", json={"code": code, "csr": csr_for(signing.generate_terminal_key())})
    assert answer.status_code == 201, answer.json
