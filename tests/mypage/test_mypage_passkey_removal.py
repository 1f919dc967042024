"""Removing a passkey on My Page as a resident does it: a button by each key, a question in words,
then the key is gone; another resident's key is missing (404), and a login without a password
keeps its last key, with one line saying why. In process, on both databases."""

from __future__ import annotations

import re

from mykey_helpers import MyKeyWorld
from mypage_helpers import Visitor
from sqlalchemy import Engine, update

from server import logins
from server.db.engine import read, write
from server.logins import passkeys
from server.logins.tables import login_accounts


def add_key(engine: Engine, login_id: str, credential_id: str, name: str) -> None:
    """A passkey of ``login_id`` as a registration keeps it (the ceremony is tested on its own)."""
    with write(engine) as conn:
        account = logins.find_account(conn, "resident", login_id)
        assert account is not None
        passkeys.add_passkey(conn, account.id, credential_id, b"\x01", 0, name)


def confirm(browser: Visitor, credential_id: str) -> dict[str, str]:
    """The question's form, as drawn: the key and its client id, with the answer yes."""
    asked = browser.post("/mypage/passkeys/remove", {"passkey": credential_id})
    assert asked.status_code == 200, asked.text
    found = re.search(r'name="client_id" value="([^"]+)"', asked.text)
    assert found is not None
    return {"passkey": credential_id, "confirm": "yes", "client_id": found.group(1)}


def keys_of(engine: Engine, login_id: str) -> list[str]:
    with read(engine) as conn:
        account = logins.find_account(conn, "resident", login_id)
        assert account is not None
        return [k.name for k in passkeys.passkeys_of(conn, account.id)]


def test_a_passkey_is_removed_after_a_question_in_words(browser: Visitor, engine: Engine) -> None:
    add_key(engine, "hanako.y", "key-phone", "iPhone")
    add_key(engine, "hanako.y", "key-laptop", "Chrome on Mac")
    account = browser.get("/mypage/account").text
    assert (
        account.count("このパスキーを削除") == 2
        and 'このパスキーを削除<span class="visually-hidden"> (iPhone)</span>' in account
    )

    asked = browser.post("/mypage/passkeys/remove", {"passkey": "key-phone"})
    assert asked.status_code == 200
    assert re.search(r"に追加したパスキー「iPhone」を削除しますか？", asked.text)
    assert "はい、このパスキーを削除します" in asked.text
    assert keys_of(engine, "hanako.y") == ["iPhone", "Chrome on Mac"]  # asked only

    form = confirm(browser, "key-phone")
    done = browser.post("/mypage/passkeys/remove", form)
    assert done.status_code == 302 and done.headers["Location"] == "/mypage/account"
    page = browser.get("/mypage/account").text
    assert "パスキー「iPhone」を削除しました。" in page and "key-phone" not in page
    assert keys_of(engine, "hanako.y") == ["Chrome on Mac"]

    again = browser.post("/mypage/passkeys/remove", form)  # a double click: the same answer
    assert (
        again.status_code == 302
        and "パスキー「iPhone」を削除しました。" in browser.get("/mypage/account").text
    )
    assert keys_of(engine, "hanako.y") == ["Chrome on Mac"]
    later = browser.post("/mypage/passkeys/remove", {**form, "client_id": "another-form-1"})
    assert later.status_code == 404  # a new form for the removed key: it is missing


def test_another_residents_passkey_is_missing(browser: Visitor, mykey: MyKeyWorld, engine: Engine) -> None:
    with write(engine) as conn:
        other = logins.create_account(conn, "resident", "TARO2026", "taro.k", "a long enough passphrase")
        passkeys.add_passkey(conn, other.id, "taros-key", b"\x01", 0, "Taro's phone")
    yes = {"confirm": "yes", "client_id": "a-form-of-mine"}
    for form in ({"passkey": "taros-key"}, {"passkey": "taros-key", **yes}, {"passkey": "none", **yes}):
        refused = browser.post("/mypage/passkeys/remove", form)
        assert refused.status_code == 404 and "そのパスキーはありません。" in refused.text
    with read(engine) as conn:
        assert passkeys.find_passkey(conn, "taros-key") is not None


def test_the_form_needs_its_token(browser: Visitor, engine: Engine) -> None:
    add_key(engine, "hanako.y", "key-phone", "iPhone")
    form = confirm(browser, "key-phone")
    forged = browser.client.post("/mypage/passkeys/remove", data=form)
    assert forged.status_code == 400 and keys_of(engine, "hanako.y") == ["iPhone"]
    stale = browser.post("/mypage/passkeys/remove", {**form, "client_id": ""})
    assert stale.status_code == 422 and "このフォームは有効期限が切れました。" in stale.text
    assert keys_of(engine, "hanako.y") == ["iPhone"]


def test_a_login_without_a_password_keeps_its_last_passkey(browser: Visitor, engine: Engine) -> None:
    add_key(engine, "hanako.y", "key-phone", "iPhone")
    add_key(engine, "hanako.y", "key-laptop", "Chrome on Mac")
    with write(engine) as conn:
        conn.execute(
            update(login_accounts).where(login_accounts.c.login_id == "hanako.y").values(password_hash=None)
        )
    done = browser.post("/mypage/passkeys/remove", confirm(browser, "key-phone"))
    assert done.status_code == 302  # another key is left
    asked = browser.post("/mypage/passkeys/remove", {"passkey": "key-laptop"})
    assert asked.status_code == 409  # not even asked: the line says why
    refused = browser.post(
        "/mypage/passkeys/remove", {"passkey": "key-laptop", "confirm": "yes", "client_id": "a-form-of-mine"}
    )
    assert refused.status_code == 409
    line = "このパスキーはあなたがログインできる唯一の方法です。削除する前に別のパスキーを追加してください。"
    assert line in refused.text
    assert keys_of(engine, "hanako.y") == ["Chrome on Mac"]
