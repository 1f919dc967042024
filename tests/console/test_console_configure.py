"""Configuring a town in the console: a terminal enrolled with its code shown once and a QR code,
listed with its heartbeat, revoked; a department added, its budget set, a grant kind added."""

from __future__ import annotations

import re

import pytest
from console_helpers import CENTRAL, client_id_of, logged_in, member, post_form
from points_helpers import YOKOSUKA

from mkp_core import signing
from server.db.engine import write
from server.partners import registry


@pytest.fixture
def admin(app, engine, town):
    return logged_in(app, member(engine, YOKOSUKA, "admin"))


def test_a_terminal_is_enrolled_with_a_qr_code_shown_once_then_revoked(admin):
    form = {"place": "yokosuka-museum", "name": "受付1", "client_id": "enroll-1"}
    made = post_form(admin, "/console/terminals", "/console/terminals", form)
    assert made.status_code == 201
    command = made.text.split('data-testid="enrollment-command">')[1].split("<")[0]
    assert command.startswith("mkp-provision --server http://localhost --code ")
    assert "<svg" in made.text and "<path" in made.text and "<script" not in made.text
    again = post_form(admin, "/console/terminals", "/console/terminals", form)  # the same form again
    assert "--code" not in again.text and "表示済み" in again.text
    listing = admin.get("/console/terminals")
    assert (
        listing.text.count(" 受付1</td>") == 1 and "応答なし" in listing.text
    )  # one terminal, never heard from
    [terminal_id] = set(re.findall(r"\b(t[0-9a-f]{12})\b", listing.text))
    revoked = post_form(
        admin, "/console/terminals", f"/console/terminals/{terminal_id}/revoke", {"reason": "lost"}
    )
    assert revoked.status_code == 200 and f"{terminal_id} を失効させました" in revoked.text


def test_a_department_is_added_given_a_budget_and_a_grant_kind(admin, engine):
    added = post_form(
        admin,
        "/console/departments",
        "/console/departments",
        {"code": "kenko", "name": "健康課", "budget": "5000"},
    )
    assert added.status_code == 201 and "健康課" in added.text and "142018-kenko" in added.text
    budget = post_form(
        admin, "/console/departments", "/console/departments/142018-kenko/budget", {"budget": "8000"}
    )
    assert budget.status_code == 200 and "8,000" in budget.text
    kind = post_form(
        admin,
        "/console/departments",
        "/console/departments/142018-kenko/grant-kinds",
        {"code": "walk", "name": "ウォーキング", "max_amount": "300"},
    )
    assert kind.status_code == 201 and "ウォーキング" in kind.text
    bad = post_form(
        admin, "/console/departments", "/console/departments/142018-kenko/budget", {"budget": "-1"}
    )
    assert bad.status_code == 422 and "Traceback" not in bad.text


def test_a_rule_change_is_previewed_then_recorded_as_a_new_version(admin):
    form = {
        "effective_from": "2030-04-01",
        "place_kinds": ["shop", "museum"],
        "expiry_policy": "month_end",
        "expiry_count": "6",
        "min_amount": "1",
        "vouchers": "yes",
    }
    preview = post_form(admin, "/console/rules", f"/console/rules/{YOKOSUKA}/preview", form)
    assert preview.status_code == 200 and 'data-testid="preview"' in preview.text
    assert "付与した月の末日から6か月後" in preview.text and "（変更）" in preview.text
    assert "記録しました" not in preview.text  # nothing recorded yet
    record = {**form, "client_id": client_id_of(preview.text, "", f"/console/rules/{YOKOSUKA}")}
    recorded = post_form(admin, "/console/rules", f"/console/rules/{YOKOSUKA}", record)
    assert recorded.status_code == 201 and 'data-testid="rule-added"' in recorded.text
    assert "2030-04-01" in admin.get("/console/rules").text
    resent = post_form(admin, "/console/rules", f"/console/rules/{YOKOSUKA}", record)
    assert resent.status_code == 201 and resent.text.count('data-testid="rule-added"') == 1  # the same page
    preview = post_form(admin, "/console/rules", f"/console/rules/{YOKOSUKA}/preview", form)
    anew = {**form, "client_id": client_id_of(preview.text, "", f"/console/rules/{YOKOSUKA}")}
    again = post_form(admin, "/console/rules", f"/console/rules/{YOKOSUKA}", anew)
    assert again.status_code == 422 and "Traceback" not in again.text  # one version a day
    past = post_form(
        admin, "/console/rules", f"/console/rules/{YOKOSUKA}/preview", {**form, "effective_from": "x"}
    )
    assert past.status_code == 422


