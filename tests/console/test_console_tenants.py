"""Every console route, walked from the app's URL map: Sapporo's staff get 404 for anything of
Yokosuka's and see nothing of it on their own pages; a viewer changes nothing anywhere.

A new route whose address takes a parameter must be classified here (an object of a town, or
not); the walk fails on one it does not know, so no page escapes the check.
"""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime, timedelta

import pytest
from console_helpers import csrf_of, logged_in, member
from points_helpers import SAPPORO, YOKOSUKA, grant
from sqlalchemy import func, select
from terminal_helpers import new_code

from mkp_core.dates import JST
from server.console.tables import grant_files
from server.db.engine import read, write
from server.db.tables import metadata
from server.staff import service as staff

#: Parameters that name one town's object: filled with Yokosuka's.
TOWN_OBJECTS = {"file_id", "test_id", "terminal_id", "department_id", "point_code", "place_id"}
#: Parameters that name no town's object, and why.
NOT_TOWN_OBJECTS = {
    "name": "a figure's name: each town sees its own figure under it",
    "period": "a month: each town downloads its own statement of it",
    "token": "an invitation link: whoever holds it may use it (public, like /console/apply)",
    "application_id": "an application to join: the platform's, before any town (central staff only)",
    "filename": "the console's static files",
    "code": "an item of the place named in the same address",
}
#: Forms anyone may send, logged in or not (they change nothing of a town's).
PUBLIC_FORMS = {"/console/apply", "/console/login", "/console/logout", "/console/join/<token>"}
#: A member's own passkeys: every role may add one and log in with it (test_console_passkeys.py).
OWN_LOGIN_FORMS = {
    f"/console/passkeys/{step}" for step in ("register-options", "register", "login-options", "login")
}
#: Tables a request may touch without changing anything of a town's (the visitor's own session).
SESSION_TABLES = {"login_sessions", "throttle_counts"}


def console_rules(app):
    return sorted(
        (
            r
            for r in app.url_map.iter_rules()
            if r.rule.startswith("/console/") and r.endpoint != "console.static"
        ),
        key=lambda r: r.rule,
    )


@pytest.fixture
def yokosuka_objects(app, engine, client, town):
    """Yokosuka's own objects, made by its admin through the console: a grant file and a test."""
    admin = logged_in(app, member(engine, YOKOSUKA, "admin"))
    page = admin.get("/console/grants")
    data = {"csrf_token": csrf_of(page.text), "client_id": "grants-1", "department": "142018-kosodate"}
    data["file"] = (
        io.BytesIO(b"municipality,mykey_id,amount,grant_kind\n142018,HANAKO23,5,childcare\n"),
        "y.csv",
    )
    admin.post("/console/grants", data=data, content_type="multipart/form-data")
    starts = (datetime.now(UTC) + timedelta(minutes=5)).astimezone(JST).strftime("%Y-%m-%dT%H:%M")
    page = admin.get("/console/conntests")
    made = admin.post(
        "/console/conntests",
        data={
            "csrf_token": csrf_of(page.text),
            "client_id": "conntest-1",
            "starts_at": starts,
            "window_seconds": "60",
        },
    )
    test_id = int(made.headers["Location"].rsplit("/", 1)[1])
    with write(engine) as conn:
        file_id = conn.execute(select(grant_files.c.id)).scalar_one()
        application = staff.apply(
            conn, staff.Application("142042", "市民協働部", "花子", "h@kamakura.example.jp")
        )
    terminal = new_code(client, town, headers=town.yokosuka)["terminal_id"]
    return {
        "file_id": file_id,
        "test_id": test_id,
        "application_id": application["id"],
        "terminal_id": terminal,
        "department_id": "142018-kosodate",
        "point_code": YOKOSUKA,
        "place_id": "yokosuka-museum",
        "code": "ippan",
    }


def url_of(rule, values: dict[str, object]) -> str:
    unknown = set(rule.arguments) - TOWN_OBJECTS - set(NOT_TOWN_OBJECTS)
    assert not unknown, f"{rule.rule}: classify {unknown} in TOWN_OBJECTS or NOT_TOWN_OBJECTS"
    filled = {"name": "months", "period": "2026-11", "token": "unknown-token", **values}
    return re.sub(r"<(?:\w+:)?(\w+)>", lambda m: str(filled[m.group(1)]), rule.rule)


def test_sapporo_staff_get_404_for_every_yokosuka_object_and_see_none_of_it(
    app, engine, client, town, yokosuka_objects
):
    grant(client, town.yokosuka, "HANAKO23", 700)
    sapporo = logged_in(app, member(engine, SAPPORO, "admin"))
    checked = []
    for rule in console_rules(app):
        if rule.rule == "/console/logout":
            continue  # the walk stays logged in
        url = url_of(rule, yokosuka_objects)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            token = csrf_of(sapporo.get("/console/staff").text)
            answer = sapporo.open(
                url, method=method, data={"csrf_token": token} if method == "POST" else None
            )
            if (
                set(rule.arguments) & (TOWN_OBJECTS | {"application_id"})
                or rule.rule == "/console/applications"
            ):
                assert answer.status_code == 404, f"{method} {url}: {answer.status_code}"
            elif method == "GET":
                assert answer.status_code in (200, 302, 404), f"{method} {url}: {answer.status_code}"
                assert "142018" not in answer.get_data(as_text=True), f"{url} shows Yokosuka's"
            checked.append(f"{method} {rule.rule}")
    assert (
        "GET /console/grants/<int:file_id>/file" in checked
        and "POST /console/grants/<int:file_id>/apply" in checked
    )


def row_counts(engine) -> dict[str, int]:
    with read(engine) as conn:
        return {
            name: conn.execute(select(func.count()).select_from(table)).scalar_one()
            for name, table in metadata.tables.items()
            if name not in SESSION_TABLES
        }


def test_a_viewer_changes_nothing_on_any_console_form(app, engine, town, yokosuka_objects):
    viewer = logged_in(app, member(engine, YOKOSUKA, "viewer"))
    before = row_counts(engine)
    forms = {
        "period": "2026-11",
        "role": "admin",
        "department": "142018-kosodate",
        "starts_at": "2030-01-01T10:00",
        "window_seconds": "60",
        "client_id": "v1",
        "place": "yokosuka-museum",
        "name": "x",
        "code": "x",
        "budget": "1",
        "price": "100",
        "other": "011002",
        "direction": "ours_there",
    }
    tried = []
    for rule in console_rules(app):
        if "POST" not in rule.methods or rule.rule in PUBLIC_FORMS | OWN_LOGIN_FORMS:
            continue
        url = url_of(rule, yokosuka_objects)
        data = {**forms, "csrf_token": csrf_of(viewer.get("/console/staff").text)}
        if "grants" in rule.rule:
            data["file"] = (io.BytesIO(b"municipality,mykey_id,amount,grant_kind\n"), "v.csv")
        answer = viewer.post(url, data=data, content_type="multipart/form-data")
        assert answer.status_code in (403, 404), f"POST {url}: {answer.status_code}"
        tried.append(rule.rule)
    assert row_counts(engine) == before
    assert {"/console/grants", "/console/settlement", "/console/conntests", "/console/staff"} <= set(tried)
    assert {"/console/terminals/<terminal_id>/revoke", "/console/departments/<department_id>/budget"} <= set(
        tried
    )
