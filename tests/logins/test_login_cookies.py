"""Logins as a browser meets them: the cookie's flags, a guarded page, a new session at login."""

from __future__ import annotations

import re

import pytest
from flask import Flask, render_template_string, request
from flask.testing import FlaskClient
from sqlalchemy import Engine

from server import logins
from server.db.engine import write
from server.site import page_blueprint

PASSWORD = "correct horse battery"


@pytest.fixture
def pages(app: Flask, engine: Engine) -> Flask:
    """A page only for residents, and a login form, as My Page or the console builds them."""
    bp = page_blueprint("sample_login", __name__, url_prefix="/sample")

    @bp.get("/")
    @logins.login_required("resident", "sample_login.login")
    def home() -> str:
        who = logins.current_login("resident")
        assert who is not None
        return f"hello {who.account.login_id}"

    @bp.get("/login")
    def login() -> str:
        return render_template_string(
            '{% import "site/forms.html" as forms %}<form method="post">{{ forms.csrf() }}</form>'
        )

    @bp.post("/login")
    def send() -> str:
        try:
            logins.log_in_by_password("resident", request.form["login_id"], request.form["password"])
        except logins.LoginFailed:
            return "wrong"
        return "in"

    @bp.post("/out")
    def out() -> str:
        return str(logins.log_out_everywhere("resident"))

    app.register_blueprint(bp)
    with write(engine) as conn:
        logins.create_account(conn, "resident", "17", "hanako", PASSWORD)
    return app


def log_in(client: FlaskClient, password: str = PASSWORD) -> str:
    form = client.get("/sample/login").text
    token = re.search(r'name="csrf_token" value="([^"]+)"', form)
    assert token is not None
    return client.post(
        "/sample/login", data={"csrf_token": token.group(1), "login_id": "hanako", "password": password}
    ).text


def csrf_of(client: FlaskClient) -> str:
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/sample/login").text)
    assert token is not None
    return token.group(1)


def test_a_guarded_page_sends_a_stranger_to_the_login_and_back(pages: Flask) -> None:
    client = pages.test_client()
    answer = client.get("/sample/?x=1")
    assert answer.status_code == 302
    assert answer.headers["Location"].startswith("/sample/login?next=")
    assert log_in(client) == "in"
    assert client.get("/sample/").text == "hello hanako"


def test_the_cookie_is_httponly_lax_and_secure_only_over_tls(pages: Flask) -> None:
    plain = pages.test_client()
    assert log_in(plain) == "in"
    cookie = plain.get_cookie("mkp_login_resident")
    assert cookie is not None and cookie.http_only and cookie.same_site == "Lax" and not cookie.secure
    tls = pages.test_client()
    form = tls.get("/sample/login", base_url="https://localhost").text
    token = re.search(r'name="csrf_token" value="([^"]+)"', form)
    assert token is not None
    tls.post(
        "/sample/login",
        base_url="https://localhost",
        headers={"Referer": "https://localhost/sample/login"},
        data={"csrf_token": token.group(1), "login_id": "hanako", "password": PASSWORD},
    )
    secure = tls.get_cookie("mkp_login_resident", domain="localhost")
    assert secure is not None and secure.secure


def test_a_login_makes_a_new_session_and_a_planted_token_is_worth_nothing(pages: Flask) -> None:
    client = pages.test_client()
    client.set_cookie("mkp_login_resident", "planted-by-an-attacker")
    assert client.get("/sample/").status_code == 302
    log_in(client)
    first = client.get_cookie("mkp_login_resident")
    assert first is not None and first.value != "planted-by-an-attacker"
    log_in(client)
    second = client.get_cookie("mkp_login_resident")
    assert second is not None and second.value != first.value
    stale = pages.test_client()
    stale.set_cookie("mkp_login_resident", first.value)
    assert stale.get("/sample/").status_code == 302  # the earlier session ended at the new login


def test_a_wrong_password_sets_no_cookie(pages: Flask) -> None:
    client = pages.test_client()
    assert log_in(client, "wrong password!") == "wrong"
    assert client.get_cookie("mkp_login_resident") is None


def test_log_out_everywhere_ends_the_other_browsers_too(pages: Flask) -> None:
    phone, laptop = pages.test_client(), pages.test_client()
    log_in(phone)
    log_in(laptop)
    assert laptop.post("/sample/out", data={"csrf_token": csrf_of(laptop)}).text == "2"
    assert phone.get("/sample/").status_code == 302
    assert laptop.get("/sample/").status_code == 302
