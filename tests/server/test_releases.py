"""Agent releases: the operator publishes a signed release, terminals install nothing unsigned."""

import base64
import json
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import pytest
from click.testing import CliRunner
from mkp_testing import run_in_process, served_in_process
from sqlalchemy import select
from terminal_helpers import csr_for, error_code, signed

from agent import update
from mkp_admin import cli as admin_cli
from mkp_core import release, signing
from mkp_core.client import ApiClient, new_session
from mkp_core.errors import MkpError
from server.db.engine import make_engine, write


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@pytest.fixture
def release_key(tmp_path):
    key = release.generate_operator_key()
    path = tmp_path / "release-key.pem"
    path.write_bytes(release.public_key_pem(key))
    return key, path


@pytest.fixture
def app(app, tmp_path, release_key):
    config = app.extensions["mkp.config"]
    app.extensions["mkp.config"] = replace(
        config, release_dir=str(tmp_path / "releases"), release_key_files=str(release_key[1])
    )
    return app


def build(tmp_path: Path, version: str, key, files: dict[str, bytes]) -> dict:
    folder = tmp_path / f"build-{version}"
    folder.mkdir()
    for name, data in files.items():
        (folder / name).write_bytes(data)
    manifest = release.build_manifest(version, sorted(folder.iterdir()))
    return {
        "manifest": b64(manifest),
        "signature": b64(release.sign_manifest(manifest, key)),
        "files": {n: b64(d) for n, d in files.items()},
    }


WHEEL = {"mkp-9.0.0-py3-none-any.whl": b"PK\x03\x04 not really a wheel"}


def test_publish_checks_everything_before_keeping_anything(client, operators, tmp_path, release_key):
    key, _ = release_key
    good = build(tmp_path, "9.0.0", key, WHEEL)
    foreign = build(tmp_path, "9.0.1", release.generate_operator_key(), WHEEL)
    tampered = {**good, "files": {n: b64(b"changed") for n in WHEEL}}
    missing = {**good, "files": {"other.whl": b64(b"x")}}
    cases = [
        (foreign, 422, "bad_signature"),
        (tampered, 422, "size_mismatch"),
        (missing, 422, "release_files_mismatch"),
        ({**good, "manifest": "%%%"}, 422, "invalid_base64"),
        ({**good, "manifest": b64(b"{}")}, 422, "bad_signature"),
    ]
    for n, (body, status, code) in enumerate(cases):
        r = client.post(
            "/v1/releases", json={"client_id": f"rel-bad-{n:04d}", **body}, headers=operators.central
        )
        assert (r.status_code, r.json["error"]["code"]) == (status, code), (n, r.json)
    assert not any(Path(tmp_path / "releases").glob("[0-9]*"))
    r = client.post("/v1/releases", json={"client_id": "rel-000001", **good}, headers=operators.yokosuka)
    assert r.status_code == 403
    r = client.post("/v1/releases", json={"client_id": "rel-000001", **good}, headers=operators.central)
    assert (
        r.status_code == 201
        and r.json["version"] == "9.0.0"
        and r.json["files"][0]["size"] == len(WHEEL["mkp-9.0.0-py3-none-any.whl"])
    )
    again = client.post("/v1/releases", json={"client_id": "rel-000002", **good}, headers=operators.central)
    assert again.status_code == 201  # publishing the very same release twice is harmless
    (tmp_path / "o").mkdir()
    other = build(tmp_path / "o", "9.0.0", key, {"mkp-9.0.0-py3-none-any.whl": b"other"})
    r = client.post("/v1/releases", json={"client_id": "rel-000003", **other}, headers=operators.central)
    assert r.status_code == 409 and r.json["error"]["code"] == "release_exists"


@pytest.fixture
def live(app, operators, place, tmp_path):
    """The server in-process behind the transport every mkp session uses, and an operator session."""
    with served_in_process(app) as url:
        operator = new_session()
        operator.headers.update(operators.central)
        yield SimpleNamespace(url=url), operator, tmp_path / "releases"


