"""Browser tests' shared parts (a pytest plugin): Debian's Chromium under Playwright, an app served
from a thread, a page per test that keeps a screenshot when its test fails.

Why here: My Page, Navi and the console all test their pages in a real browser, the way their
users meet them; each starting Chromium its own way would drift. No browser is ever downloaded:
Playwright drives /usr/bin/chromium (install.sh installs it). Tests that use these start a browser
process, so they are marked ``slow`` by the ``chromium`` fixture's users.

    def test_login(site_page):
        page = site_page(app)               # a tab on the app, 1024×768
        page = site_page(app, phone=True)   # 390×844, touch
"""

from __future__ import annotations

import asyncio
import shutil
import threading
from asyncio import events as asyncio_events
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from werkzeug.serving import make_server

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
KIOSK = {"width": 1024, "height": 768}
PHONE = {"width": 390, "height": 844}
# Chromium as root in a container, and no calls home on a closed network.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.hookimpl(tryfirst=True, hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: Any) -> Iterator[None]:
    """Let fixtures see how their test went (``request.node.rep_call``), to keep a screenshot."""
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    setattr(item, f"rep_{report.when}", report)


@contextmanager
def _playwright_loop(loop: asyncio.AbstractEventLoop | None) -> Iterator[None]:
    """Playwright's asyncio loop marked as this thread's running loop, as its sync API needs it to
    be while it is used, and unmarked after."""
    asyncio_events._set_running_loop(loop)
    try:
        yield
    finally:
        asyncio_events._set_running_loop(None)


@pytest.fixture(scope="session")
def _chromium_process() -> Iterator[tuple[Any, asyncio.AbstractEventLoop | None]]:
    """One headless Chromium for the test process, and the loop of Playwright's that drives it:
    starting Playwright's driver and Chromium takes 1.6 s of CPU, and was done once per browser
    test module (seven in the suite) before.

    Playwright's sync API leaves its loop marked as the thread's running loop between calls, and
    ``asyncio.run`` refuses to start where a loop runs (the connection test's simulator runs in
    the same process): the mark is kept only while a browser test runs (``chromium``)."""
    sync_api = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium is not installed (install.sh installs it)")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        loop = asyncio_events._get_running_loop()
        asyncio_events._set_running_loop(None)
        yield browser, loop
        asyncio_events._set_running_loop(loop)  # for the browser's close and Playwright's exit
        browser.close()


@pytest.fixture
def chromium(_chromium_process: tuple[Any, asyncio.AbstractEventLoop | None]) -> Iterator[Any]:
    """The process's headless Chromium, for one test (a tab or a context per test, never shared)."""
    browser, loop = _chromium_process
    with _playwright_loop(loop):
        yield browser


@contextmanager
def served_from_thread(app: Any) -> Iterator[str]:
    """``app`` on a real local port (a browser needs one), served by a thread of this process."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=5)


@pytest.fixture
def site_page(chromium: Any, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[..., Any]]:
    """Open a tab on an app: ``site_page(app, phone=False, lang="ja")``; its ``base_url`` is the server's.

    The tab's context is new (no cookies), so two calls are two different visitors. When the test
    fails, each tab's last screen is kept as ``failure-N.png`` in the test's tmp folder.
    """
    opened: list[tuple[Any, Any]] = []
    servers: list[Any] = []

    def open_tab(app: Any, *, phone: bool = False, lang: str = "ja") -> Any:
        serving = served_from_thread(app)
        url = serving.__enter__()
        servers.append(serving)
        context = chromium.new_context(
            base_url=url,
            viewport=PHONE if phone else KIOSK,
            is_mobile=phone,
            has_touch=phone,
            locale="ja-JP" if lang == "ja" else "en-US",
        )
        context.set_default_timeout(10_000)
        tab = context.new_page()
        opened.append((context, tab))
        return tab

    yield open_tab
    report = getattr(request.node, "rep_call", None)
    for number, (context, tab) in enumerate(opened):
        if report is not None and report.failed:
            shot = tmp_path / f"failure-{number}.png"
            tab.screenshot(path=str(shot), full_page=True)
            print(f"screenshot of the failure: {shot}")
        context.close()
    for serving in servers:
        serving.__exit__(None, None, None)
