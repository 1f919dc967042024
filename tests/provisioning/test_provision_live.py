"""mkp-provision as a technician runs it: in-process against the server app, and once end to end
with real processes (the console script against `mkp-server run`)."""

from __future__ import annotations

import json
import os
import pwd
import socket
import stat
import time
from datetime import UTC, datetime, timedelta

from sqlalchemy import update

from mkp_core.signing import load_private_key
from provisioning.checks import check_clock, check_ping, server_time
from server.db.engine import make_engine, write
from server.terminals.tables import enrollment_codes


def checklist(stdout: str) -> dict[str, str]:
    """Check name -> mark, from the text checklist."""
    marks = {}
    for line in stdout.split("Checklist", 1)[1].splitlines():
        if line[:1] in "✓✗!–" and line[1:2] == " ":
            marks[line[2:].split("  ")[0].strip()] = line[0]
    return marks


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_happy_path_all_green_with_a_file_printer_and_the_virtual_reader(
    live_server, tmp_path, virtual_reader
):
    platform = live_server  # the console script against a server process, end to end
    home = tmp_path / "t1" / "home"
    code = platform.new_code()["code"]
    reader = ["--reader", virtual_reader]
    unit = tmp_path / "mkp-agent.service"
    done = platform.provision(home, *reader, "--systemd", str(unit), "--user", "nobody", code=code.lower())
    marks = checklist(done.stdout)
    handed_over = (
        os.geteuid() == 0
    )  # with sudo, HOME is given to the service user; else it must own it already
    expected = {
        "Enrollment": "✓",
        "Server reached": "✓",
        "Clock": "✓",
        "Signed request": "✓",
        "Configuration": "✓",
        "Revocation list (CRL)": "✓",
        "Printer": "✓",
        "Service file": "✓" if handed_over else "✗",
    }
    assert {k: marks.get(k) for k in expected} == expected, done.stdout
    assert marks["Card reader"] == "✓"
    if handed_over:
        assert done.returncode == 0 and "Ready: terminal t" in done.stdout
    else:
        assert done.returncode == 1
    for name in (
        "terminal.key",
        "terminal.pem",
        "ca.pem",
        "config.json",
        "trust-list.json",
        "crl.json",
        "agent.toml",
    ):
        assert (home / name).is_file(), name
    assert stat.S_IMODE((home / "terminal.key").stat().st_mode) == 0o600
    agent = (home / "agent.toml").read_text()
    assert f'url = "{platform.url}"' in agent and 'profile = "epson-tm-t88vi"' in agent
    receipt = (tmp_path / "t1" / "receipt.bin").read_bytes()
    terminal_id = json.loads((home / "config.json").read_text())["terminal_id"]
    assert terminal_id.encode() in receipt and "横須賀美術館".encode("cp932") in receipt
    if handed_over:
        text = unit.read_text()
        assert "User=nobody" in text and f"WorkingDirectory={home}" in text and "Restart=on-failure" in text
        assert (home / "terminal.key").stat().st_uid == pwd.getpwnam("nobody").pw_uid
    shown = json.loads(platform.admin("terminal", "show", terminal_id, "--json").stdout)
    assert shown["status"] == "active" and shown["place"] == "yokosuka-museum"


def test_rerun_is_safe_same_terminal_same_key_nothing_refetched(platform, tmp_path):
    home = tmp_path / "t" / "home"
    code = platform.new_code()["code"]
    first = platform.provision(home, "--json", code=code)
    first_json = json.loads(first.stdout)
    key_before, mtime_before = (
        (home / "terminal.key").read_bytes(),
        (home / "terminal.key").stat().st_mtime_ns,
    )
    second = platform.provision(home, code=code)
    assert "Already enrolled as terminal " + first_json["terminal_id"] in second.stdout
    assert "config: unchanged, trust-list: unchanged, crl: unchanged" in second.stdout  # ETags at work
    third = platform.provision(home, "--json", printer=False)  # server, printer remembered in agent.toml
    assert json.loads(third.stdout)["terminal_id"] == first_json["terminal_id"]
    assert (home / "terminal.key").read_bytes() == key_before
    assert (home / "terminal.key").stat().st_mtime_ns == mtime_before
    # A run that stopped right after the server answered (no certificate saved): the same code
    # with the same key gets the same terminal back.
    (home / "terminal.pem").unlink()
    (home / "agent.toml").unlink()
    fourth = json.loads(platform.provision(home, "--json", code=code).stdout)
    assert fourth["terminal_id"] == first_json["terminal_id"]
    assert [t["id"] for t in platform.api.get("/v1/terminals")["terminals"]] == [first_json["terminal_id"]]


def test_wrong_code(platform, tmp_path):
    platform.new_code()
    done = platform.provision(tmp_path / "home", code="ABCD-EFGH-JKMN-PQRS")
    assert done.returncode == 1 and checklist(done.stdout)["Enrollment"] == "✗"
    assert "the enrollment code is wrong" in done.stdout and "check the code letter by letter" in done.stdout
    assert not (tmp_path / "home" / "terminal.pem").exists()


def test_expired_code(platform, tmp_path):
    enrollment = platform.new_code(ttl_hours=1)
    engine = make_engine(platform.database_url)  # an hour passes
    with write(engine) as conn:
        conn.execute(
            update(enrollment_codes)
            .where(enrollment_codes.c.terminal_id == enrollment["terminal_id"])
            .values(expires_at=datetime.now(UTC) - timedelta(minutes=1))
        )
    engine.dispose()
    done = platform.provision(tmp_path / "home", code=enrollment["code"])
    assert done.returncode == 1 and "the enrollment code has expired" in done.stdout
    assert "ask the operator for a new code" in done.stdout