def test_a_place_is_added_and_given_a_price_list(admin):
    form = {"place_id": "yokosuka-zoo", "name": "横須賀動物園", "kind": "facility", "street": "本町1-1"}
    added = post_form(admin, "/console/places", "/console/places", form)
    assert added.status_code == 201 and "横須賀動物園" in added.text
    again = post_form(admin, "/console/places", "/console/places", form)
    assert again.status_code == 422 and "Traceback" not in again.text
    item = {"code": "ippan", "name": "一般", "price": "500"}
    priced = post_form(admin, "/console/places", "/console/places/yokosuka-zoo/prices", item)
    assert priced.status_code == 200 and "一般" in priced.text and "500" in priced.text
    removed = post_form(admin, "/console/places", "/console/places/yokosuka-zoo/prices/ippan/remove", {})
    assert removed.status_code == 200 and "一般" not in removed.text


def test_an_agreement_is_in_force_once_the_other_town_accepts(app, engine, admin):
    proposed = post_form(
        admin, "/console/agreements", "/console/agreements", {"other": "011002", "direction": "ours_there"}
    )
    assert proposed.status_code == 200 and "相手の自治体の記録待ち" in proposed.text
    sapporo = logged_in(app, member(engine, "011002", "admin"))
    waiting = sapporo.get("/console/agreements")
    assert "こちらの承諾待ち" in waiting.text
    accepted = post_form(
        sapporo, "/console/agreements", "/console/agreements", {"other": YOKOSUKA, "direction": "theirs_here"}
    )
    assert "有効" in accepted.text
    ended = post_form(
        admin,
        "/console/agreements",
        "/console/agreements/end",
        {"other": "011002", "direction": "ours_there"},
    )
    assert "終了" in ended.text
    bad = post_form(
        admin, "/console/agreements", "/console/agreements", {"other": "142019", "direction": "ours_there"}
    )
    assert bad.status_code == 422


def test_an_event_a_reward_and_a_campaign_are_added(admin, engine):
    event = {"suffix": "matsuri", "name": "よこすか祭り", "organiser": "yokosuka-shop"}
    added = post_form(admin, "/console/programmes", "/console/programmes/events", event)
    assert added.status_code == 201 and "142018-MATSURI" in added.text and "受付中" in added.text
    reward = {
        "code": "zoo-pass",
        "name": "動物園年間パス",
        "price": "3000",
        "stock": "50",
        "per_holder": "1",
        "starts": "2030-04-01",
        "ends": "2030-04-30",
    }
    made = post_form(admin, "/console/programmes", "/console/programmes/rewards", reward)
    assert made.status_code == 201 and "動物園年間パス" in made.text and "0 / 50" in made.text
    bad = post_form(
        admin,
        "/console/programmes",
        "/console/programmes/rewards",
        {**reward, "code": "x2", "ends": "2030-03-01"},
    )
    assert bad.status_code == 422 and "Traceback" not in bad.text
    with write(engine) as conn:
        key = signing.public_key_pem(signing.generate_terminal_key()).decode()
        registry.add(conn, CENTRAL, "ANA", "ANA", key)
    campaign = {
        "partner": "ANA",
        "name": "春の上乗せ",
        "percent": "10",
        "budget": "10000",
        "starts": "2030-04-01",
        "ends": "2030-04-30",
    }
    started = post_form(admin, "/console/programmes", "/console/programmes/campaigns", campaign)
    assert started.status_code == 201 and "春の上乗せ" in started.text and "10%" in started.text