def test_terminal_installs_only_what_the_operator_signed(live, tmp_path, release_key, database_url):
    server, operator, release_dir = live
    key, _ = release_key
    terminal_key = signing.generate_terminal_key()
    code = operator.post(
        server.url + "/v1/terminals/enrollments",
        json={"client_id": "e-0000001", "place": "yokosuka-museum", "name": "c1"},
    ).json()["code"]
    terminal_id = (
        new_session()
        .post(server.url + "/v1/enroll", json={"code": code, "csr": csr_for(terminal_key)})
        .json()
    )["terminal_id"]
    session = new_session(auth=signing.TerminalAuth(terminal_id, terminal_key))
    trust = session.get(server.url + "/v1/terminal/trust-list").json()
    keys = [release.load_operator_public_key(pem) for pem in trust["release_keys"]]
    client = ApiClient(server.url, session=session)
    assert len(keys) == 1

    with pytest.raises(MkpError) as e:
        update.fetch_verified_release(client, keys, tmp_path / "s0", "1.0.0")
    assert e.value.code == "no_release"

    assert (
        operator.post(
            server.url + "/v1/releases",
            json={"client_id": "rel-000001", **build(tmp_path, "9.0.0", key, WHEEL)},
        ).status_code
        == 201
    )
    verified = update.fetch_verified_release(client, keys, tmp_path / "s1", "1.0.0")
    assert (
        verified.manifest.version == "9.0.0"
        and verified.files[0].read_bytes() == WHEEL["mkp-9.0.0-py3-none-any.whl"]
    )

    with pytest.raises(MkpError) as e:  # a terminal already on 9.1 is not rolled back
        update.fetch_verified_release(client, keys, tmp_path / "s2", "9.1.0")
    assert e.value.code == "downgrade"

    # A compromised server (or a broken disk) changes the file behind the manifest: refused.
    (release_dir / "9.0.0" / "mkp-9.0.0-py3-none-any.whl").write_bytes(b"PK\x03\x04 evil, not a wheel")
    with pytest.raises(MkpError) as e:
        update.fetch_verified_release(client, keys, tmp_path / "s3", "1.0.0")
    assert e.value.code in ("hash_mismatch", "size_mismatch")
    assert not (tmp_path / "s3" / "mkp-9.0.0-py3-none-any.whl").exists()

    # ...or the manifest itself (kept in the database): refused before any file is fetched.
    from server.db.engine import make_engine, write
    from server.releases.tables import releases

    engine = make_engine(database_url)
    with write(engine) as conn:
        manifest = json.loads(conn.execute(releases.select()).first().manifest)
        manifest["files"][0]["sha256"] = "0" * 64
        conn.execute(releases.update().values(manifest=json.dumps(manifest).encode()))
    engine.dispose()
    with pytest.raises(MkpError) as e:
        update.fetch_verified_release(client, keys, tmp_path / "s4", "1.0.0")
    assert e.value.code == "bad_signature"


