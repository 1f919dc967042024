"""Passkeys in the console, in process on both databases: a member of staff adds one after joining
and logs in with it; only staff passkeys open the console, and a passkey opens only its own
member's login (a Sapporo admin's key never opens Yokosuka's console). The browser's side runs
in test_console_browser.py."""

from __future__ import annotations

import json

import pytest
from console_helpers import csrf_of, logged_in, member, post_form
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
    sent = post_form(admin, "/console/staff", "/console/staff", {"role": "viewer", "client_id": "p1"})
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
