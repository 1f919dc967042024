"""Whatever a form is sent — any text in any field, fields missing — the sign-up and login pages
answer with a page and a status a browser understands, never a server error, and make no login.
Property-based (hypothesis); SQLite (the same code answers on PostgreSQL in the page tests)."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask import Flask
from hypothesis import given
from hypothesis import strategies as st
from mkp_testing import fuzz_settings, sqlite_database
from mypage_helpers import Visitor
from sqlalchemy import Engine, select

from server.db.engine import read
from server.logins.tables import login_accounts

FUZZ = fuzz_settings(30)
text = st.text(max_size=120)
maybe = st.one_of(st.none(), text)


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    return sqlite_database(tmp_path)


def sent(fields: dict[str, str | None]) -> dict[str, str]:
    return {name: value for name, value in fields.items() if value is not None}


def test_any_sign_up_body_gets_a_page_and_makes_no_login(app: Flask, engine: Engine) -> None:
    visitor = Visitor(app)
    token = visitor.token()

    @given(code=maybe, login_id=maybe, password=maybe, confirm=maybe)
    @FUZZ
    def send(code: str | None, login_id: str | None, password: str | None, confirm: str | None) -> None:
        body = sent({"code": code, "login_id": login_id, "password": password, "confirm": confirm})
        answer = visitor.client.post("/mypage/signup", data={"csrf_token": token, **body})
        assert answer.status_code in (200, 302, 410, 422, 429), answer.status_code
        assert "text/html" in answer.content_type or answer.status_code == 302

    send()
    with read(engine) as conn:
        assert conn.execute(select(login_accounts)).first() is None


def test_any_login_body_is_refused_in_words(app: Flask) -> None:
    visitor = Visitor(app)
    token = visitor.token()

    @given(login_id=maybe, password=maybe, next_page=maybe)
    @FUZZ
    def send(login_id: str | None, password: str | None, next_page: str | None) -> None:
        body = sent({"login_id": login_id, "password": password, "next": next_page})
        answer = visitor.client.post("/mypage/login", data={"csrf_token": token, **body})
        assert answer.status_code in (401, 422, 429), answer.status_code
        assert "mkp_login_resident" not in answer.headers.get("Set-Cookie", "")

    send()
