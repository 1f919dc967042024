"""Helpers of the console's tests: members of staff, logged in through the login page."""

from __future__ import annotations

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


def post_form(client: FlaskClient, page: str, action: str, data: dict[str, object], **kwargs: object):
    """Send a page's form: its CSRF token read from ``page`` as a browser would."""
    token = csrf_of(client.get(page).text)
    return client.post(action, data={"csrf_token": token, **data}, **kwargs)
