"""My Page as a resident uses it, in this process: sign up with the kiosk's code, log in and out,
see the points, the history and the links, and do each thing the page offers. Both databases."""

from __future__ import annotations

import csv
import io
import logging
import re

import pytest
from mykey_helpers import MyKeyWorld
from mypage_helpers import FEST, PASSWORD, Resident, Visitor, activation_code, coupon_codes, login_link_reply
from points_helpers import YOKOSUKA, grant

from server.db.engine import read
from server.platform.mykey import registry

# --- getting in ----------------------------------------------------------------------------------


def test_signing_up_with_the_kiosks_code_opens_my_page(browser: Visitor, hanako: Resident) -> None:
    page = browser.get("/mypage/")
    assert page.status_code == 200
    assert hanako.mykey_id in page.text and "1,000" in page.text and "開国祭" in page.text
    assert page.headers["Cache-Control"] == "no-store"


def test_a_code_works_once_and_a_typo_is_told_apart(mykey: MyKeyWorld, hanako: Resident, kiosk) -> None:
    code = activation_code(mykey, kiosk, hanako.card)
    assert Visitor(mykey.app).sign_up(code, "hanako.y").status_code == 302
    again = Visitor(mykey.app).post("/mypage/signup", {"code": code})
    assert again.status_code == 410 and "キオスク" in again.text
    typo = code[:2] + ("2" if code[2] != "2" else "3") + code[3:]
    told = Visitor(mykey.app).post("/mypage/signup", {"code": typo})
    assert told.status_code == 422 and "入力ミス" in told.text


def test_wrong_codes_from_one_address_are_throttled(mykey: MyKeyWorld, hanako: Resident, kiosk) -> None:
    from mkp_core import activation_code as codec

    guesser = Visitor(mykey.app)
    for n in range(10):
        body = f"{n:08d}"
        refused = guesser.post("/mypage/signup", {"code": body + codec.coupon.check_char(body)})
        assert refused.status_code == 410
    good = activation_code(mykey, kiosk, hanako.card)
    assert guesser.post("/mypage/signup", {"code": good}).status_code == 429


def test_guessing_codes_at_the_second_step_is_throttled_too(
    mykey: MyKeyWorld, hanako: Resident, kiosk
) -> None:
    from mkp_core import activation_code as codec

    guesser = Visitor(mykey.app)
    chosen = {"login_id": "guesser", "password": PASSWORD, "confirm": PASSWORD}
    for n in range(10):
        body = f"{n:08d}"
        refused = guesser.post("/mypage/signup", {"code": body + codec.coupon.check_char(body), **chosen})
        assert refused.status_code == 410
    good = activation_code(mykey, kiosk, hanako.card)
    assert guesser.post("/mypage/signup", {"code": good, **chosen}).status_code == 429


def test_the_forms_name_what_a_password_manager_fills(mykey: MyKeyWorld) -> None:
    visitor = Visitor(mykey.app)
    login = visitor.get("/mypage/login").text
    assert 'autocomplete="username"' in login and 'autocomplete="current-password"' in login
    code = visitor.get("/mypage/signup").text
    assert 'autocomplete="one-time-code"' in code


def test_log_out_and_in_again_and_a_wrong_password_is_one_line(browser: Visitor, hanako: Resident) -> None:
    assert browser.post("/mypage/logout").status_code == 302
    assert browser.get("/mypage/").status_code == 302
    wrong = browser.log_in("hanako.y", "not the password")
    assert wrong.status_code == 401 and "ログインIDかパスワードが違います" in wrong.text
    assert browser.log_in("HANAKO.Y").status_code == 302
    assert hanako.mykey_id in browser.get("/mypage/").text
    assert browser.get("/mypage/login").headers["Location"] == "/mypage/"  # in already


def test_a_login_link_from_the_card_logs_in_once(
    mykey: MyKeyWorld, browser: Visitor, hanako: Resident
) -> None:
    path = login_link_reply(mykey, hanako.card).json["path"]
    page, token = path.split("#")
    other = Visitor(mykey.app)
    assert other.get(page).status_code == 200  # the page asks the script for the fragment
    assert other.get("/mypage/").status_code == 302  # opening the link logs nobody in
    assert other.post(page, {"token": token}).status_code == 302
    assert hanako.mykey_id in other.get("/mypage/").text
    assert Visitor(mykey.app).post(page, {"token": token}).status_code == 410


def test_a_login_link_lets_a_resident_without_a_login_choose_one(mykey: MyKeyWorld, hanako: Resident) -> None:
    page, token = login_link_reply(mykey, hanako.card).json["path"].split("#")
    visitor = Visitor(mykey.app)
    form = visitor.post(page, {"token": token})
    assert form.status_code == 200 and 'autocomplete="new-password"' in form.text
    chosen = {"code": token, "login_id": "hanako.y", "password": PASSWORD, "confirm": PASSWORD}
    assert visitor.post(page, chosen).status_code == 302
    assert hanako.mykey_id in visitor.get("/mypage/").text


