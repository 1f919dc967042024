"""The enrolled terminal keeps itself current: `mkp-agent sync`, `run` and `update`."""

import json
import logging
import signal
import socket
import subprocess
import time
from pathlib import Path

from click.testing import CliRunner
from cryptography.hazmat.primitives import serialization
from mkp_testing import BIN, run_in_process

from agent.cli import main
from agent.home import Home, write_agent_toml
from drivers.card.virtual.ca import TestCA
from mkp_core import release
from provisioning.enroll import create_home, load_or_create_key


def provisioned(platform, tmp_path):
    home = tmp_path / "term" / "home"
    done = platform.provision(home, code=platform.new_code()["code"])
    assert (home / "agent.toml").exists(), done.stdout + done.stderr
    return home


def test_sync_fetches_only_what_changed(platform, tmp_path):
    home = provisioned(platform, tmp_path)
    done = platform.agent("sync", "--home", str(home), "--json")
    assert done.returncode == 0, done.stderr
    assert {d["name"]: d["status"] for d in json.loads(done.stdout)["downloads"]} == {
        "config": "unchanged",
        "trust-list": "unchanged",
        "crl": "unchanged",
    }
    platform.ca.revoke(4242)
    platform.upload_crl()
    done = platform.agent("sync", "--home", str(home), "--json")
    assert {d["name"]: d["status"] for d in json.loads(done.stdout)["downloads"]}["crl"] == "new"
    assert json.loads((home / "crl.json").read_text())["crls"][0]["entries"] == 1


def test_run_keeps_the_crl_fresh_and_stops_cleanly(live_server, tmp_path):
    platform = live_server  # the service loop as systemd runs it: a process, stopped by SIGTERM
    home = provisioned(platform, tmp_path)
    before = (home / "crl.json").read_text()
    agent = subprocess.Popen(
        [str(BIN / "mkp-agent"), "run", "--home", str(home), "--interval", "1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        platform.ca.revoke(777)
        platform.upload_crl()
        deadline = time.monotonic() + 20
        while (home / "crl.json").read_text() == before and time.monotonic() < deadline:
            time.sleep(0.2)
        assert (home / "crl.json").read_text() != before
    finally:
        agent.send_signal(signal.SIGTERM)
        out, err = agent.communicate(timeout=20)
    assert agent.returncode == 0, err
    assert "crl new" in err and "mkp-agent: stopped" in err


def test_revoked_terminal_stops_for_a_technician(platform, tmp_path):
    home = provisioned(platform, tmp_path)
    terminal_id = [
        line.split("=")[1].strip().strip('"')
        for line in (home / "agent.toml").read_text().splitlines()
        if line.startswith("id =")
    ][0]
    platform.api.post(f"/v1/terminals/{terminal_id}/revoke", {"reason": "stolen"})
    done = platform.agent("sync", "--home", str(home))
    assert done.returncode == 4 and "revoked_key" in done.stdout
    done = platform.agent("run", "--home", str(home), "--interval", "1")
    assert done.returncode == 4 and "a technician must re-enroll it" in done.stderr


def test_not_enrolled_home(tmp_path):
    for command in ("sync", "run", "update"):
        done = run_in_process(main, command, "--home", str(tmp_path))
        assert done.returncode == 4 and "run mkp-provision" in done.stderr


def test_update_needs_the_operators_release_key(platform, tmp_path):
    home = provisioned(platform, tmp_path)
    done = platform.agent("update", "--home", str(home), "--check")
    assert done.returncode == 4 and "no_release_key" in done.stderr


# --- exit codes decided by error code, in-process (no server: nothing listens on the port) -------


def enrolled_home_without_a_server(tmp_path, release_key: bool = False) -> Path:
    """A home as mkp-provision leaves it, whose server address nobody answers on."""
    home = Home(tmp_path / "home")
    create_home(home)
    key, _ = load_or_create_key(home)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    write_agent_toml(
        home, {"server": {"url": f"http://127.0.0.1:{port}"}, "terminal": {"id": "t0123456789ab"}}
    )
    keys = [release.public_key_pem(release.generate_operator_key()).decode()] if release_key else []
    home.trust_list.write_text(json.dumps({"jpki_anchors": [], "release_keys": keys}))
    return home.root


def test_sync_without_a_server_exits_3_and_says_so_once_per_file(tmp_path):
    home = enrolled_home_without_a_server(tmp_path)
    done = CliRunner().invoke(main, ["sync", "--home", str(home), "--json"])
    assert done.exit_code == 3, done.output
    items = json.loads(done.stdout)["downloads"]
    assert [(d["name"], d["status"], d["code"]) for d in items] == [
        ("config", "failed", "server_unreachable"),
        ("trust-list", "failed", "server_unreachable"),
        ("crl", "failed", "server_unreachable"),
    ]
    assert "cannot reach the server" in items[0]["detail"]
    queue = json.loads(done.stdout)["queue"]  # an empty queue has nothing to send
    assert (queue["ok"], queue["accepted"], queue["pending"]) == (True, 0, 0)


def test_update_without_a_server_exits_3_with_one_error_line(tmp_path):
    home = enrolled_home_without_a_server(tmp_path, release_key=True)
    done = CliRunner().invoke(main, ["update", "--home", str(home), "--check"])
    assert done.exit_code == 3
    assert done.stderr.startswith("error: server_unreachable: ") and len(done.stderr.splitlines()) == 1


def test_not_enrolled_is_one_coded_error_line_and_exit_4(tmp_path):
    done = CliRunner().invoke(main, ["sync", "--home", str(tmp_path)])
    assert done.exit_code == 4
    assert done.stderr.startswith("error: not_enrolled: ") and "run mkp-provision" in done.stderr


def test_a_release_key_that_is_not_ed25519_is_one_coded_error_line(tmp_path):
    home = enrolled_home_without_a_server(tmp_path)
    trust = json.loads((home / "trust-list.json").read_text())
    rsa_pem = (
        TestCA.init(tmp_path / "ca")
        .certificate.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    (home / "trust-list.json").write_text(json.dumps({**trust, "release_keys": [rsa_pem.decode()]}))
    done = CliRunner().invoke(main, ["update", "--home", str(home), "--check"])
    assert done.exit_code == 1
    assert done.stderr.startswith("error: bad_release_key: ") and len(done.stderr.splitlines()) == 1


def test_status_asks_the_server_whether_it_is_there(platform, tmp_path):
    home = provisioned(platform, tmp_path)
    done = platform.agent("status", "--home", str(home))
    assert done.returncode == 0 and ": online; 0 queued" in done.stdout, done.stdout + done.stderr
    platform.stop()  # the server goes away: the counter's last word from it was "online"
    done = platform.agent("status", "--home", str(home))
    assert done.returncode == 0 and ": offline; 0 queued" in done.stdout, done.stdout + done.stderr
    assert json.loads(platform.agent("status", "--home", str(home), "--json").stdout)["online"] is False
    japanese = run_in_process(main, "status", "--home", str(home), env={"LANG": "ja_JP.UTF-8"})
    assert ": オフライン、保留 0 件（0 ポイント）、最終接続 " in japanese.stdout, japanese.stdout


def test_an_unreachable_server_is_said_once_without_urllib3_retry_warnings(tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    home = enrolled_home_without_a_server(tmp_path, release_key=True)
    done = CliRunner().invoke(main, ["update", "--home", str(home), "--check"])
    assert done.exit_code == 3 and len(done.stderr.splitlines()) == 1
    assert [r.getMessage() for r in caplog.records if "Retrying" in r.getMessage()] == []
