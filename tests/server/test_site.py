"""The page kernel as a visitor meets it: their language, a refused stale form, safe headers."""

from __future__ import annotations

import re

import pytest
from flask import Flask, render_template_string
from flask.testing import FlaskClient

from server.site import page_blueprint, render


@pytest.fixture
def pages(app: Flask) -> FlaskClient:
    """The app with one page and one form on the kernel, as a domain would add them."""
    bp = page_blueprint("sample", __name__, url_prefix="/sample")

    @bp.get("/")
    def show() -> object:
        return render("site/error.html", message="sample")

    @bp.get("/form")
    def form() -> str:
        return render_template_string(
            '{% import "site/forms.html" as forms %}<form method="post">{{ forms.csrf() }}</form>'
        )

    @bp.post("/form")
    def send() -> str:
        return "sent"

    app.register_blueprint(bp)
    return app.test_client()


def test_a_page_speaks_japanese_first(pages: FlaskClient) -> None:
    page = pages.get("/sample/")
    assert page.headers["Content-Language"] == "ja"
    assert '<html lang="ja">' in page.text
    assert "マイキーポイント" in page.text


def test_english_by_query_is_remembered_and_by_accept_language(pages: FlaskClient) -> None:
    page = pages.get("/sample/?lang=en")
    assert "MyKey Points" in page.text and page.headers["Content-Language"] == "en"
    assert "mkp_lang=en" in page.headers["Set-Cookie"] and "HttpOnly" in page.headers["Set-Cookie"]
    assert pages.get("/sample/").headers["Content-Language"] == "en"  # the cookie keeps the choice
    fresh = pages.application.test_client()
    assert (
        fresh.get("/sample/", headers={"Accept-Language": "en-US,en;q=0.9"}).headers["Content-Language"]
        == "en"
    )
    assert fresh.get("/sample/", headers={"Accept-Language": "fr"}).headers["Content-Language"] == "ja"


def test_a_form_without_its_token_is_refused_in_words_and_changes_nothing(pages: FlaskClient) -> None:
    refused = pages.post("/sample/form", data={"x": "1"})
    assert refused.status_code == 400
    assert "text/html" in refused.content_type
    assert "このフォームは有効期限が切れました" in refused.text
    assert "sent" not in refused.text


def test_a_form_with_its_token_goes_through(pages: FlaskClient) -> None:
    form = pages.get("/sample/form")
    token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
    assert token is not None
    assert pages.post("/sample/form", data={"csrf_token": token.group(1)}).text == "sent"


def test_every_response_carries_the_security_headers(pages: FlaskClient) -> None:
    answers = ("/sample/", "/healthz", "/sample/nowhere", "/v1/terminal/clock")  # the clock skips Flask
    for response in (pages.get(path) for path in answers):
        policy = response.headers["Content-Security-Policy"]
        assert "script-src 'self'" in policy and "unsafe-inline" not in policy
        assert "frame-ancestors 'none'" in policy
        assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_a_missing_page_is_a_page_not_json(pages: FlaskClient) -> None:
    missing = pages.get("/sample/nowhere")
    assert missing.status_code == 404 and "text/html" in missing.content_type
    assert "このページはありません" in missing.text


def test_the_style_sheet_comes_from_the_server_itself(pages: FlaskClient) -> None:
    page = pages.get("/sample/")
    sheet = re.search(r'href="(/static/site/site\.css)"', page.text)
    assert sheet is not None
    assert pages.get(sheet.group(1)).status_code == 200
    assert "http://" not in page.text and "https://" not in page.text  # no CDN


@pytest.mark.slow
def test_a_browser_shows_the_page_without_breaking_its_policy(pages: FlaskClient, site_page) -> None:  # type: ignore[no-untyped-def]
    tab = site_page(pages.application, phone=True)
    refused: list[str] = []
    tab.on("console", lambda message: refused.append(message.text) if message.type == "error" else None)
    tab.goto("/sample/?lang=en")
    assert tab.get_by_role("link", name="MyKey Points").is_visible()
    assert tab.evaluate("document.documentElement.scrollWidth") <= 390  # nothing wider than a phone
    assert not refused  # the style sheet loaded under the CSP, nothing blocked


@pytest.mark.slow
def test_the_kernel_pages_pass_axe_core(pages: FlaskClient, site_page) -> None:  # type: ignore[no-untyped-def]
    from axe import assert_no_serious_violations

    tab = site_page(pages.application)
    for address in ("/sample/", "/sample/nowhere", "/sample/?lang=en"):
        tab.goto(address)
        assert_no_serious_violations(tab)
