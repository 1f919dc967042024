"""The enrolled terminal keeps itself current: `mkp-agent sync`, `run` and `update`."""

import json
import signal
import subprocess
import time

from cryptography.hazmat.primitives.serialization import Encoding
from mkp_testing import BIN
from mkp_testing import cli as run


def provisioned(live, tmp_path):
    home = tmp_path / "term" / "home"
    done = live.provision(home, code=live.new_code()["code"])
    assert (home / "agent.toml").exists(), done.stdout + done.stderr
    return home


def test_sync_fetches_only_what_changed(live, tmp_path):
    home = provisioned(live, tmp_path)
    done = run("mkp-agent", "sync", "--home", str(home), "--json")
    assert done.returncode == 0, done.stderr
    assert {d["name"]: d["status"] for d in json.loads(done.stdout)} == {
        "config": "unchanged",
        "trust-list": "unchanged",
        "crl": "unchanged",
    }
    live.ca.revoke(4242)
    live.api.post("/v1/crls", {"crl": live.ca.issue_crl().public_bytes(Encoding.PEM).decode()})
    done = run("mkp-agent", "sync", "--home", str(home), "--json")
    assert {d["name"]: d["status"] for d in json.loads(done.stdout)}["crl"] == "new"
    assert json.loads((home / "crl.json").read_text())["crls"][0]["entries"] == 1


def test_run_keeps_the_crl_fresh_and_stops_cleanly(live, tmp_path):
    home = provisioned(live, tmp_path)
    before = (home / "crl.json").read_text()
    agent = subprocess.Popen(
        [str(BIN / "mkp-agent"), "run", "--home", str(home), "--interval", "1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        live.ca.revoke(777)
        live.api.post("/v1/crls", {"crl": live.ca.issue_crl().public_bytes(Encoding.PEM).decode()})
        deadline = time.monotonic() + 20
        while (home / "crl.json").read_text() == before and time.monotonic() < deadline:
            time.sleep(0.2)
        assert (home / "crl.json").read_text() != before
    finally:
        agent.send_signal(signal.SIGTERM)
        out, err = agent.communicate(timeout=20)
    assert agent.returncode == 0, err
    assert "crl new" in err and "mkp-agent: stopped" in err


def test_revoked_terminal_stops_for_a_technician(live, tmp_path):
    home = provisioned(live, tmp_path)
    terminal_id = [
        line.split("=")[1].strip().strip('"')
        for line in (home / "agent.toml").read_text().splitlines()
        if line.startswith("id =")
    ][0]
    live.api.post(f"/v1/terminals/{terminal_id}/revoke", {"reason": "stolen"})
    done = run("mkp-agent", "sync", "--home", str(home))
    assert done.returncode == 4 and "revoked_key" in done.stdout
    done = run("mkp-agent", "run", "--home", str(home), "--interval", "1")
    assert done.returncode == 4 and "a technician must re-enroll it" in done.stderr


def test_not_enrolled_home(tmp_path):
    for command in ("sync", "run", "update"):
        done = run("mkp-agent", command, "--home", str(tmp_path))
        assert done.returncode == 4 and "run mkp-provision" in done.stderr


def test_update_needs_the_operators_release_key(live, tmp_path):
    home = provisioned(live, tmp_path)
    done = run("mkp-agent", "update", "--home", str(home), "--check")
    assert done.returncode == 4 and "no_release_key" in done.stderr