def test_operator_cli_keygen_publish_and_crl_upload(app, operators, tmp_path):
    from cryptography.hazmat.primitives.serialization import Encoding

    from drivers.card.virtual.ca import TestCA

    def cli(script, *args, env=None):
        return run_in_process(admin_cli.main, *args, env=env)

    key = tmp_path / "release.key"
    done = cli("mkp-admin", "release", "keygen", "--out", str(key))
    assert done.returncode == 0 and oct(key.stat().st_mode & 0o777) == "0o600"
    assert cli("mkp-admin", "release", "keygen", "--out", str(key)).returncode == 2  # never overwritten
    ca = TestCA.init(tmp_path / "jpki")
    config = app.extensions["mkp.config"]
    app.extensions["mkp.config"] = replace(
        config, release_key_files=f"{key}.pub", jpki_anchor_files=str(ca.cert_path)
    )
    with served_in_process(app) as url:
        admin = {
            "MKP_SERVER": url,
            "MKP_TOKEN": operators.central["Authorization"].split()[1],
            "MKP_ADMIN_CONFIG": str(tmp_path / "none.toml"),
        }
        wheel = tmp_path / "mkp-2.0.0-py3-none-any.whl"
        wheel.write_bytes(b"PK\x03\x04 wheel bytes")
        done = cli(
            "mkp-admin", "release", "publish", "--key", str(key), "--version", "2.0.0", str(wheel), env=admin
        )
        assert done.returncode == 0 and "release 2.0.0 published: 1 file" in done.stdout, done.stderr
        other = tmp_path / "other.key"
        cli("mkp-admin", "release", "keygen", "--out", str(other))
        done = cli(
            "mkp-admin",
            "release",
            "publish",
            "--key",
            str(other),
            "--version",
            "2.0.1",
            str(wheel),
            env=admin,
        )
        assert done.returncode == 1 and "bad_signature" in done.stderr
        done = cli(
            "mkp-admin",
            "release",
            "publish",
            "--key",
            str(key),
            "--version",
            "not a version",
            str(wheel),
            env=admin,
        )
        assert done.returncode == 2

        ca.revoke(99)
        pem_file, der_file = tmp_path / "a.crl", tmp_path / "b.crl"
        pem_file.write_bytes(ca.issue_crl().public_bytes(Encoding.PEM))
        der_file.write_bytes(ca.issue_crl().public_bytes(Encoding.DER))
        done = cli("mkp-admin", "crl", "upload", str(pem_file), env=admin)
        assert done.returncode == 0 and "full CRL number 1 imported: 1 entries" in done.stdout, done.stderr
        done = cli("mkp-admin", "--json", "crl", "upload", str(der_file), env=admin)
        assert done.returncode == 0 and json.loads(done.stdout)["number"] == 2
        assert (
            cli("mkp-admin", "crl", "upload", str(pem_file), env=admin).returncode == 1
        )  # older than what is there


# --- versions, file names, withdrawal -------------------------------------------


def signed_release(key, version: str, files: dict[str, bytes]) -> dict:
    """A release signed as an operator could sign it by hand, whatever mkp-admin would refuse."""
    import hashlib

    doc = {
        "version": version,
        "created": "2026-11-25T17:00:00Z",
        "files": [
            {"name": n, "sha256": hashlib.sha256(d).hexdigest(), "size": len(d)} for n, d in files.items()
        ],
    }
    manifest = json.dumps(doc).encode()
    return {
        "manifest": b64(manifest),
        "signature": b64(release.sign_manifest(manifest, key)),
        "files": {n: b64(d) for n, d in files.items()},
    }


PLAIN_WHEEL = {"mkp-py3-none-any.whl": b"PK\x03\x04 wheel"}


@pytest.mark.parametrize("version", ["v3.3.0", "1!3.4.0", " 3.5.0", "1.2", "1.2.3.4", "1.2.3rc1", "01.2.3"])
def test_only_plain_versions_are_published(client, operators, release_key, version):
    body = {"client_id": "rel-bad-0001", **signed_release(release_key[0], version, PLAIN_WHEEL)}
    r = client.post("/v1/releases", json=body, headers=operators.central)
    assert error_code(r) == (422, "invalid_version")
    assert client.get("/v1/releases", headers=operators.central).json["releases"] == []


@pytest.mark.parametrize("name", ["manifest.json", "manifest.json.sig", "Manifest.JSON"])
def test_release_files_cannot_shadow_the_manifest(client, operators, release_key, name):
    body = {
        "client_id": "rel-bad-0002",
        **signed_release(release_key[0], "3.3.0", {**PLAIN_WHEEL, name: b"{}"}),
    }
    r = client.post("/v1/releases", json=body, headers=operators.central)
    assert r.status_code == 422 and r.json["error"]["code"] in ("invalid_file_name", "invalid_request")
    assert client.get("/v1/releases", headers=operators.central).json["releases"] == []


