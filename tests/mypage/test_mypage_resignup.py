"""A resident who has a login signs up again with a new code from the kiosk: the card proved them,
so the code resets the password (a way back in for one who forgot it); the login ID they type is
the one they log in with from then on; every session of the old password ends; the page says each
of these. In process, on both databases."""

from __future__ import annotations

from mykey_helpers import MyKeyWorld
from mypage_helpers import PASSWORD, Resident, Visitor, activation_code
from sqlalchemy import Engine

from server import logins
from server.db.engine import write

NEW_PASSWORD = "yama no mieru machi 2027"


def second_step(mykey: MyKeyWorld, kiosk, hanako: Resident) -> tuple[Visitor, str, str]:
    """Another browser with a new code at step 2: (the visitor, the code, the step's page)."""
    visitor, code = Visitor(mykey.app), activation_code(mykey, kiosk, hanako.card)
    step = visitor.post("/mypage/signup", {"code": code})
    assert step.status_code == 200, step.text
    return visitor, code, step.text


def finish(visitor: Visitor, code: str, login_id: str, password: str = NEW_PASSWORD):
    form = {"code": code, "login_id": login_id, "password": password, "confirm": password}
    return visitor.post("/mypage/signup", form)


def test_the_second_step_says_the_code_resets_the_login(browser, mykey, kiosk, hanako) -> None:
    _, _, page = second_step(mykey, kiosk, hanako)
    assert "すでにログイン hanako.y があります。このコードでログインを再設定します。" in page
    assert "今のログインのセッションはすべて終了します。" in page
    assert 'value="hanako.y"' in page  # the login ID they have, filled in


def test_the_same_login_id_gets_a_new_password_and_the_old_sessions_end(
    browser, mykey, kiosk, hanako
) -> None:
    visitor, code, _ = second_step(mykey, kiosk, hanako)
    done = finish(visitor, code, "hanako.y")
    assert done.status_code == 302 and done.headers["Location"] == "/mypage/"
    home = visitor.get("/mypage/")
    assert "パスワードを新しくしました。ログインIDは hanako.y のままです。" in home.text
    assert hanako.mykey_id in home.text
    assert browser.get("/mypage/").status_code == 302  # the old password's session ended
    assert Visitor(mykey.app).log_in("hanako.y", PASSWORD).status_code == 401
    assert Visitor(mykey.app).log_in("hanako.y", NEW_PASSWORD).status_code == 302


def test_a_login_id_typed_anew_is_the_one_from_then_on(browser, mykey, kiosk, hanako) -> None:
    visitor, code, _ = second_step(mykey, kiosk, hanako)
    done = finish(visitor, code, "Hanako.Umi")
    assert done.status_code == 302
    home = visitor.get("/mypage/").text
    assert "ログインIDを Hanako.Umi に変更し、パスワードを新しくしました。" in home
    assert Visitor(mykey.app).log_in("hanako.y", NEW_PASSWORD).status_code == 401
    assert Visitor(mykey.app).log_in("hanako.umi", NEW_PASSWORD).status_code == 302
    assert browser.get("/mypage/").status_code == 302


def test_a_login_id_taken_by_another_is_refused_and_the_code_kept(
    browser, mykey, kiosk, hanako, engine: Engine
) -> None:
    with write(engine) as conn:
        logins.create_account(conn, "resident", "TARO2026", "taro.k", "a long enough passphrase")
    visitor, code, _ = second_step(mykey, kiosk, hanako)
    refused = finish(visitor, code, "TARO.K")
    assert (
        refused.status_code == 422
        and "このログインIDは使われています。別のIDを選んでください。" in refused.text
    )
    assert "すでにログイン hanako.y があります。" in refused.text  # still told what the code does
    assert browser.get("/mypage/").status_code == 200  # nothing changed: the old session lives
    assert finish(visitor, code, "hanako.y").status_code == 302  # the code was not spent
