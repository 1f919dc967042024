"""`mkp-agent mypage code | login` with a virtual card through pcscd, as a resident runs them: the
kiosk's code for the receipt, the login link at home (without opening a browser here)."""

from __future__ import annotations

import json

import pytest
from mkp_testing import READER0, sqlite_database

from drivers.card.virtual.cardfile import new_card, save_card
from mkp_core import activation_code

pytestmark = pytest.mark.pcsc


@pytest.fixture
def database_url(tmp_path):
    """Through pcscd once, on SQLite: the server side runs on both databases in tests/mypage."""
    return sqlite_database(tmp_path)


def agent(platform, *args: str):
    done = platform.agent(*args, "--json", "--pin-stdin", input="1234\n")
    return done, json.loads(done.stdout) if done.stdout.strip() else None


def test_the_kiosks_code_and_the_home_login_link(platform, slots, tmp_path):
    card = tmp_path / "card.json"
    save_card(new_card(platform.ca), card)
    slots.insert(card, slot=0)
    home = tmp_path / "term" / "home"
    done = platform.provision(home, "--reader", READER0, code=platform.new_code()["code"])
    assert done.returncode == 0, done.stdout + done.stderr
    done, registered = agent(platform, "mykey", "register", "--server", platform.url, "--reader", READER0)
    assert done.returncode == 0, done.stderr

    done, code = agent(platform, "mypage", "code", "--home", str(home))
    assert done.returncode == 0, done.stdout + done.stderr
    assert activation_code.normalise(code["code"]) and code["mykey_id"] == registered["mykey_id"]
    assert code["receipt"]["printed"]

    done, link = agent(
        platform, "mypage", "login", "--server", platform.url, "--reader", READER0, "--no-browser"
    )
    assert done.returncode == 0, done.stderr
    assert link["url"].startswith(platform.url.rstrip("/") + "/mypage/link#")
