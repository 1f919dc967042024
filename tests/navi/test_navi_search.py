"""Point Navi's search as a visitor meets it, in-process: by kana in any shape, by prefecture,
participating towns first, nothing found, bad and hostile input, a bad code; and ETags.

None of it depends on the database beyond which towns take part (one query): SQLite only. The
reads behind the pages run on both databases in test_navi_pages.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from mkp_testing import sqlite_database
from navi_helpers import SAPPORO, YOKOSUKA, furnished
from sqlalchemy import Engine

from server.navi.search import Search, find

JSON = {"Accept": "application/json"}


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    return sqlite_database(tmp_path)


@pytest.fixture
def navi(request: pytest.FixtureRequest, app: Flask, engine: Engine) -> FlaskClient:
    furnished(request, engine)
    return app.test_client()


def found(client: FlaskClient, **query: str) -> list[str]:
    """The codes a search answers, in their order."""
    reply = client.get("/navi/", query_string=query, headers=JSON)
    assert reply.status_code == 200, reply.json
    return [row["code"] for row in reply.json["results"]]


@pytest.mark.parametrize("typed", ["よこすか", "ヨコスカ", "ﾖｺｽｶ", "横須賀", "  よこ　すか "])
def test_a_town_is_found_by_its_name_or_reading_in_any_kana(navi: FlaskClient, typed: str) -> None:
    assert found(navi, q=typed)[0] == YOKOSUKA


def test_participating_towns_come_first_and_are_marked(navi: FlaskClient) -> None:
    codes = found(navi, q="さっぽろ")
    assert codes[0] == SAPPORO and len(codes) > 1  # 札幌市 first, then its wards
    page = navi.get("/navi/?q=さっぽろ")
    assert page.text.index("札幌市中央区") > page.text.index("参加しています")


def test_a_prefecture_lists_its_municipalities_and_narrows_a_search(navi: FlaskClient) -> None:
    kanagawa = found(navi, prefecture="神奈川県")
    assert YOKOSUKA in kanagawa and all(code.startswith("14") for code in kanagawa)
    assert found(navi, q="かながわ よこすか") == [YOKOSUKA]  # the prefecture's reading counts too
    assert found(navi, q="中央区", prefecture="北海道") == ["011011"]


def test_a_long_prefecture_is_paged(navi: FlaskClient) -> None:
    first = navi.get("/navi/", query_string={"prefecture": "北海道"}, headers=JSON).json
    second = navi.get("/navi/", query_string={"prefecture": "北海道", "page": "2"}, headers=JSON).json
    assert first["total"] == 196 and first["pages"] == 2
    assert len(first["results"]) + len(second["results"]) == 196
    assert "次のページ" in navi.get("/navi/?prefecture=北海道").text


def test_nothing_found_says_so(navi: FlaskClient) -> None:
    page = navi.get("/navi/?q=アトランティス")
    assert page.status_code == 200
    assert "一致する自治体はありません" in page.text
    assert found(navi, q="アトランティス") == []


@pytest.mark.parametrize(
    ("query", "said"),
    [
        ({"q": "あ" * 65}, "検索語が長すぎます"),
        ({"q": "<script>alert(1)</script>" * 3}, "検索語が長すぎます"),
        ({"q": " ".join("あいうえおかきく") + " け"}, "検索の語が多すぎます"),
        ({"prefecture": "アトランティス県"}, "その都道府県はありません"),
        ({"page": "-1"}, "結果のそのページはありません"),
        ({"page": "１"}, "結果のそのページはありません"),
    ],
)
def test_bad_input_gets_one_clear_line(navi: FlaskClient, query: dict[str, str], said: str) -> None:
    page = navi.get("/navi/", query_string=query)
    assert page.status_code == 400 and said in page.text
    assert "<script>alert" not in page.text
    assert navi.get("/navi/", query_string=query, headers=JSON).json["error"]["message"].startswith(said[:3])


def test_hostile_words_are_only_words(navi: FlaskClient) -> None:
    for hostile in ("<img src=x onerror=alert(1)>", "' OR 1=1 --", "%00\x00\u202e", "../../etc/passwd"):
        page = navi.get("/navi/", query_string={"q": hostile})
        assert page.status_code == 200 and "一致する自治体はありません" in page.text
        assert "<img src=x" not in page.text


@pytest.mark.parametrize("code", ["142019", "999999", "14201", "abcdef", "1" * 500, "%E2%80%AE142018"])
def test_a_bad_code_is_one_clear_line_on_a_404_page(navi: FlaskClient, code: str) -> None:
    page = navi.get(f"/navi/{code}")
    assert page.status_code == 404 and "text/html" in page.content_type
    assert "この番号の自治体は全国の一覧にありません" in page.text
    refused = navi.get(f"/navi/{code}", headers=JSON)
    assert refused.status_code == 404 and refused.json["error"]["code"] == "unknown_municipality"
    assert refused.json["error"]["request_id"] == refused.headers["X-Request-Id"]


@pytest.mark.parametrize("address", ["/navi/", f"/navi/{YOKOSUKA}", "/navi/partners", "/navi/?q=よこすか"])
def test_a_page_asked_again_is_not_sent_again(navi: FlaskClient, address: str) -> None:
    for headers in ({}, JSON):
        first = navi.get(address, headers=headers)
        assert first.headers["ETag"]
        again = navi.get(address, headers={**headers, "If-None-Match": first.headers["ETag"]})
        assert again.status_code == 304 and again.data == b""
    assert navi.get(address).headers["ETag"] != navi.get(address, headers=JSON).headers["ETag"]


@pytest.mark.parametrize(
    ("typed", "code"),
    [
        ("六ケ所", "024112"),
        ("ろっかしょ", "024112"),
        ("ｱｼﾞｶﾞｻﾜ", "023213"),
        ("０２４１１２", "024112"),
        ("0241", "024112"),
    ],
)
def test_the_same_name_in_another_shape_is_the_same_name(typed: str, code: str) -> None:
    """No database: the search reads only the shipped list."""
    assert code in [row["code"] for row in find(Search(typed), participating=()).rows]


@pytest.mark.parametrize(
    "typed", ["yokosuka", "Yokosuka", "YOKOSUKA-SHI", "ｙｏｋｏｓｕｋａ", "kanagawa yokosuka"]
)
def test_a_town_is_found_by_its_reading_in_romaji(navi: FlaskClient, typed: str) -> None:
    assert found(navi, q=typed.replace("-", ""))[0] == YOKOSUKA


def test_romaji_in_either_system_with_long_vowels_long_or_short(navi: FlaskClient) -> None:
    sapporo = found(navi, q="Sapporo")
    assert sapporo[0] == SAPPORO and "011011" in sapporo  # the city, then its wards
    tokyo = {"130001", "131016"}  # 東京都, 千代田区
    assert tokyo <= set(found(navi, q="tokyo", prefecture="東京都"))
    assert tokyo <= set(found(navi, q="toukyou", prefecture="東京都"))
    assert "220001" in found(navi, q="shizuoka") and "220001" in found(navi, q="sizuoka")  # 静岡県
    assert "271004" in found(navi, q="osakashi") and "271004" in found(navi, q="oosaka shi")  # 大阪市
    assert found(navi, q="mombetsushi")[0] == "012190" == found(navi, q="monbetsushi")[0]  # 紋別市
    assert "014656" in found(navi, q="kembuchi") and "014656" in found(navi, q="kenbuti")  # 剣淵町
    page = navi.get("/navi/?q=yokosuka")
    assert "横須賀市" in page.text and "yokosuka" in page.text  # the search stays in its box


def test_the_search_page_says_romaji_is_taken(navi: FlaskClient) -> None:
    page = navi.get("/navi/")
    assert "ローマ字" in page.text and "yokosuka" in page.text
