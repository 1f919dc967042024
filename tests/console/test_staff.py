"""Joining online and staff roles as a town meets them: apply, approve, invite, and what each role
may do; the CLI commands that do the same from a shell."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

import pytest
from mkp_testing import invoke, served_in_process
from points_helpers import DEPARTMENT, YOKOSUKA
from sqlalchemy import select

from mkp_admin import cli as admin_cli
from mkp_core.errors import Conflict, Forbidden, MkpError, NotFound
from server.db.engine import read, write
from server.logins.tables import login_tokens
from server.platform.operators.service import Operator
from server.staff import service as staff

KAMAKURA = "142042"  # 鎌倉市: on MIC's list, not yet on the platform
CENTRAL = Operator(1, "central", None)


PASSWORD = "correct horse battery staple"


def join(conn, by, role, department=None, municipality=YOKOSUKA):
    """A member of staff invited by ``by`` who took the invitation up."""
    token = staff.invite(conn, by, municipality, role, department)["token"]
    return staff.accept(conn, token, f"{role}-{department or municipality}", PASSWORD)[0]


def application(code: str = KAMAKURA) -> staff.Application:
    return staff.Application(code, "市民協働部", "鎌倉 花子", "hanako@city.kamakura.example.jp")


def test_a_town_applies_and_is_approved_with_an_admin_link(engine, operators):
    with write(engine) as conn:
        applied = staff.apply(conn, application())
        assert applied["name"] == "鎌倉市" and applied["status"] == "pending"
        approved = staff.approve(conn, CENTRAL, applied["id"])
    assert approved["status"] == "approved" and approved["decided_by"] == "operator:central"
    invitation = approved["invitation"]
    assert invitation["role"] == "admin" and invitation["municipality"] == KAMAKURA
    assert invitation["path"] == "/console/join/" + invitation["token"]
    with read(engine) as conn:
        stored = conn.execute(select(login_tokens)).one()
        assert invitation["token"] not in str(tuple(stored))  # only its hash is kept
        member, account = staff.accept(conn, invitation["token"], "kamakura-admin", PASSWORD)
    assert (member.municipality, member.role, member.actor) == (
        KAMAKURA,
        staff.Role.ADMIN,
        f"staff:{member.id}",
    )


@pytest.mark.parametrize(
    ("code", "error", "words"),
    [
        ("142019", "bad_check_digit", "check digit"),
        ("999997", "unknown_municipality", "999997"),
        (YOKOSUKA, "municipality_exists", "on the platform already"),
    ],
)
def test_an_application_for_a_wrong_or_present_town_is_refused(engine, operators, code, error, words):
    with write(engine) as conn, pytest.raises(MkpError) as refused:
        staff.apply(conn, application(code))
    assert refused.value.code == error and words in refused.value.message


def test_a_second_application_waits_and_a_decision_is_taken_once(engine, operators):
    with write(engine) as conn:
        first = staff.apply(conn, application())
        with pytest.raises(Conflict, match="applied already"):
            staff.apply(conn, application())
        staff.reject(conn, CENTRAL, first["id"])
        with pytest.raises(Conflict, match="rejected already"):
            staff.approve(conn, CENTRAL, first["id"])
        with pytest.raises(Forbidden):
            staff.approve(
                conn, Operator(2, "yokosuka-desk", YOKOSUKA), staff.apply(conn, application())["id"]
            )


def test_a_bad_contact_is_named(engine, operators):
    with write(engine) as conn, pytest.raises(MkpError, match="e-mail"):
        staff.apply(conn, staff.Application(KAMAKURA, "市民協働部", "花子", "not an address"))


def test_an_invitation_is_used_once_and_expires_after_72_hours(engine, operators):
    now = datetime(2026, 12, 1, tzinfo=UTC)
    with write(engine) as conn:
        made = staff.invite(conn, CENTRAL, YOKOSUKA, "viewer", None, now)
        late = staff.invite(conn, CENTRAL, YOKOSUKA, "viewer", None, now)
        assert made["expires_at"] == now + timedelta(hours=72)
        staff.accept(conn, made["token"], "viewer-1", PASSWORD, now + timedelta(hours=71))
        for token, at in (
            (made["token"], now),
            (late["token"], now + timedelta(hours=72)),
            ("nonsense", now),
        ):
            with pytest.raises(NotFound, match="not valid"):
                staff.accept(conn, token, "viewer-2", PASSWORD, at)


def test_roles_say_what_a_member_may_change(engine, town):
    with write(engine) as conn:
        members = {
            role: join(conn, CENTRAL, role, dept)
            for role, dept in (("admin", None), ("clerk", "kosodate"), ("viewer", None))
        }
    admin, clerk, viewer = members["admin"], members["clerk"], members["viewer"]
    admin.require_admin()
    admin.require_grants_of(DEPARTMENT)
    clerk.require_grants_of(DEPARTMENT)
    with pytest.raises(Forbidden, match="own department"):
        clerk.require_grants_of("142018-other")
    with pytest.raises(Forbidden, match="admin"):
        clerk.require_admin()
    with pytest.raises(Forbidden, match="viewer"):
        viewer.require_grants_of(DEPARTMENT)
    assert not viewer.covers("011002") and viewer.covers(YOKOSUKA)


def test_who_may_invite_whom(engine, town):
    sapporo_desk = Operator(3, "sapporo-desk", "011002")
    with write(engine) as conn:
        clerk = join(conn, CENTRAL, "clerk", "kosodate")
        with pytest.raises(Forbidden):
            staff.invite(conn, sapporo_desk, YOKOSUKA, "viewer", None)
        with pytest.raises(Forbidden, match="admin"):
            staff.invite(conn, clerk, YOKOSUKA, "viewer", None)
        with pytest.raises(NotFound):  # another town's department looks missing
            staff.invite(conn, sapporo_desk, "011002", "clerk", DEPARTMENT)
        with pytest.raises(MkpError, match="department"):
            staff.invite(conn, CENTRAL, YOKOSUKA, "clerk", None)
        with pytest.raises(MkpError, match="role"):
            staff.invite(conn, CENTRAL, YOKOSUKA, "mayor", None)


@pytest.fixture
def admin(app, town, tmp_path):
    """mkp-admin with one of the town's tokens, against the app served in-process."""
    with served_in_process(app) as url:

        def run(headers: dict[str, str], *args: str, lang: str = "C"):
            env = {
                "LANG": lang,
                "LC_ALL": "",
                "LANGUAGE": "",
                "MKP_SERVER": url,
                "MKP_TOKEN": headers["Authorization"].removeprefix("Bearer "),
                "MKP_ADMIN_CONFIG": str(tmp_path / "none.toml"),
            }
            result = invoke(admin_cli.main, *args, env=env)
            return result.exit_code, result.stdout, result.stderr

        yield run


