"""Provisioning parts that need no server: key, CSR, code input, clock, CRL, printer, checklist, unit file."""

from __future__ import annotations

import json
import os
import pwd
import socket
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding

from agent.home import Home, read_agent_toml, write_agent_toml
from drivers.card.virtual.ca import TestCA
from mkp_core.signing import key_fingerprint
from provisioning.checks import (
    CheckResult,
    check_clock,
    check_crl,
    check_printer,
    check_reader,
    format_checklist,
    passed,
)
from provisioning.enroll import ProvisionError, create_home, load_or_create_key, make_csr, normalize_code
from provisioning.systemd import hand_over, unit_text, write_unit

SERVER_NOW = datetime(2026, 11, 25, 18, 0, 0, tzinfo=UTC)


# --- key and CSR ---------------------------------------------------------------------------------


def test_key_is_made_once_owner_only_and_reused(tmp_path: Path) -> None:
    home = Home(tmp_path / "home")
    create_home(home)
    key, created = load_or_create_key(home)
    assert created
    assert stat.S_IMODE(home.key.stat().st_mode) == 0o600
    assert stat.S_IMODE(home.root.stat().st_mode) == 0o700
    before = home.key.read_bytes()
    again, created_again = load_or_create_key(home)
    assert not created_again
    assert key_fingerprint(again) == key_fingerprint(key)
    assert home.key.read_bytes() == before


def test_a_broken_key_file_is_refused_not_replaced(tmp_path: Path) -> None:
    home = Home(tmp_path)
    home.key.write_text("not a key")
    with pytest.raises(ProvisionError) as e:
        load_or_create_key(home)
    assert e.value.code == "bad_key" and "move" in e.value.fix
    assert home.key.read_text() == "not a key"


def test_csr_carries_the_terminal_public_key_and_a_valid_signature(tmp_path: Path) -> None:
    home = Home(tmp_path)
    key, _ = load_or_create_key(home)
    csr = x509.load_pem_x509_csr(make_csr(key, "counter 1").encode())
    assert csr.is_signature_valid
    assert isinstance(csr.public_key(), ec.EllipticCurvePublicKey)
    assert key_fingerprint(csr.public_key()) == key_fingerprint(key)
    assert b"PRIVATE" not in make_csr(key).encode()


def test_home_that_cannot_be_made_is_one_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(ProvisionError) as e:
        create_home(Home(blocker / "home"))
    assert e.value.code == "home_unwritable"


# --- code input ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "typed", ["ABCD-EFGH-JKMN-PQRS", "abcd efgh jkmn pqrs", " abcdefghjkmnpqrs\n", "ABCD-EFGH JKMN-pqrs"]
)
def test_codes_are_accepted_however_they_are_typed(typed: str) -> None:
    assert normalize_code(typed) == "ABCD-EFGH-JKMN-PQRS"


@pytest.mark.parametrize(
    "typed", ["", "ABCD-EFGH-JKMN", "ABCD-EFGH-JKMN-PQRS-T", "ABCD-EFGH-JKMN-PQR!", "ＡBCD-EFGH-JKMN-PQRS"]
)
def test_malformed_codes_are_refused_before_the_network(typed: str) -> None:
    with pytest.raises(ProvisionError) as e:
        normalize_code(typed)
    assert e.value.code == "bad_code_format" and "16 letters" in e.value.fix


# --- clock ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("offset", "ok", "warning"),
    [
        (timedelta(0), True, False),
        (timedelta(seconds=29), True, False),
        (timedelta(seconds=-45), True, True),
        (timedelta(minutes=4, seconds=59), True, True),
        (timedelta(minutes=6), False, False),
        (timedelta(hours=-9), False, False),  # a PC set to JST but told it is UTC
    ],
)
def test_clock_check_fails_over_5_minutes_and_warns_over_30_seconds(
    offset: timedelta, ok: bool, warning: bool
) -> None:
    result = check_clock(SERVER_NOW, now=SERVER_NOW + offset)
    assert (result.ok, result.warning, result.required) == (ok, warning, True)
    if not ok or warning:
        assert "timedatectl" in result.fix
    if not ok:
        assert ("ahead of" if offset > timedelta(0) else "behind") in result.detail


def test_clock_check_without_a_server_time_says_to_fix_the_network() -> None:
    result = check_clock(None, now=SERVER_NOW)
    assert not result.ok and "network" in result.fix


# --- CRL -----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def jpki(tmp_path_factory: pytest.TempPathFactory) -> TestCA:
    return TestCA.init(tmp_path_factory.mktemp("ca") / "ca")


def _crl_home(tmp_path: Path, trust: TestCA, signer: TestCA, **crl_dates: datetime) -> Home:
    home = Home(tmp_path)
    anchors = [trust.certificate.public_bytes(Encoding.PEM).decode()]
    home.trust_list.write_text(json.dumps({"version": "1", "jpki_anchors": anchors}))
    pem = signer.issue_crl(**crl_dates).public_bytes(Encoding.PEM).decode()
    home.crl.write_text(json.dumps({"version": "1", "crls": [{"kind": "full"}], "pem": [pem]}))
    return home