def test_a_withdrawn_release_is_no_longer_offered(client, operators, release_key, enrolled):
    terminal_id, terminal_key, _ = enrolled
    for n, version in enumerate(["3.4.0", "3.10.0", "3.5.0"]):
        body = {"client_id": f"rel-000{n}-ok", **signed_release(release_key[0], version, PLAIN_WHEEL)}
        assert client.post("/v1/releases", json=body, headers=operators.central).status_code == 201

    def offered():
        r = signed(client, terminal_key, terminal_id, "/v1/terminal/release")
        return r.json["version"] if r.status_code == 200 else r.json["error"]["code"]

    assert offered() == "3.10.0"  # numbers, not text: 3.10.0 is newer than 3.5.0
    withdraw = {"client_id": "wd-0000001", "reason": "breaks printing"}
    r = client.post("/v1/releases/3.10.0/withdraw", json=withdraw, headers=operators.yokosuka)
    assert error_code(r) == (403, "central_operator_only")
    r = client.post("/v1/releases/3.10.0/withdraw", json=withdraw, headers=operators.central)
    assert r.status_code == 200 and r.json["withdraw_reason"] == "breaks printing" and r.json["withdrawn_at"]
    again = client.post("/v1/releases/3.10.0/withdraw", json=withdraw, headers=operators.central)
    assert again.status_code == 200 and again.json == r.json
    assert offered() == "3.5.0"
    r = signed(client, terminal_key, terminal_id, "/v1/terminal/release/3.10.0/mkp-py3-none-any.whl")
    assert error_code(r) == (404, "no_release")
    r = client.post(
        "/v1/releases/9.9.9/withdraw", json={"client_id": "wd-0000002"}, headers=operators.central
    )
    assert error_code(r) == (404, "unknown_release")
    # Publishing the withdrawn release again does not bring it back.
    body = {"client_id": "rel-again-01", **signed_release(release_key[0], "3.10.0", PLAIN_WHEEL)}
    assert error_code(client.post("/v1/releases", json=body, headers=operators.central)) == (
        409,
        "release_withdrawn",
    )
    for version in ("3.5.0", "3.4.0"):
        client.post(
            f"/v1/releases/{version}/withdraw", json={"client_id": f"wd-{version}"}, headers=operators.central
        )
    assert offered() == "no_release"
    listed = client.get("/v1/releases", headers=operators.central).json["releases"]
    assert [(r["version"], bool(r["withdrawn_at"])) for r in listed] == [
        ("3.10.0", True),
        ("3.5.0", True),
        ("3.4.0", True),
    ]


def test_init_takes_over_releases_published_before_the_database_kept_them(tmp_path, release_key):
    from server.cli import main
    from server.releases.service import latest
    from server.releases.tables import releases

    key, _ = release_key
    folder = tmp_path / "releases" / "2.1.0"
    folder.mkdir(parents=True)
    (folder / "mkp.whl").write_bytes(b"PK")
    manifest = release.build_manifest("2.1.0", [folder / "mkp.whl"])
    (folder / "manifest.json").write_bytes(manifest)
    (folder / "manifest.json.sig").write_bytes(release.sign_manifest(manifest, key))
    odd = tmp_path / "releases" / "v3.0.0"  # a version no terminal could download: left out
    odd.mkdir()
    (odd / "manifest.json").write_bytes(manifest.replace(b'"2.1.0"', b'"v3.0.0"'))
    (odd / "manifest.json.sig").write_bytes(b"sig")
    env = {
        "MKP_DATABASE_URL": f"sqlite:///{tmp_path / 'mkp.sqlite3'}",
        "MKP_TERMINAL_CA_DIR": str(tmp_path / "terminal-ca"),
        "MKP_RELEASE_DIR": str(tmp_path / "releases"),
        "MKP_SECRETS_DIR": str(tmp_path / "secrets"),
    }
    done = CliRunner().invoke(main, ["init"], env=env)
    assert done.exit_code == 0 and "v3.0.0 not taken over" in done.stderr, done.output
    engine = make_engine(env["MKP_DATABASE_URL"])
    with write(engine) as conn:
        assert conn.execute(select(releases.c.version)).scalars().all() == ["2.1.0"]
        assert latest(conn, tmp_path / "releases").manifest == manifest
    engine.dispose()