def test_mkp_admin_lists_and_approves_an_application_and_prints_the_link(engine, town, admin):
    with write(engine) as conn:
        staff.apply(conn, application())
    code, out, _ = admin(town.central, "municipality", "applications")
    assert code == 0 and "142042" in out and "鎌倉市" in out and "hanako@city.kamakura.example.jp" in out
    code, out, _ = admin(town.central, "municipality", "approve", KAMAKURA)
    assert code == 0 and "approved 142042 鎌倉市" in out
    link = re.search(r"http://\S+/console/join/(\S+)", out)
    assert link is not None
    with read(engine) as conn:
        assert staff.invitation(conn, link.group(1)).role == "admin"
    code, _, err = admin(town.central, "municipality", "approve", KAMAKURA)
    assert code == 1 and err == "error: municipality 142042 has no application waiting\n"
    code, _, err = admin(town.central, "municipality", "approve", KAMAKURA, lang="ja_JP.UTF-8")
    assert code == 1 and "承認待ちの申込はありません" in err
    code, _, err = admin(town.yokosuka, "municipality", "applications")
    assert code == 1 and "central" in err


def test_mkp_admin_staff_invite_prints_a_one_time_link(town, admin):
    code, out, err = admin(
        town.yokosuka,
        "staff",
        "invite",
        "--municipality",
        YOKOSUKA,
        "--role",
        "clerk",
        "--department",
        "kosodate",
    )
    assert code == 0, err
    assert "/console/join/" in out and "shown once" in out
    code, out, _ = admin(
        town.yokosuka, "staff", "invite", "--municipality", YOKOSUKA, "--role", "viewer", "--json"
    )
    made = json.loads(out)
    assert made["role"] == "viewer" and "token" not in made or made["link"].endswith(made["token"])
    code, _, err = admin(town.sapporo, "staff", "invite", "--municipality", YOKOSUKA, "--role", "admin")
    assert code == 1 and err.startswith("error: out_of_scope:")


