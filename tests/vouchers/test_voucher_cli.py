"""Paper vouchers end to end, with the commands people run (in-process: click and the real app):
`mkp-admin voucher issue ... --printer-at file:OUT.bin` writes ESC/POS bytes whose QR code,
drawn as paper, `mkp-agent voucher verify --image PNG --json` accepts offline, and `redeem`
accepts once and refuses the second time with `voucher_used`. Then what goes wrong: a printer
that fails voids and gives the points back, a code without vouchers, a PDF, a reprint, the keys."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from drivers.printer.render import render
from drivers.profiles import load_printer_profile

YOKOSUKA = "142018"


@pytest.fixture
def street(platform, tmp_path):
    """The platform with 横須賀市's points allowed as vouchers and a terminal at the museum."""
    platform.api.post(f"/v1/point-codes/{YOKOSUKA}/rules", {"vouchers": True})
    home = tmp_path / "museum" / "home"
    done = platform.provision(home, code=platform.new_code()["code"])
    assert (home / "agent.toml").exists(), done.stdout + done.stderr
    return platform, home


def _paper(out: Path, png: Path, profile: str = "epson-tm-t88vi") -> Path:
    render(load_printer_profile(profile), out.read_bytes()).image.save(png)
    return png


def _ledger_ok(platform) -> dict:
    accounts = platform.api.get("/v1/ledger/verify")
    assert accounts["ok"], accounts["breaches"]
    return accounts


def test_issue_to_a_file_printer_verify_offline_redeem_once(street, tmp_path):
    platform, home = street
    out = tmp_path / "voucher.bin"
    done = platform.admin(
        "voucher",
        "issue",
        "--point-code",
        YOKOSUKA,
        "--amount",
        "500",
        "--printer-at",
        f"file:{out}",
        "--json",
    )
    assert done.returncode == 0, done.stderr
    issued = json.loads(done.stdout)
    assert len(issued["printed"]) == 1 and issued["voided"] == [] and issued["error"] is None
    serial = issued["printed"][0]
    png = _paper(out, tmp_path / "voucher.png")
    assert platform.agent("sync", "--home", str(home)).returncode == 0  # the trust list now has the key
    verified = platform.agent("voucher", "verify", "--home", str(home), "--image", str(png), "--json")
    assert verified.returncode == 0, verified.stderr
    v = json.loads(verified.stdout)
    assert (v["ok"], v["offline"], v["serial"], v["amount"], v["point_code"]) == (
        True,
        True,
        serial,
        500,
        YOKOSUKA,
    )
    first = platform.agent("voucher", "redeem", "--home", str(home), "--image", str(png), "--json")
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout)["place"] == "yokosuka-museum"
    second = platform.agent("voucher", "redeem", "--home", str(home), "--image", str(png), "--json")
    assert second.returncode == 1
    assert json.loads(second.stdout)["error"] == "voucher_used"
    assert "voucher_used" in second.stderr and "横須賀美術館" in second.stderr
    shown = platform.admin("voucher", "show", serial)
    assert "redeemed" in shown.stdout and "横須賀美術館" in shown.stdout
    _ledger_ok(platform)


def test_verify_refuses_a_photo_that_is_not_a_voucher_with_its_code(street, tmp_path):
    platform, home = street
    import qrcode

    qrcode.make("HELLO WORLD").save(tmp_path / "other.png")
    done = platform.agent(
        "voucher", "verify", "--home", str(home), "--image", str(tmp_path / "other.png"), "--json"
    )
    assert done.returncode == 1 and json.loads(done.stdout)["error"] == "not_a_voucher"
    missing = platform.agent("voucher", "verify", "--home", str(home), "--image", str(tmp_path / "none.png"))
    assert missing.returncode != 0 and "unreadable_image" in missing.stderr


def test_a_printer_that_fails_voids_the_vouchers_and_returns_the_points(street, tmp_path):
    platform, _ = street
    before = platform.api.get("/v1/ledger/verify")["transfers"]
    done = platform.admin(
        "voucher", "issue", "--point-code", YOKOSUKA, "--amount", "500", "--count", "3",
        "--printer-at", "file:/dev/full", "--json",
    )  # fmt: skip
    assert done.returncode == 1
    result = json.loads(done.stdout)
    assert result["printed"] == [] and len(result["voided"]) == 3 and result["points_returned"] == 1500
    assert result["error"].startswith("offline")
    assert "printing failed" in done.stderr
    for serial in result["voided"]:
        assert json.loads(platform.admin("voucher", "show", serial, "--json").stdout)["status"] == "voided"
    report = platform.api.get("/v1/ledger/verify")
    assert report["ok"] and report["transfers"] == before + 6  # three issued, three reversed
    unwritable = platform.admin(
        "voucher", "issue", "--point-code", YOKOSUKA, "--amount", "500",
        "--printer-at", f"file:{tmp_path / 'no' / 'such' / 'dir.bin'}",
    )  # fmt: skip
    assert unwritable.returncode == 1 and "not_writable" in unwritable.stderr
    said = unwritable.stdout + unwritable.stderr
    assert said.count("cannot write to") == 1 and "'))" not in said and "')" not in said, said


