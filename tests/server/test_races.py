"""Races across real server workers (gunicorn, 4 workers): the same request at the same moment
(enrolment codes, retries, uploads, releases, the last reward item, reversals of one transfer).

Each test fires eight requests at once from eight threads at a real `mkp-server run --workers 4`,
on SQLite and on PostgreSQL (where the workers really run side by side).
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
import uuid
from collections.abc import Callable, Iterator

import pytest
import requests
from cryptography.hazmat.primitives import serialization
from mkp_testing import platform_process, postgres_url
from points_helpers import register_mykeys
from sqlalchemy import create_engine, text
from terminal_helpers import csr_for

from mkp_core import release, signing
from server.db.engine import make_engine

# Every test here shares the module's server (its start costs seconds): in one xdist worker, the
# module's server starts once a database, not once in each worker that drew one of its tests.
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("races")]
AT_ONCE = 8
ROUNDS = 4
PLACE = {"place_id": "yokosuka-museum", "name": "横須賀美術館", "kind": "museum", "municipality": "142018"}


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One database for the module's server (a server start costs seconds: the tests share it)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('races') / 'mkp.sqlite3'}"
        return
    base = request.getfixturevalue("postgres_database")
    schema = f"races_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    yield postgres_url(base, schema=schema)
    with admin.connect() as conn:
        conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    admin.dispose()


@pytest.fixture(scope="module")
def live(database: str, tmp_path_factory: pytest.TempPathFactory):
    """A 4-worker server furnished as every test platform is (the tests share it), with a release key."""
    tmp_path = tmp_path_factory.mktemp("live")
    release_key = release.generate_operator_key()
    (tmp_path / "release.pub").write_bytes(release.public_key_pem(release_key))
    settings = {"release_key_files": str(tmp_path / "release.pub"), "release_dir": str(tmp_path / "releases")}
    with platform_process(database, tmp_path, workers=4, settings=settings) as platform:
        operator = requests.Session()
        operator.headers["Authorization"] = f"Bearer {platform.token}"
        yield platform, operator, platform.ca, release_key, tmp_path
        operator.close()


def at_once(send: Callable[[int], requests.Response]) -> list[requests.Response]:
    """Call ``send(0..7)`` from eight threads released together; the replies in order."""
    start, replies = threading.Barrier(AT_ONCE), [None] * AT_ONCE

    def run(n: int) -> None:
        start.wait()
        replies[n] = send(n)

    threads = [threading.Thread(target=run, args=(n,)) for n in range(AT_ONCE)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return replies


def statuses(replies: list[requests.Response]) -> list[tuple[int, str | None]]:
    return sorted((r.status_code, r.json().get("error", {}).get("code")) for r in replies)


def test_one_enrollment_code_enrolls_exactly_one_key(live):
    server, operator, *_ = live
    code = operator.post(
        server.url + "/v1/terminals/enrollments",
        json={"client_id": "e-000001", "place": "yokosuka-museum", "name": "c1"},
    ).json()["code"]
    csrs = [csr_for(signing.generate_terminal_key()) for _ in range(AT_ONCE)]
    replies = at_once(lambda n: requests.post(server.url + "/v1/enroll", json={"code": code, "csr": csrs[n]}))
    assert statuses(replies) == [(201, None)] + [(409, "code_used")] * (AT_ONCE - 1)


def post_at_once(session: requests.Session, url: str, bodies: list[dict]) -> list[requests.Response]:
    """POST ``bodies[n]`` from thread n, each encoded beforehand so the eight leave together."""
    encoded = [json.dumps(b).encode() for b in bodies]
    headers = {"Content-Type": "application/json"}
    return at_once(lambda n: session.post(url, data=encoded[n], headers=headers))


def granting_department(live, holders: tuple[str, ...], code: str, name: str) -> Callable[[str, dict], dict]:
    """``holders`` registered and a department ``142018-<code>`` with a grant kind ``gift`` on the
    module's server; the operator's ``post(path, body)`` (a new client id each, asserted to succeed)."""
    server, operator, *_ = live
    engine = make_engine(server.database_url)
    register_mykeys(engine, holders)
    engine.dispose()

    def post(path: str, body: dict) -> dict:
        reply = operator.post(
            f"{server.url}/v1{path}", json={"client_id": f"{code}-{uuid.uuid4().hex[:12]}", **body}
        )
        assert reply.status_code in (200, 201), reply.text
        return reply.json()

    post("/municipalities/142018/departments", {"code": code, "name": name, "budget": 10**6})
    post(f"/departments/142018-{code}/grant-kinds", {"code": "gift", "name": "贈与"})
    return post


def test_retries_of_one_place_all_get_the_first_answer(live):
    server, operator, *_ = live
    for round in range(ROUNDS):  # a race is a matter of luck: give it several chances
        body = {"client_id": f"p-race-{round:04d}", **PLACE, "place_id": f"shop-{round}", "kind": "shop"}
        replies = post_at_once(operator, server.url + "/v1/places", [body] * AT_ONCE)
        assert statuses(replies) == [(201, None)] * AT_ONCE
        assert len({json.dumps(r.json(), sort_keys=True) for r in replies}) == 1


def test_retries_of_one_crl_upload_all_get_the_first_answer(live):
    server, operator, jpki, *_ = live
    jpki.revoke_many(list(range(1, 2000)))
    crl = jpki.issue_crl().public_bytes(serialization.Encoding.PEM).decode()
    body = {"client_id": "crl-race-0001", "crl": crl}
    replies = at_once(lambda n: operator.post(server.url + "/v1/crls", json=body))
    assert statuses(replies) == [(201, None)] * AT_ONCE
    assert len({json.dumps(r.json(), sort_keys=True) for r in replies}) == 1


def test_one_release_published_at_once_is_kept_once(live):
    server, operator, _, key, tmp_path = live
    for round in range(ROUNDS):
        version = f"3.{round}.0"
        wheel = tmp_path / f"mkp-{version}-py3-none-any.whl"
        wheel.write_bytes(b"PK\x03\x04" + b"wheel " * 200_000)
        manifest = release.build_manifest(version, [wheel])
        body = {
            "manifest": base64.b64encode(manifest).decode(),
            "signature": base64.b64encode(release.sign_manifest(manifest, key)).decode(),
            "files": {wheel.name: base64.b64encode(wheel.read_bytes()).decode()},
        }
        # Eight operators' tools, each with its own client id, publish the same release.
        bodies = [{"client_id": f"rel-race-{round}-{n:04d}", **body} for n in range(AT_ONCE)]
        replies = post_at_once(operator, server.url + "/v1/releases", bodies)
        assert statuses(replies) == [(201, None)] * AT_ONCE
        assert {r.json()["version"] for r in replies} == {version}
        kept = tmp_path / "releases" / version / wheel.name
        assert hashlib.sha256(kept.read_bytes()).digest() == hashlib.sha256(wheel.read_bytes()).digest()
    assert not [p.name for p in (tmp_path / "releases").iterdir() if p.name.startswith(".")]


def test_server_log_lines_carry_time_level_and_request_id(live):
    server, operator, *_ = live
    reply = operator.get(server.url + "/v1/places", headers={"X-Request-Id": "quote-me-42"})
    assert reply.headers["X-Request-Id"] == "quote-me-42"
    lines = [line for line in server.log_path.read_text().splitlines() if line.strip()]
    line_format = re.compile(
        r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d{4} (INFO|WARNING|ERROR) \[\d+\] \S+ request_id=\S+: "
    )
    assert lines and all(line_format.match(line) for line in lines), lines[:5]


def test_an_anonymous_huge_upload_is_answered_before_its_body_is_sent(live):
    """What the attack did: the headers of a 250 MB POST, no token. The answer must come at once."""
    import socket
    from urllib.parse import urlsplit

    server, *_ = live
    where = urlsplit(server.url)
    for path in ("/v1/crls", "/v1/releases"):
        with socket.create_connection((where.hostname, where.port), timeout=10) as sock:
            sock.sendall(
                f"POST {path} HTTP/1.1\r\nHost: {where.netloc}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {250 * 1024 * 1024}\r\n\r\n".encode()
            )
            answer = b""
            while b"unauthorized" not in answer and (chunk := sock.recv(65536)):
                answer += chunk
        assert answer.startswith(b"HTTP/1.1 401") and b'"unauthorized"' in answer, answer[:300]


def test_the_last_reward_item_claimed_by_eight_holders_at_once_goes_once(live):
    """Issue 9: eight holders claim the last item of a reward at the same moment, across workers."""
    from datetime import UTC, datetime, timedelta

    server, operator, *_ = live
    holders = tuple(f"RACER{n:03d}" for n in range(AT_ONCE))
    post = granting_department(live, holders, "race", "競争課")
    base = server.url + "/v1"
    for holder in holders:
        post(
            "/grants",
            {"department": "142018-race", "mykey_id": holder, "amount": 10_000, "grant_kind": "gift"},
        )
    transfers_before = operator.get(base + "/ledger/verify").json()["transfers"]
    now = datetime.now(UTC)
    for round in range(ROUNDS):
        code = f"last-seat-{round}"
        offer = {"code": code, "municipality": "142018", "name": "最後の観覧席", "price": 1000, "stock": 1}
        window = {
            "starts_at": (now - timedelta(hours=1)).isoformat(),
            "ends_at": (now + timedelta(days=1)).isoformat(),
        }
        post("/rewards", {**offer, **window})
        bodies = [
            {"client_id": f"claim-{round}-{n:04d}", "mykey_id": holders[n], "reason": "paper form"}
            for n in range(AT_ONCE)
        ]
        replies = post_at_once(operator, f"{base}/rewards/{code}/claims", bodies)
        assert statuses(replies) == [(201, None)] + [(409, "sold_out")] * (AT_ONCE - 1)
        claims = operator.get(f"{base}/rewards/{code}/claims").json()
        assert [c["claim_number"] for c in claims["claims"]] == [f"LAST-SEAT-{round}-00001"]
        assert claims["left"] == 0
    report = operator.get(base + "/ledger/verify").json()
    assert report["ok"] and report["transfers"] == transfers_before + ROUNDS  # one claim a round


def test_reversals_racing_with_different_client_ids_make_one_and_name_it(live):
    """Eight operators' tools reverse the same grant at the same moment, each with its own client
    id: one reversal is made; every other caller is told ``already_reversed`` (409), never a 500
    from the unique index on ``reverses_id``, nor ``idempotency_conflict``."""

    server, operator, *_ = live
    post = granting_department(live, ("REVRACE1",), "rev", "取消課")
    base = server.url + "/v1"
    for round in range(ROUNDS):  # a race is a matter of luck: give it several chances
        grant = post(
            "/grants",
            {"department": "142018-rev", "mykey_id": "REVRACE1", "amount": 100, "grant_kind": "gift"},
        )
        bodies = [{"client_id": f"rev-{round}-{n:04d}", "memo": "mistake"} for n in range(AT_ONCE)]
        replies = post_at_once(operator, f"{base}/transfers/{grant['id']}/reverse", bodies)
        seen = statuses(replies)
        assert seen == [(201, None)] + [(409, "already_reversed")] * (AT_ONCE - 1), seen
        refused = [r.json()["error"]["message"] for r in replies if r.status_code == 409]
        assert all(f"transfer {grant['id']} was already reversed" in m for m in refused)
    balances = operator.get(base + "/mykeys/REVRACE1/balances").json()["balances"]
    assert sum(b["balance"] for b in balances) == 0
    assert operator.get(base + "/ledger/verify").json()["ok"]
