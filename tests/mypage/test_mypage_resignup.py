"""A resident who has a login signs up again with a new code from the kiosk: the card proved them,
so the code resets the password (a way back in for one who forgot it); the login ID they type is
the one they log in with from then on; every session of the old password ends, and every passkey of
the login is removed (an intruder may have added one); the page says each of these. In process, on
both databases."""

from __future__ import annotations

from mykey_helpers import MyKeyWorld
from mypage_helpers import PASSWORD, Resident, Visitor, activation_code
from sqlalchemy import Engine, update

from server import logins
from server.db.engine import read, write
from server.logins import passkeys
from server.logins.tables import login_accounts

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


def add_key(engine: Engine, login_id: str, credential_id: str, name: str) -> None:
    """A passkey of ``login_id`` as a registration keeps it (the ceremony is tested on its own)."""
    with write(engine) as conn:
        account = logins.find_account(conn, "resident", login_id)
        assert account is not None
        passkeys.add_passkey(conn, account.id, credential_id, b"\x01", 0, name)


def keys_of(engine: Engine, login_id: str) -> list[str]:
    with read(engine) as conn:
        account = logins.find_account(conn, "resident", login_id)
        assert account is not None
        return [k.name for k in passkeys.passkeys_of(conn, account.id)]


def test_the_second_step_lists_the_passkeys_it_removes(browser, mykey, kiosk, hanako, engine) -> None:
    add_key(engine, "hanako.y", "key-phone", "iPhone")
    add_key(engine, "hanako.y", "key-intruder", "Pixel of someone else")
    _, _, page = second_step(mykey, kiosk, hanako)
    assert "このログインのパスキーもすべて削除します。" in page
    assert "iPhone — " in page and "Pixel of someone else — " in page
    assert page.count("に追加") == 2 and page.count("未使用") == 2


def test_a_recovery_removes_every_passkey_and_says_so(browser, mykey, kiosk, hanako, engine) -> None:
    add_key(engine, "hanako.y", "key-phone", "iPhone")
    add_key(engine, "hanako.y", "key-intruder", "Pixel of someone else")
    visitor, code, _ = second_step(mykey, kiosk, hanako)
    done = finish(visitor, code, "hanako.y")
    assert done.status_code == 302
    home = visitor.get("/mypage/").text
    assert "パスキー（iPhone, Pixel of someone else）を削除しました。" in home
    assert "パスワードを新しくしました。" in home
    account = visitor.get("/mypage/account").text
    assert "iPhone" not in account and "Pixel of someone else" not in account
    assert keys_of(engine, "hanako.y") == []
    assert Visitor(mykey.app).log_in("hanako.y", NEW_PASSWORD).status_code == 302  # the way in it keeps


def test_a_recovery_without_passkeys_says_nothing_of_them(browser, mykey, kiosk, hanako) -> None:
    visitor, code, page = second_step(mykey, kiosk, hanako)
    assert "パスキーもすべて削除します" not in page
    assert finish(visitor, code, "hanako.y").status_code == 302
    assert "を削除しました" not in visitor.get("/mypage/").text


def test_a_refused_recovery_keeps_the_passkeys(browser, mykey, kiosk, hanako, engine: Engine) -> None:
    add_key(engine, "hanako.y", "key-phone", "iPhone")
    visitor, code, _ = second_step(mykey, kiosk, hanako)
    refused = finish(visitor, code, "hanako.y", password="short")
    assert refused.status_code == 422 and "iPhone — " in refused.text  # still listed
    assert keys_of(engine, "hanako.y") == ["iPhone"]


def test_a_login_with_only_passkeys_recovers_to_a_password(browser, mykey, kiosk, hanako, engine) -> None:
    add_key(engine, "hanako.y", "key-intruder", "Pixel of someone else")
    with write(engine) as conn:  # the password was dropped: the passkey was the only way in
        conn.execute(
            update(login_accounts).where(login_accounts.c.login_id == "hanako.y").values(password_hash=None)
        )
    visitor, code, _ = second_step(mykey, kiosk, hanako)
    assert finish(visitor, code, "hanako.y").status_code == 302
    assert "パスキー（Pixel of someone else）を削除しました。" in visitor.get("/mypage/").text
    assert keys_of(engine, "hanako.y") == []
    assert Visitor(mykey.app).log_in("hanako.y", NEW_PASSWORD).status_code == 302