def test_vouchers_not_allowed_and_bad_usage_change_nothing(platform, tmp_path):
    before = platform.api.get("/v1/ledger/verify")
    out = f"file:{tmp_path / 'x.bin'}"
    refused = platform.admin(
        "voucher", "issue", "--point-code", YOKOSUKA, "--amount", "500", "--printer-at", out
    )
    assert refused.returncode == 1 and "vouchers_not_allowed" in refused.stderr
    both = platform.admin(
        "voucher", "issue", "--point-code", YOKOSUKA, "--amount", "5", "--printer-at", out, "--pdf", "x.pdf"
    )
    assert both.returncode == 2
    unknown = platform.admin(
        "voucher",
        "issue",
        "--point-code",
        YOKOSUKA,
        "--amount",
        "5",
        "--printer-at",
        out,
        "--printer",
        "nope",
    )
    assert unknown.returncode == 2
    assert platform.api.get("/v1/ledger/verify") == before


def test_a_print_shop_pdf_and_a_reprint_of_a_lost_voucher(street, tmp_path):
    platform, _ = street
    pdf = tmp_path / "shop.pdf"
    done = platform.admin(
        "voucher",
        "issue",
        "--point-code",
        YOKOSUKA,
        "--amount",
        "300",
        "--count",
        "5",
        "--pdf",
        str(pdf),
        "--json",
    )
    assert done.returncode == 0, done.stderr
    assert pdf.read_bytes().startswith(b"%PDF") and len(json.loads(done.stdout)["printed"]) == 5
    lost = json.loads(done.stdout)["printed"][0]
    out = tmp_path / "reprint.bin"
    again = platform.admin("voucher", "reprint", lost, "--printer-at", f"file:{out}", "--json")
    assert again.returncode == 0, again.stderr
    reprinted = json.loads(again.stdout)
    assert reprinted["replaces"] == lost and reprinted["printed"][0] != lost and out.stat().st_size > 0
    assert json.loads(platform.admin("voucher", "show", lost, "--json").stdout)["status"] == "voided"
    twice = platform.admin("voucher", "reprint", lost, "--printer-at", f"file:{out}")
    assert twice.returncode == 1 and "voucher_voided" in twice.stderr
    assert platform.api.get("/v1/ledger/verify")["ok"]


def test_voucher_keys_rotate_list_withdraw(street, tmp_path):
    platform, home = street
    made = json.loads(platform.admin("voucher", "key", "rotate", "--json").stdout)
    out = tmp_path / "v.bin"
    assert (
        platform.admin(
            "voucher", "issue", "--point-code", YOKOSUKA, "--amount", "100", "--printer-at", f"file:{out}"
        ).returncode
        == 0
    )
    png = _paper(out, tmp_path / "v.png")
    withdrawn = platform.admin("voucher", "key", "withdraw", made["key_id"], "--reason", "leaked")
    assert withdrawn.returncode == 0 and "withdrawn" in withdrawn.stdout
    assert made["key_id"] in platform.admin("voucher", "key", "list").stdout
    platform.agent("sync", "--home", str(home))
    refused = platform.agent("voucher", "verify", "--home", str(home), "--image", str(png), "--json")
    assert refused.returncode == 1 and json.loads(refused.stdout)["error"] == "voucher_key_withdrawn"


def test_a_retried_issue_prints_nothing_twice(street, tmp_path):
    platform, _ = street
    out = tmp_path / "once.bin"
    args = ["voucher", "issue", "--point-code", YOKOSUKA, "--amount", "200", "--count", "2"]
    args += ["--printer-at", f"file:{out}", "--client-id", "issue-retry-0001"]
    assert platform.admin(*args).returncode == 0
    size = out.stat().st_size
    again = platform.admin(*args)
    assert again.returncode == 1 and "voucher_replayed" in again.stderr
    assert out.stat().st_size == size  # the file printer was not opened again (it would be emptied)


def test_redeem_by_text_or_typed_serial_and_without_the_server(street, tmp_path):
    platform, home = street
    out = tmp_path / "two.bin"
    done = platform.admin(
        "voucher", "issue", "--point-code", YOKOSUKA, "--amount", "250", "--count", "2",
        "--printer-at", f"file:{out}", "--json",
    )  # fmt: skip
    first, second = json.loads(done.stdout)["printed"]
    platform.agent("sync", "--home", str(home))
    bogus = platform.agent("voucher", "redeem", "--home", str(home), "--text", "MKP1:ABC", "--json")
    assert bogus.returncode == 1 and json.loads(bogus.stdout)["error"] == "voucher_truncated"
    typed = platform.agent("voucher", "redeem", "--home", str(home), "--serial", first.lower(), "--json")
    assert typed.returncode == 0, typed.stderr
    assert json.loads(typed.stdout)["amount"] == 250
    platform.stop()
    away = platform.agent("voucher", "redeem", "--home", str(home), "--serial", second)
    assert away.returncode == 8 and "server_unreachable" in away.stderr


def test_a_phone_link_is_shown_once_and_revoked(street):
    platform, _ = street
    args = ("voucher", "phone-link", "--place", "yokosuka-museum", "--client-id", "phone-link-0001")
    made = platform.admin(*args)
    assert made.returncode == 0 and "/vouchers/phone/mkp_vp_" in made.stdout
    again = platform.admin(*args)
    assert again.returncode == 0 and "mkp_vp_" not in again.stdout and "shown only once" in again.stdout
    gone = platform.admin("voucher", "phone-link", "--place", "yokosuka-museum", "--revoke")
    assert gone.returncode == 0 and "1 phone link(s) revoked" in gone.stdout
