"""Point Navi, the landing page and the API docs in Debian's Chromium, as a resident on a phone and
at a kiosk meets them: a search by kana at 390×844, nothing wider than the screen, and axe-core
finding no serious fault on any of the pages. With MKP_SCREENS=1 the screens go to docs/screens/
(navi-*.png), so a plain test run leaves the work tree as it was."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from axe import assert_no_serious_violations
from flask import Flask
from mkp_testing import sqlite_database
from navi_helpers import YOKOSUKA, furnish_town
from sqlalchemy import Engine

pytestmark = pytest.mark.slow  # starts a browser
SCREENS = Path(__file__).resolve().parents[2] / "docs" / "screens"
SHOWN = {"landing", "navi", "navi-town", "navi-partners", "api-docs"}
"""The kiosk screens kept for README (the phone's are kept by the search test)."""


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    """The pages are the point here: SQLite only (Navi's reads run on both in test_navi_pages.py)."""
    return sqlite_database(tmp_path)


@pytest.fixture
def town(app: Flask, engine: Engine) -> Flask:
    furnish_town(engine)
    return app


def keep(tab: Any, name: str, full_page: bool = True) -> None:
    """The screen, saved for README when asked for (``MKP_SCREENS=1``)."""
    if os.environ.get("MKP_SCREENS") == "1":
        SCREENS.mkdir(parents=True, exist_ok=True)
        tab.screenshot(path=str(SCREENS / f"{name}.png"), full_page=full_page)


def fits(tab: Any) -> bool:
    """Nothing on the page is wider than the screen (no sideways scrolling)."""
    width: int = tab.evaluate("document.documentElement.scrollWidth")
    return width <= tab.viewport_size["width"]


def test_a_resident_finds_their_town_by_kana_on_a_phone(town: Flask, site_page: Any) -> None:
    tab = site_page(town, phone=True)
    tab.goto("/navi/")
    assert_no_serious_violations(tab)
    tab.get_by_label("名前または読み").fill("よこすか")
    tab.get_by_role("button", name="検索").click()
    result = tab.get_by_role("link", name="神奈川県横須賀市")
    assert result.is_visible() and tab.get_by_text("参加しています").first.is_visible()
    assert fits(tab)
    keep(tab, "navi-search-phone")
    assert_no_serious_violations(tab)
    result.click()
    tab.wait_for_url(f"**/navi/{YOKOSUKA}")
    assert tab.get_by_role("heading", name="ポイントとその決まり").is_visible()
    assert tab.get_by_text("付与された月の6か月後の月末まで有効です。").first.is_visible()
    assert fits(tab)
    keep(tab, "navi-town-phone")
    assert_no_serious_violations(tab)


def test_every_public_page_passes_axe_at_a_kiosk_and_fits_a_phone(town: Flask, site_page: Any) -> None:
    kiosk, phone = site_page(town), site_page(town, phone=True)
    pages = {
        "landing": "/",
        "navi": "/navi/",
        "navi-town": f"/navi/{YOKOSUKA}",
        "navi-not-taking-part": "/navi/131041",
        "navi-partners": "/navi/partners",
        "api-docs": "/api/",
        "navi-english": f"/navi/{YOKOSUKA}?lang=en",
    }
    for name, address in pages.items():
        kiosk.goto(address)
        assert_no_serious_violations(kiosk)
        assert fits(kiosk), name
        if name in SHOWN:
            keep(kiosk, f"{name}-kiosk", full_page=name != "api-docs")  # the docs run 15,000 px
        phone.goto(address)
        assert fits(phone), name
