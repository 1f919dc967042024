"""The browser plugin (tests/browser.py) keeps one Chromium for the test process: a test that starts
an asyncio loop of its own (the connection test's simulator) must still be able to, after a
browser test ran in the same process. Both tests share an xdist group, so they run in one worker,
in this order."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

pytestmark = pytest.mark.xdist_group("browser-then-asyncio")


def plain_text(environ: dict, start_response: Callable) -> list[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ok"]


@pytest.mark.slow  # starts a browser
def test_a_page_opens(site_page):
    page = site_page(plain_text)
    page.goto("/")
    assert page.text_content("body") == "ok"


def test_a_loop_of_its_own_starts_after_a_browser_test():
    async def answer() -> int:
        await asyncio.sleep(0)
        return 42

    assert asyncio.run(answer()) == 42
