"""A console form sent twice (Back and send again, a double click) makes one change: each form that
creates a row carries a client id drawn with the form, and the second send shows the first's page
and makes nothing. The same id with other values, or no id, is refused in one line. Both databases."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

import pytest
from console_helpers import client_id_of, csrf_of, logged_in, member
from points_helpers import YOKOSUKA
from sqlalchemy import func, select

from mkp_core.dates import JST
from server.db.engine import read
from server.db.tables import metadata

EXPIRED = "このフォームは有効期限が切れました。ページを再読み込みして、もう一度送信してください。"
OTHER_VALUES = (
    "このフォームは別の内容ですでに送信されています。ページを再読み込みして、もう一度お試しください。"
)
GRANTS = "municipality,mykey_id,amount,grant_kind\n142018,HANAKO23,5,childcare\n"
IGNORED = {"login_sessions", "idempotency", "audit_log"}


@pytest.fixture
def admin(app, engine, town):
    return logged_in(app, member(engine, YOKOSUKA, "admin"))


def rows(engine) -> dict[str, int]:
    with read(engine) as conn:
        return {
            name: conn.execute(select(func.count()).select_from(table)).scalar_one()
            for name, table in metadata.tables.items()
            if name not in IGNORED
        }


def drawn(client, page: str, action: str) -> dict[str, str]:
    """The form on ``page`` that posts to ``action``, as drawn once: its CSRF token and client id."""
    text = client.get(page).text
    client_id = client_id_of(text, page, action)
    assert client_id, f"the form for {action} on {page} carries no client id"
    return {"csrf_token": csrf_of(text), "client_id": client_id}


def send_twice(client, page: str, action: str, values: dict, **kwargs):
    """Draw the form once, send it, then send the very same form again (Back, send)."""
    form = drawn(client, page, action)
    sent = [client.post(action, data={**form, **values(), **kwargs}) for _ in range(2)]
    return sent


def later() -> str:
    return (datetime.now(UTC) + timedelta(days=1)).astimezone(JST).strftime("%Y-%m-%dT%H:%M")


FORMS = {
    "place": (
        "/console/places",
        "/console/places",
        lambda: {"place_id": "yokosuka-zoo", "name": "動物園", "kind": "facility"},
    ),
    "department": (
        "/console/departments",
        "/console/departments",
        lambda: {"code": "kenko", "name": "健康課", "budget": "100"},
    ),
    "grant kind": (
        "/console/departments",
        "/console/departments/142018-kosodate/grant-kinds",
        lambda: {"code": "books", "name": "絵本"},
    ),
    "event": (
        "/console/programmes",
        "/console/programmes/events",
        lambda: {"suffix": "matsuri", "name": "祭り", "organiser": "yokosuka-shop"},
    ),
    "reward": (
        "/console/programmes",
        "/console/programmes/rewards",
        lambda: {
            "code": "pass",
            "name": "年間パス",
            "price": "300",
            "stock": "5",
            "starts": "2030-04-01",
            "ends": "2030-04-30",
        },
    ),
    "agreement": (
        "/console/agreements",
        "/console/agreements",
        lambda: {"other": "011002", "direction": "ours_there"},
    ),
    "connection test": (
        "/console/conntests",
        "/console/conntests",
        lambda: {"starts_at": later(), "window_seconds": "60"},
    ),
    "grant file": (
        "/console/grants",
        "/console/grants",
        lambda: {"department": "142018-kosodate", "file": (io.BytesIO(GRANTS.encode()), "4月.csv")},
    ),
}


@pytest.mark.parametrize("what", list(FORMS))
def test_a_form_sent_twice_makes_one_row_and_shows_the_same_page(admin, engine, what):
    page, action, values = FORMS[what]
    before = rows(engine)
    first, second = send_twice(admin, page, action, values)
    assert first.status_code in (200, 201, 303), first.text
    assert (second.status_code, second.headers.get("Location")) == (
        first.status_code,
        first.headers.get("Location"),
    )
    once = rows(engine)
    made = {name: once[name] - before[name] for name in once if once[name] != before[name]}
    assert made and all(count == 1 for count in made.values()), made
    if first.status_code != 303:
        assert 'role="alert"' not in second.text  # the page as after the first send, no refusal


def test_the_same_form_sent_with_other_values_is_refused_in_one_line(admin, engine):
    form = drawn(admin, "/console/places", "/console/places")
    place = {"place_id": "yokosuka-zoo", "name": "動物園", "kind": "facility"}
    assert admin.post("/console/places", data={**form, **place}).status_code == 201
    before = rows(engine)
    changed = admin.post("/console/places", data={**form, **place, "place_id": "yokosuka-pool"})
    assert changed.status_code == 422 and OTHER_VALUES in changed.text
    assert rows(engine) == before


def test_a_form_without_a_client_id_asks_for_a_reload(admin, engine):
    before = rows(engine)
    text = admin.get("/console/programmes").text
    event = {"suffix": "matsuri", "name": "祭り", "organiser": "yokosuka-shop"}
    refused = admin.post("/console/programmes/events", data={"csrf_token": csrf_of(text), **event})
    assert refused.status_code == 422 and EXPIRED in refused.text
    assert rows(engine) == before


def test_each_drawing_of_a_form_is_a_new_request(admin, engine):
    first = drawn(admin, "/console/conntests", "/console/conntests")
    second = drawn(admin, "/console/conntests", "/console/conntests")
    assert first["client_id"] != second["client_id"]
    before = rows(engine)
    for form in (first, second):
        sent = admin.post("/console/conntests", data={**form, "starts_at": later(), "window_seconds": "60"})
        assert sent.status_code == 303
    assert rows(engine)["conntests"] - before["conntests"] == 2


@pytest.mark.parametrize(
    ("page", "values"),
    [
        ("/console/staff", {"role": "viewer"}),
        ("/console/terminals", {"place": "yokosuka-museum", "name": "受付1"}),
    ],
)
def test_an_invitation_or_enrollment_without_a_client_id_asks_for_a_reload(admin, engine, page, values):
    """These two had a client id already; one sent without it shared one key with every other."""
    before = rows(engine)
    text = admin.get(page).text
    refused = admin.post(page, data={"csrf_token": csrf_of(text), **values})
    assert refused.status_code == 422 and EXPIRED in refused.text
    assert rows(engine) == before