def test_a_retried_invitation_shows_the_same_link_and_keeps_only_its_hash(client, engine, town):
    body = {"client_id": "invite-1", "municipality": YOKOSUKA, "role": "viewer"}
    first = client.post("/v1/staff-invitations", json=body, headers=town.yokosuka)
    again = client.post("/v1/staff-invitations", json=body, headers=town.yokosuka)
    assert first.status_code == again.status_code == 201
    assert first.json["link"] == again.json["link"] and "/console/join/" in first.json["link"]
    other = client.post("/v1/staff-invitations", json={**body, "role": "admin"}, headers=town.yokosuka)
    assert other.status_code == 409 and other.json["error"]["code"] == "client_id_reused"
    with read(engine) as conn:
        [stored] = conn.execute(select(login_tokens.c.token_hash)).scalars()
    assert stored not in first.json["link"]


def test_the_apply_page_takes_an_application_and_names_a_bad_code(client, engine, operators):
    page = client.get("/console/apply")
    assert page.status_code == 200 and 'autocomplete="email"' in page.text and "自治体コード" in page.text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token is not None
    form = {
        "csrf_token": token.group(1),
        "municipality": "142019",
        "department": "市民協働部",
        "contact_name": "鎌倉 花子",
        "contact_email": "hanako@city.kamakura.example.jp",
    }
    refused = client.post("/console/apply", data=form)
    assert refused.status_code == 422 and "検査数字" in refused.text
    sent = client.post("/console/apply", data={**form, "municipality": KAMAKURA}, follow_redirects=True)
    assert sent.status_code == 200 and "申し込みを受け付けました" in sent.text
    with read(engine) as conn:
        [waiting] = staff.list_applications(conn, CENTRAL)
    assert waiting["municipality"] == KAMAKURA and waiting["contact_name"] == "鎌倉 花子"


def test_a_staff_json_body_is_read_by_the_service_and_again_by_the_audit_trail(app, client, engine, town):
    """The body is parsed once and kept (Flask's cache): a form parser that looks first (as a CSRF
    check would), the endpoint's model and the audit trail after the write all see the same body."""
    from flask import request

    from server.platform.tables import audit_log

    seen: list[object] = []
    app.before_request(lambda: seen.append(request.form.to_dict()) and None)
    body = {"client_id": "invite-central", "municipality": YOKOSUKA, "role": "viewer"}
    made = client.post("/v1/staff-invitations", json=body, headers=town.central)
    assert made.status_code == 201, made.json
    assert made.json["municipality"] == YOKOSUKA and made.json["role"] == "viewer"
    assert seen == [{}]
    with read(engine) as conn:
        entry = conn.execute(
            select(audit_log).where(audit_log.c.action == "staff.invite").order_by(audit_log.c.id.desc())
        ).first()
    assert entry is not None and entry.actor == "operator:central" and entry.municipality_code == YOKOSUKA
