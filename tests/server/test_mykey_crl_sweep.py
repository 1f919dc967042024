"""The daily `mkp-server crl-sweep` (in-process, against the real database): fetch the CA's CRL
from a file or the configured URL, keep it if it is new, suspend the MyKey IDs it lists."""

from __future__ import annotations

import json

import pytest
from cryptography.hazmat.primitives.serialization import Encoding
from mkp_testing import invoke
from mykey_helpers import serial_of, write_crl

from drivers.card.virtual.pki import build_crl, utcnow
from server import cli as server_cli


@pytest.fixture
def server_env(mykey, database_url, jpki_ca):
    return {"MKP_DATABASE_URL": database_url, "MKP_JPKI_ANCHOR_FILES": str(jpki_ca.cert_path)}


def sweep(server_env, *args: str):
    return invoke(server_cli.main, "crl-sweep", *args, env=server_env)


def test_crl_sweep_imports_a_new_crl_and_suspends(mykey, server_env, tmp_path):
    card = mykey.card()
    mykey_id = mykey.register(card)["mykey_id"]
    mykey.ca.revoke(serial_of(card))
    path = write_crl(mykey.ca, tmp_path / "jpki.crl")
    done = sweep(server_env, "--crl", str(path), "--json")
    assert done.exit_code == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["imported"]["number"] >= 2 and report["sweep"]["suspended"] == [mykey_id]
    again = sweep(server_env, "--crl", str(path))  # the CA published nothing newer: sweep, no error
    assert again.exit_code == 0 and "no new CRL" in again.stdout


def test_crl_sweep_from_the_configured_url(mykey, server_env, tmp_path):
    import http.server
    import threading

    path = write_crl(mykey.ca, tmp_path / "jpki.crl", der=True)

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a, **kw):
            super().__init__(*a, directory=str(tmp_path), **kw)

        def log_message(self, *a):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        env = {**server_env, "MKP_CRL_SOURCE": f"http://127.0.0.1:{httpd.server_port}/{path.name}"}
        done = sweep(env)
        assert done.exit_code == 0 and "imported" in done.stdout, done.stderr
        env["MKP_CRL_SOURCE"] = f"http://127.0.0.1:{httpd.server_port}/missing.crl"
        missing = sweep(env)
        assert missing.exit_code == 1 and "HTTP 404" in missing.stderr
    finally:
        httpd.shutdown()


def test_crl_sweep_refuses_an_older_crl_and_says_when_the_crl_is_stale(mykey, server_env, tmp_path):
    older = tmp_path / "older.crl"
    older.write_bytes(build_crl(mykey.ca.certificate, mykey.ca.key, [], number=1).public_bytes(Encoding.PEM))
    done = sweep(server_env, "--crl", str(older))
    assert done.exit_code == 1 and "stale_crl" in done.stderr
    import datetime as dt

    old_day = utcnow() - dt.timedelta(days=5)
    late = tmp_path / "late.crl"
    late.write_bytes(
        build_crl(
            mykey.ca.certificate,
            mykey.ca.key,
            [],
            number=10**6,
            this_update=old_day,
            next_update=old_day + dt.timedelta(days=1),
        ).public_bytes(Encoding.PEM)
    )
    done = sweep(server_env, "--crl", str(late))
    assert done.exit_code == 1 and "warning: CRL past its nextUpdate" in done.stdout


def test_crl_sweep_needs_a_source(server_env):
    done = sweep(server_env)
    assert done.exit_code == 2 and "no CRL source" in done.stderr
