"""Shopping-street points migrated: a street's member balances, checked whole, each
credited once when its member links the number to a MyKey ID, unclaimed ones reported and lapsing.
Both databases."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import pytest
from mkp_testing import invoke, served_in_process
from points_helpers import YOKOSUKA, balances, error_of, new_id, observed
from sqlalchemy import text

from mkp_admin import cli as admin_cli
from mkp_core.dates import jst_date
from server.db.engine import read, write
from server.platform.mykey import service_links
from server.platform.operators.service import Operator
from server.points import holders, rules
from server.points.expiry_policy import ExpiryPolicy
from server.street_points import service as street_points

CENTRAL = Operator(0, "central", None)
LAST_DAY = (jst_date(datetime.now(UTC)) + timedelta(days=90)).isoformat()
FILE = "会員番号,残高\r\n789,1200\r\n０４５６,300\r\nA-77,0\r\n1001,50\r\n".encode("cp932")


@pytest.fixture
def street(engine, town):
    """Shopping street A1 (links need no confirmation) and library-like A2 (its staff confirm)."""
    with write(engine) as conn:
        service_links.add_service(conn, CENTRAL, "A1", "中央商店街", "shopping-street", YOKOSUKA, False)
        service_links.add_service(conn, CENTRAL, "A2", "どぶ板通り商店街", "shopping-street", YOKOSUKA, True)
    return town


def upload(client, headers, data: bytes = FILE, status: int | None = 201, **extra):
    body = {
        "client_id": new_id("m"),
        "service": "A1",
        "file": base64.b64encode(data).decode(),
        "claim_until": LAST_DAY,
        **extra,
    }
    r = client.post("/v1/migrations", json=body, headers=headers)
    if status is not None:
        assert r.status_code == status, r.json
    return r


def link(engine, mykey_id: str, service: str, number: str) -> None:
    with write(engine) as conn:
        service_links.link(conn, holders.find(conn, mykey_id), service, number)


def unlink(engine, mykey_id: str, service: str) -> None:
    with write(engine) as conn:
        service_links.unlink(conn, holders.find(conn, mykey_id), service)


def held(client, headers, mykey_id: str) -> int:
    return balances(client, headers, mykey_id).get(YOKOSUKA, {}).get("balance", 0)


def test_a_balance_waits_until_linked_then_is_credited_once(client, engine, street):
    summary = upload(client, street.central).json
    assert (summary["members"], summary["points"], summary["zero_balances"]) == (3, 1550, 1)
    assert summary["encoding"] == "cp932" and summary["claimed_at_import"] == 0
    assert held(client, street.central, "HANAKO23") == 0
    link(engine, "HANAKO23", "A1", "789")
    assert held(client, street.central, "HANAKO23") == 1200
    unlink(engine, "HANAKO23", "A1")
    link(engine, "HANAKO23", "A1", "789")  # linked, unlinked, linked again
    link(engine, "HANAKO23", "A1", "789")
    unlink(engine, "HANAKO23", "A1")
    link(engine, "TAROU234", "A1", "789")  # and by someone else
    assert held(client, street.central, "HANAKO23") == 1200
    assert held(client, street.central, "TAROU234") == 0
    report = client.get("/v1/migrations/A1", headers=street.central).json
    assert report["claimed"] == {"members": 1, "points": 1200}
    assert report["waiting"] == {"members": 2, "points": 350}
    assert [u["member_number"] for u in report["unclaimed"]] == ["0456", "1001"]
    assert client.get("/v1/ledger/verify", headers=street.central).json["ok"] is True
    with read(engine) as conn:
        moved = conn.execute(text("SELECT count(*), sum(amount) FROM transfers WHERE kind = 'migrate'")).one()
    assert tuple(moved) == (1, 1200)


def test_the_credit_expires_as_the_codes_rules_say(client, engine, street):
    with write(engine) as conn:
        change = rules.RuleChange(None, ("museum", "shop"), (), ExpiryPolicy("days", 30), 1, None, False)
        rules.add_rule(conn, CENTRAL, YOKOSUKA, change)
    upload(client, street.central)
    link(engine, "HANAKO23", "A1", "789")
    expected = ExpiryPolicy("days", 30).expires_at(datetime.now(UTC))
    with read(engine) as conn:
        made = conn.execute(
            text(
                "SELECT l.expires_at FROM lots l JOIN transfers t ON t.id = l.transfer_id WHERE t.kind = 'migrate'"
            )
        ).scalar_one()
    made = made if isinstance(made, datetime) else datetime.fromisoformat(made).replace(tzinfo=UTC)
    assert made == expected


def test_full_width_member_numbers_are_read_as_typed_at_the_kiosk(client, engine, street):
    upload(client, street.central)
    link(engine, "JIROU345", "A1", "456")
    assert held(client, street.central, "JIROU345") == 0  # "0456" is its number, not "456"
    unlink(engine, "JIROU345", "A1")
    link(engine, "JIROU345", "A1", "0456")  # the file's "０４５６", as a kiosk types it
    assert held(client, street.central, "JIROU345") == 300


def test_the_street_is_the_issuer_and_the_settlement_shows_it(client, engine, street):
    upload(client, street.central)
    link(engine, "HANAKO23", "A1", "789")
    period = jst_date(datetime.now(UTC)).strftime("%Y-%m")
    data = client.get(
        f"/v1/settlement/statements?period={period}&municipality={YOKOSUKA}", headers=street.central
    )
    lines = {(x["counterparty_kind"], x["counterparty_id"]): x for x in data.json["statements"][0]["lines"]}
    assert lines[("service", "A1")]["points"] == -1200
    assert lines[("service", "A1")]["counterparty_name"] == "中央商店街"


def test_a_street_that_confirms_links_credits_at_the_confirmation(client, engine, street):
    upload(client, street.central, service="A2")
    link(engine, "HANAKO23", "A2", "789")
    assert held(client, street.central, "HANAKO23") == 0  # pending
    with write(engine) as conn:
        service_links.confirm(conn, holders.find(conn, "HANAKO23"), service_links.get_service(conn, "A2"))
    assert held(client, street.central, "HANAKO23") == 1200


def test_members_linked_before_the_file_arrives_are_credited_at_import(client, engine, street):
    link(engine, "TAROU234", "A1", "1001")
    summary = upload(client, street.central).json
    assert summary["claimed_at_import"] == 1
    assert held(client, street.central, "TAROU234") == 50


def test_the_same_file_again_changes_nothing_and_a_dry_run_imports_nothing(client, engine, street):
    dry = upload(client, street.central, status=200, dry_run=True).json
    assert dry["imported"] is False and dry["points"] == 1550
    assert client.get("/v1/migrations/A1", headers=street.central).json["unclaimed"] == []
    upload(client, street.central)
    again = upload(client, street.central, status=200).json
    assert again["already_imported"] is True and again["members"] == 3


def test_unclaimed_balances_lapse_after_the_last_day(client, engine, street):
    upload(client, street.central)
    after = datetime.now(UTC) + timedelta(days=92)
    with write(engine) as conn:
        holder = holders.find(conn, "HANAKO23")
        assert street_points.claim(conn, holder.number, "A1", "789", after) is False
        report = street_points.report(conn, CENTRAL, "A1", after)
    assert report["lapsed"] == {"members": 3, "points": 1550}
    assert {u["state"] for u in report["unclaimed"]} == {"lapsed"}
    assert held(client, street.central, "HANAKO23") == 0


BAD_FILES = [
    (b"member_number,balance\n789,100\n790,5\n789,7\n", "duplicate_member", 4),
    (b"member_number,balance\n789,-100\n", "negative_balance", 2),
    (b"member_number,balance\n789,1.5\n", "invalid_balance", 2),
    (b"member_number,balance\n789,abc\n", "invalid_balance", 2),
    (b"member_number,balance\n78 9,100\n", "invalid_member_number", 2),
    (b"member_number,balance\n,100\n", "invalid_member_number", 2),
    (b"member_number,balance\n789\n", "bad_row", 2),
    (b"member_number\n789\n", "missing_column", 1),
    (b"member_number,balance,name\n789,1,x\n", "unknown_column", 1),
    (b"member_number,balance\n", "no_rows", 1),
    ("member_number,balance\n789,100\n".encode("utf-16"), "bad_encoding", 1),
    ("会員番号,残高\n789,100\n".encode() + "790,１００\n".encode("cp932"), "mixed_encoding", 3),
]


@pytest.mark.parametrize(("data", "code", "line"), BAD_FILES)
def test_a_bad_file_is_refused_whole_naming_the_line(client, street, data, code, line):
    seen = observed(client, street.central)
    r = upload(client, street.central, data, status=None)
    assert error_of(r) == (422, "invalid_migration_file")
    assert (r.json["error"]["details"][0]["code"], r.json["error"]["details"][0]["line"]) == (code, line)
    assert client.get("/v1/migrations/A1", headers=street.central).json["waiting"]["members"] == 0
    assert observed(client, street.central) == seen


def test_member_numbers_migrated_already_are_refused_in_a_new_file(client, engine, street):
    upload(client, street.central)
    link(engine, "HANAKO23", "A1", "789")
    seen = observed(client, street.central)
    r = upload(client, street.central, b"member_number,balance\n2000,5\n789,100\n1001,9\n", status=None)
    assert error_of(r) == (422, "invalid_migration_file")
    details = [(d["line"], d["code"]) for d in r.json["error"]["details"]]
    assert details == [(3, "member_already_claimed"), (4, "member_already_imported")]
    assert observed(client, street.central) == seen
    assert client.get("/v1/migrations/A1", headers=street.central).json["waiting"]["members"] == 2


@pytest.mark.parametrize(
    ("extra", "who", "status", "code"),
    [
        ({"service": "ZZ9"}, "central", 404, "unknown_service"),
        ({}, "sapporo", 404, "unknown_service"),  # another town's service: as if missing
        ({"point_code": "011002"}, "central", 422, "foreign_point_code"),
        ({"point_code": "142018-NONE"}, "central", 404, "unknown_point_code"),
        ({"claim_until": "2020-01-31"}, "central", 422, "invalid_claim_until"),
        ({"claim_until": "2027-02-30"}, "central", 422, "invalid_date"),
        ({"file": "not base64!"}, "central", 422, "invalid_file"),
        ({"file": ""}, "central", 422, "invalid_file"),
    ],
)
def test_bad_imports_are_refused_and_change_nothing(client, street, extra, who, status, code):
    seen = observed(client, street.central)
    body = {
        "client_id": new_id("m"),
        "service": "A1",
        "file": base64.b64encode(FILE).decode(),
        "claim_until": LAST_DAY,
        **extra,
    }
    r = client.post("/v1/migrations", json=body, headers=getattr(street, who))
    assert error_of(r) == (status, code)
    assert observed(client, street.central) == seen


def test_the_cli_imports_and_reports(app, client, engine, street, tmp_path):
    file = tmp_path / "members.csv"
    file.write_bytes(FILE)
    bad = tmp_path / "bad.csv"
    bad.write_bytes(b"member_number,balance\n789,-1\n")
    with served_in_process(app) as url:
        env = {
            "MKP_SERVER": url,
            "MKP_TOKEN": street.central["Authorization"].split()[1],
            "MKP_ADMIN_CONFIG": str(tmp_path / "none.toml"),
        }
        refused = invoke(
            admin_cli.main,
            "migrate",
            "import",
            "--service",
            "A1",
            str(bad),
            "--claim-until",
            LAST_DAY,
            env=env,
        )
        assert refused.exit_code == 1 and "line 2: negative_balance" in refused.stderr
        done = invoke(
            admin_cli.main,
            "migrate",
            "import",
            "--service",
            "A1",
            str(file),
            "--claim-until",
            LAST_DAY,
            env=env,
        )
        assert done.exit_code == 0, done.stderr
        assert "3 members, 1,550 142018 points of A1" in done.stdout
        link(engine, "HANAKO23", "A1", "789")
        report = invoke(admin_cli.main, "migrate", "report", "--service", "A1", env=env)
        assert report.exit_code == 0, report.stderr
        assert "claimed: 1 members, 1,200 points" in report.stdout and "1001" in report.stdout
