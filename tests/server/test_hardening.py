"""What an attack review found, each as the attacker or the clumsy caller would see it.

In-process (Flask's test client on SQLite and PostgreSQL); the races across real server workers
are in test_races.py.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import logging
import os
import threading
from dataclasses import replace

import pytest
import requests
from click.testing import CliRunner
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from mkp_testing import served_in_process
from sqlalchemy import event, select, text
from sqlalchemy.exc import DBAPIError, IntegrityError
from terminal_helpers import csr_for, error_code, signed

from drivers.card.virtual.ca import TestCA
from mkp_core import signing
from server.db.engine import make_engine, write
from server.db.tables import idempotency
from server.platform.operators.service import revoke_operator
from server.platform.tables import operators as operator_table
from server.terminals.ca import TerminalCA

HUGE = 300 * 1024 * 1024  # over every limit (releases: 256 MB)


class RecordingStream(io.RawIOBase):
    """A HUGE request body that remembers whether anyone read from it."""

    def __init__(self) -> None:
        self.read_from = False
        self.position = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = 0) -> int:
        # The test client measures the body (seek to the end, tell, back): that is not reading.
        self.position = HUGE if whence == io.SEEK_END else offset
        return self.position

    def tell(self) -> int:
        return self.position

    def readinto(self, buffer) -> int:
        self.read_from = True
        buffer[: len(buffer)] = b"x" * len(buffer)
        return len(buffer)


def post_huge(client, path: str, headers: dict | None = None):
    stream = RecordingStream()
    response = client.post(
        path,
        input_stream=stream,
        headers={"Content-Type": "application/json", **(headers or {})},
    )
    return response, stream.read_from


# --- 1. enrollment codes are shown once and never stored -----------------------------------------


def test_a_replayed_enrollment_gets_no_code_and_none_is_stored(client, operators, place, engine):
    body = {"client_id": "enr-replay-0001", "place": "yokosuka-museum", "name": "counter 1"}
    first = client.post("/v1/terminals/enrollments", json=body, headers=operators.central)
    assert first.status_code == 201 and first.json["code"] and first.json["code_shown_before"] is False
    again = client.post("/v1/terminals/enrollments", json=body, headers=operators.central)
    assert again.status_code == 201
    assert again.json["terminal_id"] == first.json["terminal_id"]
    assert again.json["code"] is None and again.json["code_shown_before"] is True
    with write(engine) as conn:
        stored = conn.execute(select(idempotency.c.response)).scalars().all()
    code = first.json["code"]
    assert stored and not any(code in s or code.replace("-", "") in s for s in stored)
    # The code still works for the technician who got it.
    r = client.post("/v1/enroll", json={"code": code, "csr": csr_for(signing.generate_terminal_key())})
    assert r.status_code == 201


def test_upgrade_drops_codes_already_stored(empty_database_url):
    from server.db import migrate

    engine = make_engine(empty_database_url)
    migrate.upgrade(engine, "0002")
    reply = {
        "code": "ABCD-EFGH-JKMN-PQRS",
        "terminal_id": "t0123456789ab",
        "place": "p",
        "name": "n",
        "expires_at": "2030-01-01T00:00:00+00:00",
    }
    with write(engine) as conn:
        conn.execute(
            idempotency.insert().values(
                client_id="enr-old-0001",
                body_hash="0" * 64,
                status=201,
                response=json.dumps(reply),
                created_at=dt.datetime.now(dt.UTC),
            )
        )
    migrate.upgrade(engine)
    with write(engine) as conn:
        kept = json.loads(conn.execute(select(idempotency.c.response)).scalar_one())
    assert kept == {**reply, "code": None, "code_shown_before": True}
    engine.dispose()


def test_init_makes_the_database_and_folders_private(tmp_path):
    from server.cli import main

    old = os.umask(0o022)
    try:
        var = tmp_path / "srv" / "var"
        env = {
            "MKP_DATABASE_URL": f"sqlite:///{var / 'mkp.sqlite3'}",
            "MKP_TERMINAL_CA_DIR": str(var / "terminal-ca"),
            "MKP_RELEASE_DIR": str(var / "releases"),
            "MKP_SECRETS_DIR": str(var / "secrets"),
        }
        done = CliRunner().invoke(main, ["init"], env=env)
        assert done.exit_code == 0, done.output
        engine = make_engine(env["MKP_DATABASE_URL"])
        with write(engine) as conn:  # a server writing: SQLite makes -wal and -shm beside the database
            conn.execute(text("CREATE TABLE scratch (x INTEGER)"))
            mode = {p.name: p.stat().st_mode & 0o777 for p in var.iterdir()}
        engine.dispose()
        mode["var"] = var.stat().st_mode & 0o777
        mode |= {p.name: p.stat().st_mode & 0o777 for p in (var / "terminal-ca").iterdir()}
        mode |= {f"secrets/{p.name}": p.stat().st_mode & 0o777 for p in (var / "secrets").iterdir()}
        voucher_keys = list((var / "secrets" / "voucher-keys").iterdir())
        assert voucher_keys and all(p.stat().st_mode & 0o777 == 0o600 for p in voucher_keys)
        assert mode == {
            "var": 0o700,
            "mkp.sqlite3": 0o600,
            "mkp.sqlite3-wal": 0o600,
            "mkp.sqlite3-shm": 0o600,
            "terminal-ca": 0o700,
            "releases": 0o700,
            "secrets": 0o700,
            "terminal-ca.key": 0o600,
            "terminal-ca.pem": 0o600,
            ".lock": 0o600,
            "secrets/challenge.key": 0o600,
            "secrets/.lock": 0o600,
            "secrets/voucher-keys": 0o700,
        }, mode
        # A database made by an older version (0644) is made private at the next init.
        os.chmod(var / "mkp.sqlite3", 0o644)
        done = CliRunner().invoke(main, ["init"], env=env)
        assert done.exit_code == 0 and "now 0600" in done.output
        assert (var / "mkp.sqlite3").stat().st_mode & 0o777 == 0o600
    finally:
        os.umask(old)


# --- 3. nothing is read before the caller is known ------------------------------------------------


@pytest.mark.parametrize("path", ["/v1/crls", "/v1/releases", "/v1/grants", "/v1/places"])
def test_an_anonymous_huge_body_is_refused_unread(client, path):
    response, read_from = post_huge(client, path)
    assert error_code(response) == (401, "unauthorized")
    assert not read_from


def test_an_unknown_or_revoked_token_with_a_huge_body_is_refused_unread(client, operators, engine):
    assert client.get("/v1/municipalities", headers=operators.yokosuka).status_code == 200  # remembered
    with write(engine) as conn:
        revoke_operator(conn, "yokosuka-desk")  # as another worker would: this process is not told
    for headers in ({"Authorization": "Bearer mkp_op_not-a-real-token"}, operators.yokosuka):
        response, read_from = post_huge(client, "/v1/grants", headers)
        assert error_code(response) == (401, "unauthorized")
        assert not read_from


def test_a_huge_body_with_a_good_token_is_refused_by_its_length(client, operators):
    for path in ("/v1/crls", "/v1/releases", "/v1/grants"):
        response, read_from = post_huge(client, path, operators.central)
        assert error_code(response) == (413, "too_large"), path
        assert not read_from


def test_a_huge_body_to_a_terminal_endpoint_needs_a_known_key_first(client, operators, enrolled):
    terminal_id, key, _ = enrolled
    req = requests.Request(
        "GET", "http://localhost/v1/terminal/ping", auth=signing.TerminalAuth(terminal_id, key)
    ).prepare()
    stranger = requests.Request(
        "GET",
        "http://localhost/v1/terminal/ping",
        auth=signing.TerminalAuth("t000000000000", signing.generate_terminal_key()),
    ).prepare()
    for headers, expected in ((stranger.headers, (401, "unknown_key")), (req.headers, (413, "too_large"))):
        stream = RecordingStream()
        r = client.get("/v1/terminal/ping", input_stream=stream, headers=dict(headers))
        assert error_code(r) == expected and not stream.read_from


def test_an_anonymous_bad_request_gets_401_not_422(client):
    assert error_code(client.post("/v1/grants", json={"nonsense": 1})) == (401, "unauthorized")
    assert error_code(client.get("/v1/terminal/release/v1/x")) == (401, "missing_signature")


# --- 5. bodies that are not plain UTF-8 JSON objects ----------------------------------------------


def nested(depth: int) -> bytes:
    return b'{"a":' * depth + b"1" + b"}" * depth


@pytest.mark.parametrize("path", ["/v1/grants", "/v1/enroll"])
def test_deeply_nested_json_is_refused_without_a_traceback(client, operators, caplog, path):
    caplog.set_level(logging.DEBUG)
    for headers in ({}, operators.central):
        r = client.post(path, data=nested(3000), headers={**headers, "Content-Type": "application/json"})
        if path == "/v1/grants" and not headers:
            assert error_code(r) == (401, "unauthorized")
            continue
        assert error_code(r) == (422, "invalid_json")
    assert not [rec for rec in caplog.records if rec.exc_info]


def test_json_in_utf16_or_encoded_twice_is_refused(client, operators, enrolled):
    terminal_id, key, code = enrolled
    body = {"code": code, "csr": csr_for(key)}
    utf16 = json.dumps(body).encode("utf-16")
    r = client.post("/v1/enroll", data=utf16, headers={"Content-Type": "application/json"})
    assert error_code(r) == (422, "invalid_json")
    twice = json.dumps(json.dumps(body))
    r = client.post("/v1/enroll", data=twice, headers={"Content-Type": "application/json"})
    assert error_code(r) == (422, "invalid_body")
    assert client.post("/v1/enroll", json=body).status_code == 201  # the same, sent right


# --- 6. the terminal CA is made once, whoever asks first -------------------------------------------


def test_simultaneous_first_uses_of_the_terminal_ca_agree(tmp_path):
    folder, start = tmp_path / "terminal-ca", threading.Barrier(16)
    results: list = []

    def open_ca() -> None:
        start.wait()
        try:
            results.append(TerminalCA.open(folder).certificate_pem)
        except Exception as e:  # what the test looks for
            results.append(e)

    threads = [threading.Thread(target=open_ca) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(map(str, results))) == 1 and isinstance(results[0], str), results
    assert TerminalCA.open(folder).certificate_pem == results[0]


# --- 10. CRL numbers out of range; parameters never logged ---------------------------------------


def test_a_crl_number_beyond_bigint_is_refused(app, client, operators, tmp_path):
    ca = TestCA.init(tmp_path / "jpki")
    app.extensions["mkp.config"] = replace(app.extensions["mkp.config"], jpki_anchor_files=str(ca.cert_path))
    now = dt.datetime.now(dt.UTC)
    crl = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(ca.certificate.subject)
        .last_update(now)
        .next_update(now + dt.timedelta(days=1))
        .add_extension(x509.CRLNumber(2**63), critical=False)
        .sign(ca.key, hashes.SHA256())
    )
    text_pem = crl.public_bytes(serialization.Encoding.PEM).decode()
    r = client.post(
        "/v1/crls", json={"client_id": "crl-big-0001", "crl": text_pem}, headers=operators.central
    )
    assert error_code(r) == (422, "invalid_crl")


def test_database_errors_never_show_bound_parameters(engine, operators):
    secret = "mkp_op_this-must-not-reach-a-log"
    with pytest.raises(IntegrityError) as e, write(engine) as conn:
        conn.execute(
            operator_table.insert().values(
                name="central", token_hash=secret, created_at=dt.datetime.now(dt.UTC)
            )
        )
    assert secret not in str(e.value)


# --- weaker points ---------------------------------------------------------------------------------


def test_request_ids_are_echoed_in_replies_and_logs(app, client):
    @app.get("/boom-for-test")
    def boom():
        raise RuntimeError("boom")

    from server.web.logs import RequestIdFilter, formatter

    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter())
    handler.addFilter(RequestIdFilter())
    logging.getLogger("mkp").addHandler(handler)
    try:
        r = client.get("/boom-for-test", headers={"X-Request-Id": "req-42.abc"})
    finally:
        logging.getLogger("mkp").removeHandler(handler)
    assert r.status_code == 500 and r.headers["X-Request-Id"] == "req-42.abc"
    assert r.json["error"]["request_id"] == "req-42.abc"
    line = stream.getvalue().splitlines()[0]
    assert line[:4].isdigit() and "ERROR" in line and "request_id=req-42.abc" in line, line
    made = client.get("/v1/places", headers={"X-Request-Id": "not ok\u00e9"})
    assert made.headers["X-Request-Id"] == made.json["error"]["request_id"] != "not ok\u00e9"


def test_the_clock_answered_before_flask_reads_as_flasks_own_answer(client):
    """The clock skips Flask (every terminal asks it in the connection test's window); with a
    query it goes through Flask: the two replies differ in nothing but the time and the id."""
    direct = client.get("/v1/terminal/clock", headers={"X-Request-Id": "clock-1"})
    framed = client.get("/v1/terminal/clock?through=flask", headers={"X-Request-Id": "clock-2"})
    assert direct.status_code == framed.status_code == 200
    assert (direct.headers["X-Request-Id"], framed.headers["X-Request-Id"]) == ("clock-1", "clock-2")
    kept = lambda r: [(k, v) for k, v in r.headers if k != "X-Request-Id"]  # noqa: E731
    assert kept(direct) == kept(framed)
    assert direct.json.keys() == framed.json.keys() == {"server_time"}
    assert len(direct.data) == len(framed.data) and direct.data.endswith(b"}\n")
    made = client.get("/v1/terminal/clock", headers={"X-Request-Id": "not ok\u00e9"}).headers["X-Request-Id"]
    assert made != "not ok\u00e9" and len(made) == 16
    assert client.post("/v1/terminal/clock").status_code == 405  # anything but GET: Flask's answer


def test_a_long_nonce_is_refused_not_cut(client, operators, enrolled):
    terminal_id, key, _ = enrolled
    prefix = "n" * 64

    def ping(nonce: str):
        auth = signing.TerminalAuth(terminal_id, key, nonce_factory=lambda: nonce)
        req = requests.Request("GET", "http://localhost/v1/terminal/ping", auth=auth).prepare()
        return client.get("/v1/terminal/ping", headers=dict(req.headers))

    assert error_code(ping(prefix + "A")) == (401, "bad_nonce")
    assert ping(prefix).status_code == 200
    assert error_code(ping(prefix)) == (401, "replayed_nonce")


def test_truncate_cannot_empty_the_ledger(engine, operators, database_url):
    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite has no TRUNCATE (DELETE is refused by a trigger)")
    # TRUNCATE transfers alone is refused sooner now: the expiry lots refer to the transfers.
    for statement in ("TRUNCATE transfers", "TRUNCATE accounts CASCADE", "TRUNCATE lot_moves"):
        with (
            pytest.raises(DBAPIError, match="append-only|referenced in a foreign key|rows are kept"),
            write(engine) as conn,
        ):
            conn.execute(text(statement))


def test_a_poll_that_is_not_modified_loads_no_crl(app, client, operators, tmp_path, enrolled, engine):
    ca = TestCA.init(tmp_path / "jpki")
    app.extensions["mkp.config"] = replace(app.extensions["mkp.config"], jpki_anchor_files=str(ca.cert_path))
    ca.revoke(1001)
    crl = ca.issue_crl().public_bytes(serialization.Encoding.PEM).decode()
    assert (
        client.post(
            "/v1/crls", json={"client_id": "crl-000001", "crl": crl}, headers=operators.central
        ).status_code
        == 201
    )
    terminal_id, key, _ = enrolled
    first = signed(client, key, terminal_id, "/v1/terminal/crl")
    assert first.status_code == 200 and first.headers["ETag"]
    statements: list[str] = []
    server_engine = app.extensions["mkp.engine"]

    def record(conn, cursor, statement, *args):
        statements.append(statement)

    event.listen(server_engine, "before_cursor_execute", record)
    try:
        auth = signing.TerminalAuth(terminal_id, key)
        req = requests.Request(
            "GET",
            "http://localhost/v1/terminal/crl",
            auth=auth,
            headers={"If-None-Match": first.headers["ETag"]},
        ).prepare()
        again = client.get("/v1/terminal/crl", headers=dict(req.headers))
    finally:
        event.remove(server_engine, "before_cursor_execute", record)
    assert again.status_code == 304
    assert not [s for s in statements if "crls.der" in s], statements


def test_admin_warns_about_a_config_file_others_can_read(tmp_path):
    from mkp_admin.cli import main

    config = tmp_path / "admin.toml"
    config.write_text('server = "http://127.0.0.1:9"\ntoken = "mkp_op_x"\n')
    os.chmod(config, 0o644)
    done = CliRunner().invoke(main, ["--config", str(config), "release", "withdraw", "v1"])
    warnings = [line for line in done.stderr.splitlines() if line.startswith("warning:")]
    assert warnings == [
        f"warning: {config} holds an operator token and other users can read it: chmod 600 {config}"
    ]
    os.chmod(config, 0o600)
    done = CliRunner().invoke(main, ["--config", str(config), "release", "withdraw", "v1"])
    assert "warning" not in done.stderr


def test_admin_refuses_a_bad_version_before_signing(tmp_path):
    from mkp_admin.cli import main

    key = tmp_path / "release.key"
    assert CliRunner().invoke(main, ["release", "keygen", "--out", str(key)]).exit_code == 0
    wheel = tmp_path / "mkp.whl"
    wheel.write_bytes(b"PK")
    env = {
        "MKP_TOKEN": "mkp_op_x",
        "MKP_SERVER": "http://127.0.0.1:9",
        "MKP_ADMIN_CONFIG": str(tmp_path / "n"),
    }
    for version in ("v3.3.0", "1!3.4.0", "1.2"):
        done = CliRunner().invoke(
            main, ["release", "publish", "--key", str(key), "--version", version, str(wheel)], env=env
        )
        assert done.exit_code == 2 and "invalid_version" in done.stderr, done.stderr
    done = CliRunner().invoke(main, ["release", "withdraw", "v3.3.0"], env=env)
    assert done.exit_code == 2 and "invalid_version" in done.stderr


def test_admin_says_clearly_when_a_retry_cannot_show_the_code(app, operators, place):
    from mkp_admin.cli import main

    env = {
        "MKP_TOKEN": operators.central["Authorization"].split()[1],
        "MKP_ADMIN_CONFIG": "/nonexistent/admin.toml",
    }
    args = [
        "terminal",
        "enroll",
        "--place",
        "yokosuka-museum",
        "--name",
        "c1",
        "--client-id",
        "enr-cli-00001",
    ]
    with served_in_process(app) as url:
        first = CliRunner().invoke(main, args, env={**env, "MKP_SERVER": url})
        again = CliRunner().invoke(main, args, env={**env, "MKP_SERVER": url})
    assert first.exit_code == 0 and "shown only now" in first.stdout
    assert again.exit_code == 0 and len(again.stdout.splitlines()) == 1
    assert "was shown when it was made and is not kept" in again.stdout
    assert "mkp-admin terminal revoke t" in again.stdout