def test_english_on_request(browser: Visitor) -> None:
    page = browser.get("/mypage/?lang=en")
    assert "Your points" in page.text and page.headers["Content-Language"] == "en"


# --- what the resident sees ----------------------------------------------------------------------


def test_the_chart_is_an_svg_with_its_own_policy_and_pages_have_no_inline_script(browser: Visitor) -> None:
    svg = browser.get("/mypage/chart.svg")
    assert svg.status_code == 200 and svg.mimetype == "image/svg+xml" and "<script" not in svg.text
    assert svg.headers["Content-Security-Policy"].startswith("default-src 'none'")
    for path in ("/mypage/", "/mypage/history", "/mypage/links", "/mypage/points", "/mypage/account"):
        page = browser.get(path).text
        assert not re.search(r"<script(?![^>]*\bsrc=)", page), path
        assert " style=" not in page, path


def test_history_is_paged_and_downloads_as_csv(browser: Visitor, hanako: Resident, town) -> None:
    for _ in range(20):
        grant(hanako.world.client, town.central, hanako.mykey_id, 1)
    first = browser.get("/mypage/history")
    assert first.text.count("<tr>") == 21 and 'rel="next"' in first.text
    second = browser.get("/mypage/history?page=2")
    assert second.text.count("<tr>") == 3 and 'rel="prev"' in second.text
    download = browser.get("/mypage/history.csv")
    assert download.mimetype == "text/csv" and "attachment" in download.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(download.text.lstrip("\ufeff"))))
    assert len(rows) == 22 and {r["amount"] for r in rows} >= {"1000", "500", "1"}


# --- what the resident does ----------------------------------------------------------------------


def test_the_mykey_id_changes_once(browser: Visitor) -> None:
    done = browser.post("/mypage/id", {"new_id": "Umikaze7"})
    assert done.status_code == 302
    page = browser.get("/mypage/account").text
    assert "Umikaze7" in page and "変更できません" in page
    again = browser.post("/mypage/id", {"new_id": "Umikaze8"})
    assert again.status_code == 409 and "Umikaze8" not in browser.get("/mypage/").text


def test_a_coupon_goes_on_hold_and_a_wrong_one_is_told(browser: Visitor, hanako: Resident) -> None:
    (code,) = coupon_codes(hanako.world)
    client_id = browser.form_client_id("/mypage/points")
    done = browser.post("/mypage/coupon", {"client_id": client_id, "code": code, "destination": ""})
    assert done.status_code == 302
    assert (
        browser.post("/mypage/coupon", {"client_id": client_id, "code": code, "destination": ""}).status_code
        == 302
    )
    home = browser.get("/mypage/").text
    assert "1,000" in home and "全日本空輸" in home or "ANA" in home
    used = browser.post(
        "/mypage/coupon", {"client_id": browser.form_client_id("/mypage/points"), "code": code}
    )
    assert used.status_code == 409 and "使用済み" in used.text


def test_supporting_an_event_and_claiming_a_reward_take_the_points(
    browser: Visitor, hanako: Resident, town
) -> None:
    support = {"client_id": browser.form_client_id("/mypage/points"), "point_code": FEST, "amount": "200"}
    assert browser.post("/mypage/support", support).status_code == 302
    assert browser.post("/mypage/support", support).status_code == 302  # sent twice: once
    claim = {"client_id": browser.form_client_id("/mypage/points"), "reward": "hanabi"}
    claimed = browser.post("/mypage/claim", claim, follow_redirects=True)
    assert "受付番号" in claimed.text
    held = hanako.world.client.get(f"/v1/mykeys/{hanako.mykey_id}/balances", headers=town.central).json
    assert {b["point_code"]: b["balance"] for b in held["balances"]} == {YOKOSUKA: 700, FEST: 300}
    too_much = {"client_id": browser.form_client_id("/mypage/points"), "point_code": FEST, "amount": "999"}
    refused = browser.post("/mypage/support", too_much)
    assert refused.status_code == 409 and "ポイントが足りません" in refused.text


def test_the_home_municipality_and_a_bad_one(browser: Visitor, hanako: Resident) -> None:
    assert browser.post("/mypage/home-municipality", {"municipality": "011002"}).status_code == 302
    with read(hanako.world.app.extensions["mkp.engine"]) as conn:
        assert registry.find(conn, hanako.mykey_id).home_municipality == "011002"
    bad = browser.post("/mypage/home-municipality", {"municipality": "12"})
    assert bad.status_code == 422 and "6桁" in bad.text


def test_links_a_service_removed_and_a_partner_code_shown_once(browser: Visitor) -> None:
    page = browser.get("/mypage/links").text
    assert "PASMO-0042" in page
    assert browser.post("/mypage/links/unlink", {"service": "KQBUS"}).status_code == 302
    assert "PASMO-0042" not in browser.get("/mypage/links").text
    asked = browser.post("/mypage/links/partner", {"partner": "ANA", "member": "1234567890"})
    code = re.search(r'class="code">([0-9A-Z-]+)<', asked.text)
    assert asked.status_code == 200 and code is not None
    assert code.group(1) not in browser.get("/mypage/links").text


