"""Passkeys in the console, in process on both databases: a member of staff adds one after joining
and logs in with it; only staff passkeys open the console, and a passkey opens only its own
member's login (a Sapporo admin's key never opens Yokosuka's console). The browser's side runs
in test_console_browser.py."""

from __future__ import annotations

import json

import pytest
from console_helpers import client_id_of, csrf_of, logged_in, member, post_form
from points_helpers import SAPPORO, YOKOSUKA
from soft_authenticator import SoftAuthenticator

from server import logins
from server.db.engine import write
from server.logins import passkeys

REFUSED = "パスキーでログインできませんでした。パスワードでログインしてください。"


@pytest.fixture
def admin(app, engine, operators):
    return logged_in(app, member(engine, YOKOSUKA, "admin"))


def ceremony(client, page: str, step: str, answer=None):
    """One step as passkey.js sends it: JSON with the page's CSRF token in a header."""
    headers = {"X-CSRFToken": csrf_of(client.get(page).text), "Content-Type": "application/json"}
    return client.post(f"/console/passkeys/{step}", data=json.dumps(answer or {}), headers=headers)


def add_passkey(client) -> SoftAuthenticator:
    key = SoftAuthenticator()
    options = ceremony(client, "/console/account", "register-options").json
    assert (
        options["rp"]["id"] == "localhost" and options["authenticatorSelection"]["residentKey"] == "required"
    )
    added = ceremony(client, "/console/account", "register", key.create(options))
    assert added.status_code == 200 and added.json == {"ok": True}
    return key


def log_in_with(app, key: SoftAuthenticator, signer: SoftAuthenticator | None = None):
    visitor = app.test_client()
    options = ceremony(visitor, "/console/login", "login-options").json
    return visitor, ceremony(visitor, "/console/login", "login", key.get(options, signer))


def test_a_member_adds_a_passkey_on_joining_then_logs_in_with_it(app, admin):
    sent = post_form(admin, "/console/staff", "/console/staff", {"role": "viewer", "client_id": "invite-p1"})
    path = sent.text.split('data-testid="invitation-link">')[1].split("<")[0].removeprefix("http://localhost")
    newcomer = app.test_client()
    form = {
        "login_id": "kana.viewer",
        "password": "a long enough passphrase",
        "confirm": "a long enough passphrase",
    }
    joined = post_form(newcomer, path, path, form)
    welcome = newcomer.get(joined.headers["Location"])
    assert (
        "kana.viewer としてコンソールに登録しました。" in welcome.text
        and 'id="passkey-register"' in welcome.text
    )
    key = add_passkey(newcomer)
    assert "に追加" in newcomer.get("/console/account").text  # listed, with its date
    visitor, answer = log_in_with(app, key)
    assert answer.status_code == 200 and answer.json["next"] == "/console/"
    assert "ログインID：kana.viewer" in visitor.get("/console/account").text
    replayed = ceremony(visitor, "/console/login", "login", key.get({"challenge": "AAAA"}))
    assert replayed.status_code == 400  # no challenge asked for: nothing to answer


def test_a_passkey_logs_in_only_its_own_member(app, engine, operators):
    sapporo_admin = logged_in(app, member(engine, SAPPORO, "admin", login_id="sapporo.admin"))
    yokosuka_admin = logged_in(app, member(engine, YOKOSUKA, "admin", login_id="yokosuka.admin"))
    sapporo_key, yokosuka_key = add_passkey(sapporo_admin), add_passkey(yokosuka_admin)
    visitor, answer = log_in_with(app, sapporo_key)
    staff_list = visitor.get("/console/staff").text
    assert answer.status_code == 200 and "sapporo.admin" in staff_list and "yokosuka.admin" not in staff_list
    # Sapporo's key named, Yokosuka's key signing: neither login opens
    forger, forged = log_in_with(app, sapporo_key, signer=yokosuka_key)
    assert forged.status_code == 401 and forged.json == {"ok": False, "message": REFUSED}
    assert forger.get("/console/").status_code == 302
    # and a member's key is no resident's: My Page refuses it
    resident = app.test_client()
    headers = {"X-CSRFToken": csrf_of(resident.get("/mypage/login").text), "Content-Type": "application/json"}
    options = resident.post("/mypage/passkeys/login-options", data="{}", headers=headers).json
    answer = json.dumps(sapporo_key.get(options))
    assert resident.post("/mypage/passkeys/login", data=answer, headers=headers).status_code == 401
    assert resident.get("/mypage/").status_code == 302


