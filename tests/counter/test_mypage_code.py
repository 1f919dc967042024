"""My Page's activation code at the counter and the login link at home, as a resident gets them:
the code on a Japanese receipt, never kept on the kiosk; the link for the browser."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from counter_helpers import PIN, offline
from mkp_testing import sqlite_database

from agent.card_session import proving_card
from agent.mypage import activation_lines, login_link, request_activation_code
from mkp_core import activation_code
from mkp_core.client import ApiClient


@pytest.fixture
def database_url(tmp_path) -> str:
    """The kiosk's side, on SQLite: the server's side runs on both in tests/mypage."""
    return sqlite_database(tmp_path)


def test_the_counter_prints_a_code_for_the_card_and_keeps_nothing_of_it(desk):
    done = request_activation_code(desk.counter, PIN)
    assert done["ok"], done
    assert activation_code.normalise(done["code"]) and done["mykey_id"] == desk.mykey_id
    assert done["receipt"] == {"printed": True, "error": None}
    assert (desk.home.parent / "receipt.bin").stat().st_size > 0
    kept = desk.counter.queue._db.execute("SELECT body FROM receipts").fetchall()
    assert not any(done["code"] in str(row) for row in kept)


def test_the_receipt_says_in_japanese_what_to_do_with_the_code():
    lines = activation_lines(
        "横須賀美術館", "ABCD-EFGH-J", datetime(2026, 12, 8, 3, 0, tzinfo=UTC), "https://mkp.example"
    )
    assert "ABCD-EFGH-J" in lines
    assert "有効期限 2026年12月8日 12:00まで" in lines
    assert "https://mkp.example/mypage/signup" in lines


def test_a_wrong_pin_or_no_server_gets_no_code(desk):
    wrong = request_activation_code(desk.counter, "9999")
    assert not wrong["ok"] and wrong["pin_tries_left"] == 2
    offline(desk)
    away = request_activation_code(desk.counter, PIN)
    assert not away["ok"] and away["error"]["code"] == "offline_not_possible"


def test_at_home_the_card_gets_a_login_link_for_the_browser(desk):
    with proving_card(desk.backend, PIN) as card:
        link = login_link(ApiClient(desk.platform.url), card)
    assert link["url"].startswith(desk.platform.url.rstrip("/") + "/mypage/link#")
