"""Point Navi's pages of a municipality and of the partners as a visitor meets them, in-process and
on both databases: a town on the platform in plain words, a coming change of its rules, a town
not on it, the partners, the JSON. The search is in test_navi_search.py."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from navi_helpers import CENTRAL, SAPPORO, YOKOSUKA, furnished
from sqlalchemy import Engine

from mkp_core.dates import JST
from server.db.engine import write
from server.points.expiry_policy import ExpiryPolicy
from server.points.rules import RuleChange, add_rule

JSON = {"Accept": "application/json"}


@pytest.fixture
def navi(request: pytest.FixtureRequest, app: Flask, engine: Engine) -> FlaskClient:
    furnished(request, engine)
    return app.test_client()


def test_a_participating_town_shows_its_rules_in_plain_words(navi: FlaskClient) -> None:
    page = navi.get(f"/navi/{YOKOSUKA}")
    assert page.status_code == 200
    text = page.text
    for seen in (
        "横須賀市の店舗、博物館・美術館で使えます。",
        "協定により、札幌市の同じ種類の場所でも使えます。",
        "横須賀アンテナショップ 有楽町",
        "東京都千代田区有楽町2-10-1",
        "付与された月の6か月後の月末まで有効です。",
        "1回に5,000ポイントまで使えます。",
        "紙の商品券",
        "神奈川県横須賀市鴨居4-1",
        "よこすか開国祭",
        "花火大会 観覧席",
        "春の応援",
        "横須賀市の上乗せ",
    ):
        assert seen in text, seen


def test_a_coming_change_of_the_rules_is_told_ahead(navi: FlaskClient, engine: Engine) -> None:
    starts = datetime.now(UTC) + timedelta(days=10)
    change = RuleChange(starts, ["shop"], [], ExpiryPolicy("days", 90), 100, None, False)
    with write(engine) as conn:
        add_rule(conn, CENTRAL, YOKOSUKA, change)
    text = navi.get(f"/navi/{YOKOSUKA}?lang=en").text
    assert f"From {starts.astimezone(JST):%Y-%m-%d %H:%M}, new rules:" in text
    assert "Valid for 90 days after the day they are given." in text
    assert "Spend at least 100 points at a time." in text
    general = navi.get(f"/navi/{YOKOSUKA}", headers=JSON).json["point_codes"][0]
    assert general["rule"]["max_amount"] == 5000  # the rules in force now stay as they are
    assert general["next_rule"]["expiry"]["count"] == 90


def test_a_town_not_on_the_platform_says_so_plainly(navi: FlaskClient) -> None:
    page = navi.get("/navi/131041")  # 新宿区
    assert page.status_code == 200
    assert "新宿区はマイキーポイントに参加していません" in page.text
    assert navi.get("/navi/131041", headers=JSON).json == {
        "municipality": {"code": "131041", "prefecture": "東京都", "name": "新宿区", "kana": "シンジュクク",
                         "kind": "ward", "participating": False, "kind_in_words": "特別区"},
        "participating_nearby": [{"code": "131016", "prefecture": "東京都", "name": "千代田区",
                                  "kana": "チヨダク", "kind": "ward"}],
    }  # fmt: skip
    assert "東京都で参加している自治体" in page.text and 'href="/navi/131016"' in page.text
    assert navi.get("/navi/272159", headers=JSON).json["participating_nearby"] == []  # 大阪府: none


def test_the_partners_page_gives_rates_and_hold_days(navi: FlaskClient) -> None:
    text = navi.get("/navi/partners?lang=en").text
    assert "500 全日本空輸 points become 100 municipal points." in text
    assert "Converted points wait 14 days before they reach your wallet." in text
    assert "A bonus of 10 percent on each conversion." in text
    (ana,) = navi.get("/navi/partners", headers=JSON).json["partners"]
    assert (ana["rate_from"], ana["rate_to"], ana["hold_days"]) == (500, 100, 14)


def test_json_has_the_page_s_data(navi: FlaskClient) -> None:
    guide = navi.get(f"/navi/{YOKOSUKA}", headers=JSON).json
    assert guide["municipality"]["participating"] is True and guide["takes_vouchers"] is True
    general, festival = guide["point_codes"]
    assert general["code"] == YOKOSUKA and festival["code"] == "142018-FEST2026"
    assert general["rule"]["expiry"] == {"policy": "month_end", "count": 6, "last_day": None}
    assert general["rule"]["max_amount"] == 5000 and [m["code"] for m in general["rule"]["usable_in"]] == [
        SAPPORO
    ]
    assert festival["rule"]["vouchers"] is False  # an event's code keeps the default rule
    assert [p["id"] for p in guide["places"]][:1] == ["kaikokusai"]
    assert guide["events"] == [{"point_code": "142018-FEST2026", "name": "よこすか開国祭",
                                "organiser": "よこすか開国祭実行委員会"}]  # fmt: skip
    (reward,) = guide["rewards"]
    assert (reward["price"], reward["left"], reward["place"]["name"]) == (500, 3, "横須賀美術館")
    assert {c["name"] for c in guide["campaigns"]} == {"春の応援", "横須賀市の上乗せ"}
    assert all(isinstance(line, str) for line in general["in_words"])


def test_sapporo_shows_only_its_own_and_the_partners_campaigns(navi: FlaskClient) -> None:
    guide = navi.get(f"/navi/{SAPPORO}", headers=JSON).json
    assert [c["name"] for c in guide["campaigns"]] == ["春の応援"]
    assert [m["code"] for m in guide["accepts_points_of"]] == [YOKOSUKA]
    assert guide["takes_vouchers"] is False and guide["places"] == []


def test_english_on_request(navi: FlaskClient) -> None:
    page = navi.get(f"/navi/{YOKOSUKA}?lang=en")
    assert page.headers["Content-Language"] == "en"
    assert "Usable at shops, museums in 横須賀市." in page.text
