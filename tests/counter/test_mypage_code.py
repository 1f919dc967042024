"""My Page's activation code at the counter and the login link at home, as a resident gets them:
the code on a Japanese receipt, never kept on the kiosk; the link for the browser. The counter
page's button is asked here as the page asks it (a POST to the agent's page server in this
process): the code reaches the page only when its receipt did not print."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from counter_helpers import PIN, offline
from mkp_testing import sqlite_database

from agent.card_session import proving_card
from agent.counter.web import CounterServer
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


@pytest.fixture
def ask_page(desk) -> Iterator[Any]:
    """POST the counter page's "print a My Page code" button, as the page does, with a PIN."""
    server = CounterServer(desk.counter, 0).start()

    def ask(pin: str) -> dict[str, Any]:
        request = urllib.request.Request(
            f"{server.url}/api/actions/mypage_code",
            data=json.dumps({"pin": pin}).encode(),
            headers={"Content-Type": "application/json", "Origin": server.url},
        )
        with urllib.request.urlopen(request, timeout=20) as response:
            return dict(json.load(response))

    yield ask
    server.stop()


def test_the_page_says_the_code_was_printed_and_for_how_long_but_not_the_code(desk, ask_page):
    done = ask_page(PIN)
    assert done["ok"] and done["kind"] == "mypage_code", done
    assert "code" not in done and done["receipt"]["printed"] is True
    assert done["valid_hours"] == 24
    assert done["signup_url"] == desk.platform.url.rstrip("/") + "/mypage/signup"
    assert datetime.fromisoformat(done["expires_at"]) > datetime.now(UTC)


def test_a_wrong_pin_at_the_page_is_said_in_words(ask_page):
    refused = ask_page("9999")
    assert refused["ok"] is False and refused["error"]["code"] == "wrong_pin"
    assert refused["error"]["message"]["ja"] == "暗証番号が違います。あと2回まちがえるとロックされます。"
    assert "code" not in refused


def test_a_receipt_that_does_not_print_puts_the_code_on_the_page(desk, ask_page, tmp_path):
    desk.counter.receipts.connection = f"file:{tmp_path / 'no-such-dir' / 'printer.bin'}"
    done = ask_page(PIN)
    assert done["ok"] and done["receipt"]["printed"] is False, done
    assert activation_code.normalise(done["code"])
    assert done["receipt"]["message"]["ja"].startswith("コードを画面に表示しています。書き写してください。")


def test_no_card_at_the_page_asks_for_the_card(desk, ask_page):
    desk.backend.remove()
    refused = ask_page(PIN)
    assert refused["error"]["message"]["ja"] == "カードをカードリーダーに置いてください。"


@pytest.mark.parametrize("trouble", ["removed", "blocked"])
def test_card_trouble_at_the_code_reads_as_at_every_other_card_action(desk, trouble):
    if trouble == "removed":
        desk.backend.remove()
    else:
        for _ in range(3):
            desk.counter.balance("0000")
    refused = request_activation_code(desk.counter, PIN)
    elsewhere = desk.counter.balance(PIN)
    assert refused["ok"] is False and "code" not in refused
    assert (
        refused["error"]["code"]
        == elsewhere["error"]["code"]
        == {"removed": "no_card"}.get(trouble, "pin_blocked")
    )
    assert refused["error"]["message"] == elsewhere["error"]["message"]


def test_the_code_reads_the_terminal_downloads_once_like_every_card_action(desk, monkeypatch):
    import agent.terminal

    read_json = agent.terminal.read_json
    files: list[str] = []

    def counted(path):
        files.append(path.name)
        return read_json(path)

    monkeypatch.setattr(agent.terminal, "read_json", counted)
    done = request_activation_code(desk.counter, PIN)
    home = desk.counter.terminal.home
    assert done["ok"], done
    assert files.count(home.config.name) == 1 and files.count(home.trust_list.name) == 1
