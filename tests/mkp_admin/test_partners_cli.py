"""`mkp-admin partner ...` and `mkp-admin points release-held` (in-process, real app and database)."""

from __future__ import annotations

import json
import stat
from datetime import UTC, datetime, timedelta

import pytest
from mkp_testing import invoke
from partners_helpers import NO_CODE, PartnerCo, end_holds, link, new_holder, redeem

from mkp_admin import cli as admin_cli
from mkp_core import coupon, dates, signing


@pytest.fixture
def admin(mykey, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    env = {
        "MKP_SERVER": mykey.url,
        "MKP_TOKEN": mykey.operators.central["Authorization"].split()[1],
        "MKP_ADMIN_CONFIG": str(tmp_path / "none.toml"),
    }
    return lambda *args: invoke(admin_cli.main, *args, env=env)


def test_add_makes_the_key_pair_here_and_sends_only_the_public_key(admin, mykey, tmp_path):
    done = admin("partner", "add", "ANA", "--name", "全日本空輸", "--rate", "500:100", "--hold-days", "7")
    assert done.exit_code == 0, done.stderr
    assert "ANA" in done.stdout and "500 -> 100" in done.stdout and "partner-ANA.key" in done.stdout
    key_file = tmp_path / "partner-ANA.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    key = signing.load_private_key(key_file)
    partner = PartnerCo(mykey, "ANA", key)
    assert partner.confirm("nobody", NO_CODE).status_code == 404  # the key made here signs for ANA

    again = admin("partner", "add", "ANA", "--name", "x")
    assert again.exit_code == 2 and "exists already" in again.stderr  # the key file is never overwritten
    dup = admin("partner", "add", "ANA", "--name", "x", "--key-out", str(tmp_path / "other.key"))
    assert dup.exit_code == 1 and "partner_exists" in dup.stderr
    assert not (tmp_path / "other.key").exists()  # refused: no key left for nothing

    listed = json.loads(admin("partner", "list", "--json").stdout)["partners"]
    assert [(p["partner_id"], p["rate_from"], p["rate_to"], p["hold_days"]) for p in listed] == [
        ("ANA", 500, 100, 7)
    ]
    assert "全日本空輸" in admin("partner", "list").stdout

    revoked = admin("partner", "revoke", "ANA")
    assert revoked.exit_code == 0 and "revoked" in revoked.stdout
    assert partner.confirm("nobody", NO_CODE).json["error"]["code"] == "revoked_key"


def test_partner_with_its_own_public_key(admin, tmp_path):
    key = signing.generate_terminal_key()
    (tmp_path / "jal.pub").write_bytes(signing.public_key_pem(key))
    done = admin(
        "partner", "add", "JAL", "--name", "日本航空", "--public-key", str(tmp_path / "jal.pub"), "--json"
    )
    assert done.exit_code == 0 and "private_key_file" not in json.loads(done.stdout)
    (tmp_path / "bad.pub").write_text("nope")
    assert (
        admin("partner", "add", "JL2", "--name", "x", "--public-key", str(tmp_path / "bad.pub")).exit_code
        == 2
    )


@pytest.mark.parametrize("rate", ["0:1", "a:b", "5:-1"])
def test_bad_rate_is_a_usage_error(admin, rate):
    done = admin("partner", "add", "ANA", "--name", "x", "--rate", rate)
    assert done.exit_code == 2 and "--rate" in done.stderr


def test_coupons_to_a_private_file_then_redeemed_and_released(admin, mykey, tmp_path):
    assert admin("partner", "add", "ANA", "--name", "全日本空輸").exit_code == 0
    key = signing.load_private_key(tmp_path / "partner-ANA.key")
    done = admin("partner", "coupons", "ANA", "--count", "20", "--points", "1000", "--out", "codes.txt")
    assert done.exit_code == 0, done.stderr
    codes_file = tmp_path / "codes.txt"
    assert stat.S_IMODE(codes_file.stat().st_mode) == 0o600
    codes = codes_file.read_text().split()
    assert len(codes) == 20 and all(coupon.check_ok(coupon.normalise(c)) for c in codes)
    shown = admin("partner", "coupons", "ANA", "--count", "2", "--points", "10")
    assert (
        shown.exit_code == 0
        and len([line for line in shown.stdout.splitlines() if line.count("-") == 4]) == 2
    )

    now = datetime.now(UTC)
    camp = admin(
        "partner", "campaign", "ANA", "--name", "春", "--percent", "10", "--budget", "5000",
        "--from", (now - timedelta(days=1)).isoformat(), "--to", (now + timedelta(days=9)).isoformat(),
    )  # fmt: skip
    assert camp.exit_code == 0, camp.stderr
    assert "+10%" in camp.stdout and "running" in admin("partner", "campaigns", "ANA").stdout

    holder = new_holder(mykey)
    assert redeem(mykey, holder, codes[0]).status_code == 201
    link(mykey, holder, PartnerCo(mykey, "ANA", key), "A-1")
    assert PartnerCo(mykey, "ANA", key).convert("o-1", "A-1", 500).status_code == 201
    held = admin("partner", "conversions", holder.mykey_id)
    assert held.exit_code == 0 and "2 conversions on hold" in held.stdout

    later = dates.jst_date(now + timedelta(days=15)).isoformat()
    refused = admin("points", "release-held", "--as-of", later)
    assert refused.exit_code == 1 and "as_of_in_future" in refused.stderr
    end_holds(mykey)
    due = datetime.now(UTC).isoformat()
    first = admin("points", "release-held", "--as-of", due, "--json")
    assert first.exit_code == 0, first.stderr
    assert json.loads(first.stdout)["points"] == 1000 + 100 + 500 + 50
    second = admin("points", "release-held", "--as-of", due)
    assert second.exit_code == 0 and "released 0 points of 0 conversions" in second.stdout
    assert "0 conversions on hold" in admin("partner", "conversions", holder.mykey_id).stdout
    assert admin("ledger", "verify").exit_code == 0

    assert admin("partner", "cancel-code", codes[1]).exit_code == 0
    assert admin("partner", "cancel-code", codes[0]).exit_code == 1  # redeemed: cannot be
    assert admin("partner", "cancel-batch", "1").exit_code == 0
    assert admin("partner", "coupons", "NOPE", "--count", "1", "--points", "1").exit_code == 1
    assert (
        admin("partner", "coupons", "ANA", "--count", "1", "--points", "1", "--out", "codes.txt").exit_code
        == 2
    )
