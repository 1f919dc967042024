"""The server's front door as a visitor meets it: ``/`` leads on to My Page, Navi, the console and
the API docs; ``/api/`` lists every endpoint of /openapi.json by tag, with its auth."""

from __future__ import annotations

import re

from flask import Flask
from flask.testing import FlaskClient


def test_the_landing_page_links_every_door(client: FlaskClient) -> None:
    page = client.get("/")
    assert page.status_code == 200 and "text/html" in page.content_type
    links = set(re.findall(r'href="(/[^"]*)"', page.text))
    assert {"/mypage/", "/navi/", "/console/", "/api/"} <= links
    assert "自治体ポイントナビ" in page.text and "マイページ" in page.text
    assert "Point Navi" in client.get("/?lang=en").text


def test_the_api_page_lists_every_endpoint_by_tag(app: Flask, client: FlaskClient) -> None:
    doc = client.get("/openapi.json").json
    page = client.get("/api/?lang=en")
    assert page.status_code == 200
    text = page.text
    listed = set(re.findall(r'<code class="front-method">(\w+)</code> <code>([^<]+)</code>', text))
    expected = {
        (method.upper(), path)
        for path, operations in doc["paths"].items()
        for method in operations
        if method in ("get", "post", "put", "patch", "delete")
    }
    assert listed == expected
    assert '<h2 id="tag-1">municipalities</h2>' in text
    assert "operator_token" in text and "terminal_signature" in text and "partner_signature" in text
    assert 'href="/openapi.json"' in text
    assert "cdn" not in text.lower() and "swagger" not in text.lower()


def test_the_api_page_names_the_auth_of_an_endpoint(client: FlaskClient) -> None:
    text = client.get("/api/").text
    row = re.search(r"<code>/v1/municipalities</code>.*?</tr>", text, re.S)
    assert row is not None and "<code>operator_token</code>" in row.group(0)
    assert "API ドキュメント" in text


def test_front_pages_carry_etags(client: FlaskClient) -> None:
    for address in ("/", "/api/"):
        first = client.get(address)
        again = client.get(address, headers={"If-None-Match": first.headers["ETag"]})
        assert again.status_code == 304
