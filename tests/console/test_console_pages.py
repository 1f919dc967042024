"""The console's pages as staff use them, in-process on both databases: log in, see the dashboard,
grant from a file, close a month, schedule and watch a connection test, read the audit trail."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

import pytest
from console_helpers import logged_in, member, post_form
from points_helpers import YOKOSUKA, grant
from sqlalchemy import func, select

from mkp_core.dates import JST
from server.db.engine import read, write
from server.platform.tables import audit_log
from server.points.tables import grants


@pytest.fixture
def admin(app, engine, operators):
    return logged_in(app, member(engine, YOKOSUKA, "admin"))


def test_a_visitor_without_login_is_sent_to_the_login_page(client):
    answer = client.get("/console/")
    assert answer.status_code == 302 and "/console/login" in answer.headers["Location"]
    page = client.get("/console/login")
    assert 'autocomplete="username"' in page.text and 'autocomplete="current-password"' in page.text


def test_a_wrong_password_is_one_clear_line(client, engine, operators):
    member(engine, YOKOSUKA, "viewer", login_id="viewer-1")
    refused = post_form(
        client, "/console/login", "/console/login", {"login_id": "viewer-1", "password": "wrong wrong wrong"}
    )
    assert refused.status_code == 401 and "Traceback" not in refused.text
    assert 'class="error"' in refused.text


def test_the_dashboard_shows_the_granted_total_with_chart_table_and_csv(client, admin, town):
    grant(client, town.yokosuka, "HANAKO23", 1200)
    page = admin.get("/console/")
    assert page.status_code == 200 and 'data-testid="granted-total">1,200<' in page.text
    assert "月ごとのポイント" in page.text and "/console/charts/months.svg" in page.text
    chart = admin.get("/console/charts/months.svg")
    assert chart.mimetype == "image/svg+xml" and b"<script" not in chart.data
    assert "script-src" not in chart.headers["Content-Security-Policy"]
    table = admin.get("/console/figures/months.csv")
    assert table.mimetype == "text/csv" and table.text.startswith("\ufeff月,付与,利用,失効,交換")
    assert ",1200,0,0,0" in table.text
    assert admin.get("/console/charts/nothing.svg").status_code == 404


GOOD = (
    "municipality,mykey_id,amount,grant_kind\n142018,HANAKO23,100,childcare\n142018,TAROU234,200,childcare\n"
)
MIXED = (
    "自治体コード,マイキーID,ポイント,付与種別\r\n"
    "142018,HANAKO23,100,childcare\r\n"
    "142018,NOBODY99,100,childcare\r\n"
    "142018,TAROU234,abc,childcare\r\n"
    "142018,JIROU345,100,nokind\r\n"
)


def upload(client, text: str, encoding: str = "utf-8"):
    data = {"department": "142018-kosodate", "file": (io.BytesIO(text.encode(encoding)), "4月分.csv")}
    return post_form(client, "/console/grants", "/console/grants", data, content_type="multipart/form-data")


def test_a_shift_jis_file_with_mixed_errors_lists_them_all_then_a_fixed_file_applies(admin, engine, town):
    sent = upload(admin, MIXED, "cp932")
    assert sent.status_code == 303
    checked = admin.get(sent.headers["Location"])
    assert checked.status_code == 422 and "3 件の問題" in checked.text
    for line in ("3", "4", "5"):
        assert f"{line} 行目" in checked.text
    fixed = upload(admin, GOOD)
    page = admin.get(fixed.headers["Location"])
    assert page.status_code == 200 and 'data-testid="points">300<' in page.text
    applied = post_form(admin, fixed.headers["Location"], fixed.headers["Location"] + "/apply", {})
    assert applied.status_code == 303
    assert 'data-testid="applied"' in admin.get(fixed.headers["Location"]).text
    again = post_form(admin, fixed.headers["Location"], fixed.headers["Location"] + "/apply", {})
    assert again.status_code == 303  # the same file again grants nothing more
    with read(engine) as conn:
        assert conn.execute(select(func.count()).select_from(grants)).scalar() == 2
        [actor] = conn.execute(select(audit_log.c.actor).where(audit_log.c.target.like("%/apply"))).scalars()
    assert actor.startswith("staff:")
    listing = admin.get("/console/grants")
    assert "4月分.csv" in listing.text
    download = admin.get(fixed.headers["Location"] + "/file")
    assert download.data == GOOD.encode()


def test_a_clerk_uploads_only_for_their_department_and_a_viewer_not_at_all(app, engine, town):
    clerk = logged_in(app, member(engine, YOKOSUKA, "clerk", "kosodate"))
    assert upload(clerk, GOOD).status_code == 303
    viewer = logged_in(app, member(engine, YOKOSUKA, "viewer"))
    assert upload(viewer, GOOD).status_code == 403


def test_an_admin_closes_last_month_and_downloads_its_statement_in_shift_jis(client, admin, town):
    grant(client, town.yokosuka, "HANAKO23", 500)
    last = (datetime.now(UTC).astimezone(JST).replace(day=1) - timedelta(days=1)).strftime("%Y-%m")
    closed = post_form(
        admin, "/console/settlement", "/console/settlement", {"period": last}, follow_redirects=True
    )
    assert closed.status_code == 200 and 'data-testid="closed"' in closed.text
    statement = admin.get(f"/console/settlement/{last}.csv")
    assert statement.status_code == 200 and "shift_jis" in statement.headers["Content-Type"]
    assert statement.data.decode("cp932").startswith("period,municipality_code")
    refused = post_form(admin, "/console/settlement", "/console/settlement", {"period": last})
    assert refused.status_code == 422 and "Traceback" not in refused.text


def test_a_connection_test_is_scheduled_and_watched(admin, enrolled):
    starts = (datetime.now(UTC) + timedelta(minutes=5)).astimezone(JST).strftime("%Y-%m-%dT%H:%M")
    made = post_form(
        admin, "/console/conntests", "/console/conntests", {"starts_at": starts, "window_seconds": "60"}
    )
    assert made.status_code == 303
    page = admin.get(made.headers["Location"])
    assert page.status_code == 200 and 'data-refresh="5"' in page.text
    assert 'max="1" value="0"' in page.text and "refresh.js" in page.text
    assert "横須賀美術館" in page.text  # the silent terminal, with its place


def test_the_audit_trail_filters_by_who_and_what(client, admin, town):
    grant(client, town.yokosuka, "HANAKO23", 100)
    upload(admin, GOOD)
    everything = admin.get("/console/audit")
    assert "operator:yokosuka-desk" in everything.text and "POST /console/grants" in everything.text
    mine = admin.get("/console/audit?what=/console/grants")
    assert "POST /console/grants" in mine.text and "POST /v1/grants" not in mine.text
    theirs = admin.get("/console/audit?actor=operator:yokosuka-desk")
    assert "POST /v1/grants" in theirs.text and "POST /console/grants" not in theirs.text


def test_an_admin_invites_a_clerk_whose_link_sets_a_login(app, admin, town):
    page = admin.get("/console/staff")
    sent = post_form(
        admin,
        "/console/staff",
        "/console/staff",
        {"role": "clerk", "department": "142018-kosodate", "client_id": "invite-x1"},
    )
    assert sent.status_code == 201
    link = sent.text.split('data-testid="invitation-link">')[1].split("<")[0]
    path = link.removeprefix("http://localhost")
    newcomer = app.test_client()
    form = newcomer.get(path)
    assert 'autocomplete="new-password"' in form.text and page.status_code == 200
    joined = post_form(
        newcomer,
        path,
        path,
        {
            "login_id": "hanako.clerk",
            "password": "a long enough passphrase",
            "confirm": "a long enough passphrase",
        },
    )
    assert joined.status_code == 303 and newcomer.get("/console/").status_code == 200
    assert newcomer.get(path).status_code == 404  # used once
    assert "hanako.clerk" in admin.get("/console/staff").text


def test_the_console_speaks_english_when_asked(client, admin, town):
    grant(client, town.yokosuka, "HANAKO23", 300)
    page = admin.get("/console/?lang=en")
    assert page.headers["Content-Language"] == "en"
    assert "Points per month" in page.text and "Granted in the last 12 months" in page.text
    assert "月ごとのポイント" not in page.text
    assert admin.get("/console/figures/months.csv?lang=en").text.startswith("\ufeffMonth,granted,spent")


def test_the_platform_staff_approve_or_refuse_applications(app, engine, operators):
    from server.staff import service as staff

    with write(engine) as conn:
        first = staff.apply(conn, staff.Application("142042", "市民協働部", "花子", "h@kamakura.example.jp"))
        second = staff.apply(conn, staff.Application("142051", "企画課", "太郎", "t@fujisawa.example.jp"))
    platform = logged_in(app, member(engine, None, "admin"))
    page = platform.get("/console/applications")
    assert "鎌倉市を承認する" in page.text and "藤沢市を承認しない" in page.text
    approved = post_form(
        platform, "/console/applications", f"/console/applications/{first['id']}/approve", {}
    )
    assert 'data-testid="invitation-link">http://localhost/console/join/' in approved.text
    refused = post_form(platform, "/console/applications", f"/console/applications/{second['id']}/reject", {})
    assert refused.status_code == 200 and "承認を待つ申込はありません" in refused.text
    yokosuka = logged_in(app, member(engine, YOKOSUKA, "admin"))
    assert yokosuka.get("/console/applications").status_code == 404