def test_a_residents_passkey_never_opens_the_console(app, engine, operators):
    key = SoftAuthenticator()
    with write(engine) as conn:
        resident = logins.create_account(conn, "resident", "HANAKO23", "hanako.y", "a long enough passphrase")
        passkeys.add_passkey(conn, resident.id, key.id, key.public_key(), 0, "Chrome")
    visitor, answer = log_in_with(app, key)
    assert answer.status_code == 401 and answer.json["message"] == REFUSED
    assert visitor.get("/console/").status_code == 302
    with write(engine) as conn:
        assert passkeys.find_passkey(conn, key.id).sign_count == 0  # nothing changed


def test_only_a_logged_in_member_adds_a_passkey(app, operators):
    stranger = app.test_client()
    token = csrf_of(stranger.get("/console/login").text)
    asked = stranger.post("/console/passkeys/register-options", headers={"X-CSRFToken": token})
    assert asked.status_code == 302 and "/console/login" in asked.headers["Location"]
    unsigned = stranger.post("/console/passkeys/login", data="{}", headers={"X-CSRFToken": token})
    assert unsigned.status_code == 400 and unsigned.json["message"] == REFUSED


def test_a_member_removes_their_own_passkey_after_a_question_in_words(app, engine, admin):
    from sqlalchemy import select

    from server.platform.tables import audit_log

    key = add_passkey(admin)
    page = admin.get("/console/account").text
    assert "このパスキーを削除" in page and f'value="{key.id}"' in page
    asked = post_form(admin, "/console/account", "/console/passkeys/remove", {"passkey": key.id})
    assert asked.status_code == 200 and "を削除しますか？" in asked.text
    with write(engine) as conn:
        assert passkeys.find_passkey(conn, key.id) is not None  # asked, nothing removed yet
    form = {
        "passkey": key.id,
        "confirm": "yes",
        "client_id": client_id_of(asked.text, "", "/console/passkeys/remove"),
    }
    removed = post_form(admin, "/console/account", "/console/passkeys/remove", form)
    assert removed.status_code == 303
    twice = post_form(admin, "/console/account", "/console/passkeys/remove", form)  # a double click
    assert twice.status_code == 303
    after = admin.get("/console/account").text
    assert "パスキー「" in after and "」を削除しました。" in after and f'value="{key.id}"' not in after
    visitor, answer = log_in_with(app, key)
    assert answer.status_code != 200  # the key opens nothing any more
    with write(engine) as conn:
        trail = conn.execute(select(audit_log).where(audit_log.c.action == "console.remove_passkey")).all()
    assert [(e.actor.startswith("staff:"), e.municipality_code) for e in trail] == [(True, YOKOSUKA)]


def test_another_members_passkey_is_missing_to_a_member(app, engine, admin):
    other = logged_in(app, member(engine, YOKOSUKA, "viewer", login_id="yokosuka.viewer"))
    theirs = add_passkey(other)
    yes = {"confirm": "yes", "client_id": "a-form-of-mine"}
    for form in ({"passkey": theirs.id}, {"passkey": theirs.id, **yes}, {"passkey": "nope", **yes}):
        refused = post_form(admin, "/console/account", "/console/passkeys/remove", form)
        assert refused.status_code == 404 and "そのパスキーはありません。" in refused.text
    with write(engine) as conn:
        assert passkeys.find_passkey(conn, theirs.id) is not None


def test_removing_a_passkey_needs_the_forms_token(admin):
    refused = admin.post("/console/passkeys/remove", data={"passkey": "x", "confirm": "yes"})
    assert refused.status_code == 400


def test_the_last_way_in_of_a_login_without_a_password_stays(app, engine, admin):
    from sqlalchemy import update

    from server.logins.tables import login_accounts

    key = add_passkey(admin)
    with write(engine) as conn:  # a passkey-only login
        conn.execute(
            update(login_accounts)
            .where(login_accounts.c.login_id == "admin-142018-all")
            .values(password_hash=None)
        )
    asked = post_form(admin, "/console/account", "/console/passkeys/remove", {"passkey": key.id})
    assert asked.status_code == 409  # not even asked: the line says why
    form = {"passkey": key.id, "confirm": "yes", "client_id": "a-form-of-mine"}
    refused = post_form(admin, "/console/account", "/console/passkeys/remove", form)
    assert refused.status_code == 409
    assert (
        "このパスキーはあなたがログインできる唯一の方法です。削除する前に別のパスキーを追加してください。"
        in refused.text
    )
    with write(engine) as conn:
        assert passkeys.find_passkey(conn, key.id) is not None
