"""Navi answers for every row of MIC's list, and its biggest pages stay light enough for a phone.

The walk goes through the app in-process: every code as JSON (a row that crashes the guide, or
an answer that forgets to say whether the town takes part, fails here), a sample as pages. The database is SQLite: the
reads behind these pages are tested on both databases in test_navi_pages.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from mkp_testing import sqlite_database
from navi_helpers import SAPPORO, YOKOSUKA, furnished
from sqlalchemy import Engine

from mkp_core.municipalities import all_municipalities
from server.navi.pages import municipality

PAGE_WEIGHT_LIMIT = 200_000
"""Bytes: the most a Navi page may weigh with its style sheets (the brief's bound)."""


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    return sqlite_database(tmp_path)


@pytest.fixture
def navi(request: pytest.FixtureRequest, app: Flask, engine: Engine) -> FlaskClient:
    furnished(request, engine)
    return app.test_client()


def test_every_code_of_the_list_answers(app: Flask, navi: FlaskClient) -> None:
    """Navi's view answers each code (called in one request context: the HTTP stack around it is
    the same for every code, and going through it 1,965 times would cost seconds)."""
    codes = list(all_municipalities())
    assert len(codes) == 1965
    taking_part = set()
    with app.test_request_context(headers={"Accept": "application/json"}):
        for code in codes:
            reply = municipality(code)
            assert reply.status_code == 200, code
            assert reply.json is not None and reply.json["municipality"]["code"] == code
            if reply.json["municipality"]["participating"]:
                taking_part.add(code)
    assert taking_part == {YOKOSUKA, SAPPORO, "131016"}


def test_a_sample_of_codes_has_its_page(navi: FlaskClient) -> None:
    """Every 25th row and the first of each kind as pages (the walk above reads them all as JSON)."""
    rows = list(all_municipalities().values())
    first_of_kind = {m.kind: m for m in reversed(rows)}.values()
    for m in [*rows[::25], *first_of_kind, rows[-1]]:
        page = navi.get(f"/navi/{m.code}")
        assert page.status_code == 200 and m.name in page.text, m.code


def weight(client: FlaskClient, address: str) -> int:
    """The bytes a browser fetches for ``address``: the page and the style sheets it links."""
    page = client.get(address)
    assert page.status_code == 200, address
    sheets = [s for s in ("/static/site/site.css", "/static/navi/navi.css") if s in page.text]
    return len(page.data) + sum(len(client.get(s).data) for s in sheets)


def test_the_biggest_pages_weigh_under_200_kb(navi: FlaskClient) -> None:
    heaviest = {
        address: weight(navi, address)
        for address in (
            "/navi/",
            "/navi/?prefecture=北海道",  # the longest prefecture: a full page of results
            "/navi/?q=市",  # a word in hundreds of names
            f"/navi/{YOKOSUKA}",  # the town with the most to show
            "/navi/partners",
        )
    }
    print("page weights (bytes):", heaviest)
    assert max(heaviest.values()) < PAGE_WEIGHT_LIMIT, heaviest