def test_crl_signed_by_the_trust_list_anchor_and_fresh_passes(tmp_path: Path, jpki: TestCA) -> None:
    result = check_crl(_crl_home(tmp_path, jpki, jpki))
    assert result.ok, result


def test_crl_past_next_update_fails_with_its_fix(tmp_path: Path, jpki: TestCA) -> None:
    home = _crl_home(tmp_path, jpki, jpki)
    result = check_crl(home, now=datetime.now(UTC) + timedelta(days=3))
    assert not result.ok and "nextUpdate" in result.detail and "upload a current CRL" in result.fix


def test_crl_from_the_future_points_at_the_clock(tmp_path: Path, jpki: TestCA) -> None:
    result = check_crl(_crl_home(tmp_path, jpki, jpki), now=datetime.now(UTC) - timedelta(hours=1))
    assert not result.ok and "timedatectl" in result.fix


def test_crl_of_a_foreign_ca_with_the_same_name_is_refused(tmp_path: Path, jpki: TestCA) -> None:
    foreign = TestCA.init(tmp_path / "foreign")
    result = check_crl(_crl_home(tmp_path, jpki, foreign))
    assert not result.ok and "CRL refused" in result.detail


def test_no_crl_and_no_trust_list_are_each_explained(tmp_path: Path, jpki: TestCA) -> None:
    home = Home(tmp_path)
    assert "trust list" in check_crl(home).detail
    home.trust_list.write_text(
        json.dumps({"jpki_anchors": [jpki.certificate.public_bytes(Encoding.PEM).decode()]})
    )
    result = check_crl(home)
    assert not result.ok and "upload the JPKI CRL" in result.fix
    home.crl.write_text("{not json")
    assert "unreadable" in check_crl(home).detail


# --- devices -------------------------------------------------------------------------------------


def test_printer_prints_a_test_page_to_a_file(tmp_path: Path) -> None:
    out = tmp_path / "receipt.bin"
    result = check_printer(
        "epson-tm-t88vi", f"file:{out}", terminal="t0123456789ab", place="横須賀美術館", now=SERVER_NOW
    )
    assert result.ok, result
    data = out.read_bytes()
    assert b"t0123456789ab" in data and "横須賀美術館".encode("cp932") in data and data.endswith(b"\x1dV\x00")


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize(
    ("profile", "spec", "fix"),
    [
        ("epson-tm-t88vi", "network:127.0.0.1:{closed_port}", "switch the printer on"),
        ("epson-tm-t88vi", "bluetooth:aa", "--printer-at as"),
        ("epson-tm-t88vi", "file:/nonexistent-dir/receipt.bin", "path"),
        ("no-such-printer", "file:/tmp/x", "known profiles"),
    ],
)
def test_printer_failures_each_have_a_fix(profile: str, spec: str, fix: str) -> None:
    spec = spec.format(closed_port=_closed_port())  # chosen at run time: xdist workers collect alike
    result = check_printer(profile, spec, terminal="t0123456789ab", place="x")
    assert not result.ok and result.required and fix in result.fix, result


def test_no_printer_chosen_is_optional() -> None:
    result = check_printer(None, None, terminal="t", place="x")
    assert result.skipped and not result.required and "--printer" in result.fix


def test_reader_that_is_not_there_is_named_with_a_fix() -> None:
    result = check_reader("No Such Reader 99")
    assert not result.ok and result.required
    assert result.fix.startswith(("plug", "start it", "unplug"))


# --- checklist -----------------------------------------------------------------------------------


def test_checklist_marks_and_one_fix_line_per_problem() -> None:
    results = [
        CheckResult("Server reached", True, True, "http://x"),
        CheckResult("Clock", True, True, "45 s behind the server", "set the time", warning=True),
        CheckResult("Card reader", False, True, "no card reader is connected", "plug the card reader in"),
        CheckResult("Printer", False, False, "no printer chosen", "add --printer", skipped=True),
    ]
    lines = format_checklist(results)
    assert lines[0].startswith("✓ Server reached ")
    assert lines[1].startswith("! Clock") and lines[2].strip() == "→ set the time"
    assert lines[3].startswith("✗ Card reader") and lines[4].strip() == "→ plug the card reader in"
    assert lines[5].startswith("– Printer") and lines[6].strip() == "→ add --printer"
    assert len(lines) == 7
    assert not passed(results)
    assert passed([r for r in results if r.name != "Card reader"])


# --- agent.toml and systemd ----------------------------------------------------------------------