def test_a_lost_card_suspends_the_id_at_once(browser: Visitor, hanako: Resident) -> None:
    unconfirmed = browser.post("/mypage/suspend", {})
    assert unconfirmed.status_code == 422
    assert browser.post("/mypage/suspend", {"confirm": "yes"}).status_code == 302
    with read(hanako.world.app.extensions["mkp.engine"]) as conn:
        assert registry.find(conn, hanako.mykey_id).status == registry.SUSPENDED
    refused = browser.post(
        "/mypage/support",
        {"client_id": browser.form_client_id("/mypage/points"), "point_code": FEST, "amount": "1"},
    )
    assert refused.status_code == 409 and "一時停止" in refused.text


def test_sessions_are_listed_and_logging_out_everywhere_ends_them(
    mykey: MyKeyWorld, browser: Visitor
) -> None:
    phone = Visitor(mykey.app)
    android = "Mozilla/5.0 (Linux; Android 14) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0 Mobile Safari/537.36"
    phone.client.environ_base["HTTP_USER_AGENT"] = android
    assert phone.log_in("hanako.y").status_code == 302
    page = browser.get("/mypage/account").text
    assert page.count("このブラウザ") == 1 and page.count('/end"') == 2
    assert "Chrome · Android" in page and "Mozilla" not in page
    assert browser.post("/mypage/logout-everywhere").status_code == 302
    assert phone.get("/mypage/").status_code == 302 and browser.get("/mypage/").status_code == 302


# --- a second resident sees nothing of the first -------------------------------------------------


def test_a_second_resident_sees_nothing_of_the_first(
    mykey: MyKeyWorld, browser: Visitor, hanako: Resident, kiosk, town
) -> None:
    browser.post("/mypage/links/partner", {"partner": "ANA", "member": "HANAKO-MEMBER"})
    (code,) = coupon_codes(mykey)
    browser.post("/mypage/coupon", {"client_id": browser.form_client_id("/mypage/points"), "code": code})
    card = mykey.card()
    taro_id = mykey.register(card)["mykey_id"]
    grant(mykey.client, town.central, taro_id, 7)
    taro = Visitor(mykey.app)
    assert taro.sign_up(activation_code(mykey, kiosk, card), "taro").status_code == 302
    secrets = (hanako.mykey_id, "hanako.y", "PASMO-0042", "HANAKO-MEMBER", "1,000", "開国祭")
    for path in (
        "/mypage/",
        "/mypage/chart.svg",
        "/mypage/history",
        "/mypage/history.csv",
        "/mypage/links",
        "/mypage/points",
        "/mypage/account",
    ):
        seen = taro.get(path)
        assert seen.status_code == 200, path
        assert not [s for s in secrets if s in seen.text], path
    assert taro_id in taro.get("/mypage/").text
    assert taro.post("/mypage/links/unlink", {"service": "KQBUS"}).status_code == 409
    assert "PASMO-0042" in browser.get("/mypage/links").text  # hanako's link stayed


def test_no_password_or_code_reaches_a_log(
    mykey: MyKeyWorld, hanako: Resident, kiosk, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    code = activation_code(mykey, kiosk, hanako.card)
    visitor = Visitor(mykey.app)
    visitor.sign_up(code, "hanako.y")
    visitor.log_in("hanako.y", "a wrong password")
    path = login_link_reply(mykey, hanako.card).json["path"]
    visitor.post("/mypage/link", {"token": path.split("#")[1]})
    logged = caplog.text
    secrets = (code, code.replace("-", ""), PASSWORD, "a wrong password", path.split("#")[1])
    assert not [s for s in secrets if s in logged]


BROKEN_ANSWERS = ('{"id": "x"}', "not json", '{"id": "AAAA", "response": {}, "type": 7}', "[]")


def test_a_forged_or_broken_passkey_answer_is_refused(browser: Visitor, mykey: MyKeyWorld) -> None:
    stranger = Visitor(mykey.app)
    for answer in BROKEN_ANSWERS:
        headers = {"X-CSRFToken": browser.token(), "Content-Type": "application/json"}
        browser.client.post("/mypage/passkeys/register-options", headers=headers)
        added = browser.client.post("/mypage/passkeys/register", data=answer, headers=headers)
        assert added.status_code == 400 and added.json["ok"] is False, answer
        headers = {"X-CSRFToken": stranger.token(), "Content-Type": "application/json"}
        stranger.client.post("/mypage/passkeys/login-options", headers=headers)
        refused = stranger.client.post("/mypage/passkeys/login", data=answer, headers=headers)
        assert refused.status_code in (400, 401), answer
    assert stranger.get("/mypage/").status_code == 302