def test_code_used_by_another_terminal_key(platform, tmp_path):
    code = platform.new_code()["code"]
    assert (
        platform.provision(tmp_path / "a" / "home", code=code, printer=False).stdout.count("✓ Enrollment")
        == 1
    )
    done = platform.provision(tmp_path / "b" / "home", code=code, printer=False)
    assert done.returncode == 1 and "already used by another terminal" in done.stdout


def test_server_unreachable(platform, tmp_path):
    done = platform.provision(
        tmp_path / "home", code=platform.new_code()["code"], server=f"http://127.0.0.1:{closed_port()}"
    )
    marks = checklist(done.stdout)
    assert done.returncode == 1 and marks["Server reached"] == "✗" and marks["Enrollment"] == "–"
    assert "check the network cable or Wi-Fi" in done.stdout


def test_server_down_after_enrollment_still_tests_the_devices(platform, tmp_path):
    home = tmp_path / "t" / "home"
    assert platform.provision(home, "--json", code=platform.new_code()["code"]).returncode in (0, 1)
    platform.stop()
    done = platform.provision(home)
    marks = checklist(done.stdout)
    assert done.returncode == 1 and marks["Server reached"] == "✗" and marks["Enrollment"] == "✓"
    assert marks["Signed request"] == "–" and marks["Printer"] == "✓"
    assert "横須賀美術館".encode("cp932") in (tmp_path / "t" / "receipt.bin").read_bytes()


def test_clock_off_is_caught_before_and_by_the_server(platform, tmp_path):
    code = platform.new_code()["code"]
    home = tmp_path / "home"
    assert json.loads(platform.provision(home, "--json", code=code).stdout)["terminal_id"]
    server_now = server_time(platform.url)
    assert server_now is not None and check_clock(server_now).ok
    ahead = check_clock(server_now, now=datetime.now(UTC) + timedelta(minutes=7))
    assert not ahead.ok and "ahead of the server" in ahead.detail and "timedatectl" in ahead.fix
    terminal_id = json.loads((home / "config.json").read_text())["terminal_id"]
    refused = check_ping(
        platform.url, terminal_id, load_private_key(home / "terminal.key"), clock=lambda: time.time() + 420
    )
    assert not refused.ok and "clock is wrong" in refused.detail and "timedatectl" in refused.fix


def test_printer_offline(platform, tmp_path):
    home = tmp_path / "home"
    done = platform.provision(
        home,
        "--printer",
        "epson-tm-t88vi",
        "--printer-at",
        f"network:127.0.0.1:{closed_port()}",
        code=platform.new_code()["code"],
        printer=False,
    )
    assert done.returncode == 1 and checklist(done.stdout)["Printer"] == "✗"
    assert "does not answer" in done.stdout and "switch the printer on" in done.stdout


def test_no_reader_by_that_name(platform, tmp_path):
    done = platform.provision(
        tmp_path / "home", "--reader", "Sony RC-S380 99", code=platform.new_code()["code"]
    )
    assert done.returncode == 1 and checklist(done.stdout)["Card reader"] == "✗"


def test_revoked_terminal_is_refused_on_its_next_request(platform, tmp_path):
    home = tmp_path / "home"
    terminal_id = json.loads(platform.provision(home, "--json", code=platform.new_code()["code"]).stdout)[
        "terminal_id"
    ]
    key = load_private_key(home / "terminal.key")
    assert check_ping(platform.url, terminal_id, key).ok
    revoked = platform.admin("terminal", "revoke", terminal_id, "--reason", "stolen")
    assert revoked.returncode == 0, revoked.stderr
    refused = check_ping(platform.url, terminal_id, key)
    assert not refused.ok and "revoked" in refused.detail
    done = platform.provision(home)
    marks = checklist(done.stdout)
    assert done.returncode == 1 and marks["Signed request"] == "✗" and marks["Configuration"] == "–"
    assert "revoked by the operator" in done.stdout


def test_crl_not_uploaded_yet_is_explained(platform, tmp_path, database_url):
    from server.platform.tables import crls

    engine = make_engine(platform.database_url)
    with write(engine) as conn:
        conn.execute(crls.delete())
    engine.dispose()
    done = platform.provision(tmp_path / "home", code=platform.new_code()["code"])
    assert done.returncode == 1 and checklist(done.stdout)["Revocation list (CRL)"] == "✗"
    assert "ask the operator to upload the JPKI CRL" in done.stdout


def test_command_line_mistakes_exit_2_with_one_line(platform, tmp_path):
    cli = platform.run
    home = tmp_path / "home"
    cases = [
        (["--printer", "no-such-printer", "--printer-at", "file:/tmp/x"], "no such printer profile"),
        (["--printer", "epson-tm-t88vi", "--printer-at", "bluetooth:1"], "unknown connection type"),
        (["--printer", "epson-tm-t88vi"], "give both --printer"),
        (["--code", "ABC"], "is not an enrollment code"),
    ]
    for args, message in cases:
        done = platform.provision(home, *args, printer=False)
        assert (done.returncode, message in done.stderr) == (2, True), (args, done.stderr)
        assert len(done.stderr.strip().splitlines()) == 1
    assert "--server URL is needed" in cli("mkp-provision", "--home", str(tmp_path / "fresh")).stderr
    assert (
        "starting with https://"
        in cli("mkp-provision", "--home", str(home), "--server", "mkp.example.jp").stderr
    )
    no_code = platform.provision(tmp_path / "fresh2", printer=False)
    assert no_code.returncode == 2 and "--code CODE is needed" in no_code.stderr
    (tmp_path / "afile").write_text("x")
    assert cli("mkp-provision", "--home", str(tmp_path / "afile"), "--server", platform.url).returncode == 2
