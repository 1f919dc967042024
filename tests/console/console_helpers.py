"""Helpers of the console's tests: members of staff, logged in through the login page."""

from __future__ import annotations

import html
import re

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine

from server.db.engine import write
from server.platform.operators.service import Operator
from server.staff import service as staff

CENTRAL = Operator(1, "central", None)
PASSWORD = "correct horse battery staple"


def csrf_of(page_text: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page_text)
    assert found is not None, "the page has no form"
    return found.group(1)


def member(
    engine: Engine,
    municipality: str | None,
    role: str,
    department: str | None = None,
    login_id: str | None = None,
) -> str:
    """A member of staff (invited by the central operator, joined); their login ID."""
    login_id = login_id or f"{role}-{municipality or 'central'}-{department or 'all'}"
    with write(engine) as conn:
        token = staff.invite(conn, CENTRAL, municipality, role, department)["token"]
        staff.accept(conn, token, login_id, PASSWORD)
    return login_id


def logged_in(app: Flask, login_id: str) -> FlaskClient:
    """A browser of its own, logged in to the console as ``login_id``."""
    client = app.test_client()
    page = client.get("/console/login")
    answer = client.post(
        "/console/login", data={"csrf_token": csrf_of(page.text), "login_id": login_id, "password": PASSWORD}
    )
    assert answer.status_code == 303, answer.text
    return client


def client_id_of(page_text: str, page: str, action: str) -> str | None:
    """The client id drawn into the page's form that posts to ``action`` (None: it has none)."""
    for attributes, inside in re.findall(r"<form\b([^>]*)>(.*?)</form>", page_text, re.S):
        target = re.search(r'action="([^"]*)"', attributes)
        if (html.unescape(target.group(1)) if target else page.split("?")[0]) != action:
            continue
        found = re.search(r'name="client_id" value="([^"]+)"', inside)
        if found:
            return found.group(1)
    return None


def post_form(client: FlaskClient, page: str, action: str, data: dict[str, object], **kwargs: object):
    """Send a page's form as a browser would: the CSRF token and the form's client id (if it has
    one and ``data`` names none) read from ``page``."""
    text = client.get(page).text
    sent: dict[str, object] = {"csrf_token": csrf_of(text)}
    client_id = client_id_of(text, page, action)
    if client_id is not None:
        sent["client_id"] = client_id
    return client.post(action, data={**sent, **data}, **kwargs)