def test_agent_toml_round_trips_and_keeps_earlier_choices(tmp_path: Path) -> None:
    home = Home(tmp_path)
    write_agent_toml(
        home,
        {
            "server": {"url": "https://mkp.example.jp"},
            "printer": {"profile": "p", "connection": 'file:/a "b"'},
        },
    )
    write_agent_toml(
        home,
        {
            "terminal": {"id": "t0123456789ab"},
            "printer": {"profile": None, "connection": None},
            "reader": {"name": "ACS ACR1252 \\ 00"},
        },
    )
    data = read_agent_toml(home)
    assert data == {
        "server": {"url": "https://mkp.example.jp"},
        "terminal": {"id": "t0123456789ab"},
        "printer": {"profile": "p", "connection": 'file:/a "b"'},
        "reader": {"name": "ACS ACR1252 \\ 00"},
    }


def test_unit_file_runs_the_agent_hardened_in_home(tmp_path: Path) -> None:
    text = unit_text(
        Path("/var/lib/mkp"), "mkp", "t0123456789ab", executable=Path("/opt/mkp/.venv/bin/mkp-agent")
    )
    lines = set(text.splitlines())
    for line in (
        "User=mkp",
        "WorkingDirectory=/var/lib/mkp",
        "ExecStart=/opt/mkp/.venv/bin/mkp-agent run",
        "Restart=on-failure",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "ReadWritePaths=/var/lib/mkp",
        "PrivateTmp=yes",
        "WantedBy=multi-user.target",
    ):
        assert line in lines, line
    assert "PrivateDevices=yes" not in lines  # USB readers and printers must stay visible


@pytest.mark.parametrize("home", ["/var/lib/my mkp", "/var/lib/100%", "/var/lib/a'b"])
def test_unit_file_refuses_paths_systemd_would_split(home: str) -> None:
    with pytest.raises(ProvisionError) as e:
        unit_text(Path(home), "mkp", "t0123456789ab")
    assert e.value.code == "bad_unit_path"


def test_unit_file_into_a_folder_and_into_a_place_it_cannot_write(tmp_path: Path) -> None:
    written = write_unit(tmp_path, tmp_path, "mkp", "t0123456789ab")
    assert written == tmp_path / "mkp-agent.service" and "User=mkp" in written.read_text()
    with pytest.raises(ProvisionError) as e:
        write_unit(tmp_path / "missing" / "mkp-agent.service", tmp_path, "mkp", "t0123456789ab")
    assert e.value.code == "unit_unwritable" and "sudo" in e.value.fix


def test_home_is_handed_to_the_service_user_when_run_with_sudo(tmp_path: Path) -> None:
    home = Home(tmp_path / "home")
    create_home(home)
    load_or_create_key(home)
    write_agent_toml(home, {"server": {"url": "https://x"}})
    assert hand_over(home.root, "no-such-user-xyz") == "there is no user 'no-such-user-xyz' on this computer"
    nobody = pwd.getpwnam("nobody")
    problem = hand_over(home.root, "nobody")
    if os.geteuid() == 0:
        assert problem is None
        assert {(p.stat().st_uid, p.stat().st_gid) for p in (home.root, home.key)} == {
            (nobody.pw_uid, nobody.pw_gid)
        }
        write_agent_toml(home, {"server": {"url": "https://y"}})  # a later run with sudo
        assert (
            home.agent_toml.stat().st_uid == nobody.pw_uid
            and read_agent_toml(home)["server"]["url"] == "https://y"
        )
    else:
        assert problem is not None and "does not own" in problem


# --- the kiosk browser ---------------------------------------------------------------------------


def test_the_kiosk_browser_opens_the_counter_page_full_screen_at_login(tmp_path: Path, monkeypatch) -> None:
    from provisioning import kiosk

    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    written = kiosk.write_autostart(kiosk.autostart_dir(None))
    assert written == tmp_path / "config" / "autostart" / "mkp-counter.desktop"
    entry = dict(
        line.split("=", 1)
        for line in written.read_text().splitlines()
        if "=" in line and not line.startswith("#")
    )
    assert entry["Type"] == "Application"
    command = entry["Exec"].split()
    assert (
        command[0] == "/usr/bin/chromium" and "--kiosk" in command and command[-1] == "http://127.0.0.1:8765/"
    )


def test_the_kiosk_browser_for_a_user_that_does_not_exist_is_one_clear_error() -> None:
    from provisioning import kiosk
    from provisioning.enroll import ProvisionError

    with pytest.raises(ProvisionError) as raised:
        kiosk.autostart_dir("no-such-user-mkp")
    assert raised.value.code == "unknown_user"


def test_the_kiosk_browser_where_it_cannot_write(tmp_path: Path) -> None:
    from provisioning import kiosk
    from provisioning.enroll import ProvisionError

    blocked = tmp_path / "file"
    blocked.write_text("not a folder")
    with pytest.raises(ProvisionError) as raised:
        kiosk.write_autostart(blocked / "autostart")
    assert raised.value.code == "autostart_unwritable"
