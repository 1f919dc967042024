"""The operator's side of the MyKey Platform on the command line: mkp-admin service | mykey | crl
import (in-process, against the real app and database; the daily `mkp-server crl-sweep` is in
tests/server/test_mykey_crl_sweep.py)."""

from __future__ import annotations

import json

import pytest
from cryptography.hazmat.primitives.serialization import Encoding
from mkp_testing import invoke
from mykey_helpers import serial_of, write_crl

from drivers.card.virtual.ca import TestCA
from drivers.card.virtual.pki import build_crl
from mkp_admin import cli as admin_cli


@pytest.fixture
def admin(mykey, tmp_path):
    env = {
        "MKP_SERVER": mykey.url,
        "MKP_TOKEN": mykey.operators.central["Authorization"].split()[1],
        "MKP_ADMIN_CONFIG": str(tmp_path / "none.toml"),
    }

    def run(*args: str):
        return invoke(admin_cli.main, *args, env=env)

    return run


def test_services_and_places(admin):
    done = admin(
        "service",
        "add",
        "a1",
        "--name",
        "中央商店街",
        "--kind",
        "shopping-street",
        "--municipality",
        "142018",
    )
    assert done.exit_code == 0 and "added service A1: 中央商店街" in done.stdout
    done = admin(
        "service",
        "add",
        "A2",
        "--name",
        "図書館",
        "--kind",
        "library",
        "--municipality",
        "142018",
        "--confirm-links",
    )
    assert "links confirmed by its staff" in done.stdout
    listed = admin("service", "list")
    assert "A1" in listed.stdout and "(links confirmed by staff)" in listed.stdout
    done = admin(
        "place",
        "add",
        "a1-shop",
        "--name",
        "八百屋",
        "--kind",
        "shop",
        "--municipality",
        "142018",
        "--service",
        "a1",
    )
    assert done.exit_code == 0, done.stderr
    assert "[service A1]" in admin("place", "list").stdout


@pytest.mark.parametrize(("service", "code"), [("Z9", "unknown_service"), ("a b", "invalid_service_code")])
def test_place_of_a_bad_service(admin, service, code):
    done = admin(
        "place",
        "add",
        "x-place",
        "--name",
        "x",
        "--kind",
        "shop",
        "--municipality",
        "142018",
        "--service",
        service,
    )
    assert done.exit_code == 1 and code in done.stderr


def test_service_refusals(admin):
    admin("service", "add", "A1", "--name", "x", "--kind", "museum", "--municipality", "142018")
    again = admin("service", "add", "A1", "--name", "y", "--kind", "museum", "--municipality", "142018")
    assert again.exit_code == 1 and "service_exists" in again.stderr
    unknown = admin("service", "add", "B1", "--name", "x", "--kind", "museum", "--municipality", "131016")
    assert unknown.exit_code == 1 and "unknown_municipality" in unknown.stderr
    bad = admin("service", "add", "B1", "--name", "x", "--kind", "zoo", "--municipality", "142018")
    assert bad.exit_code == 2


def test_suspend_show_resume_and_renewal_code(mykey, admin):
    mykey_id = mykey.register(mykey.card())["mykey_id"]
    done = admin("mykey", "suspend", mykey_id, "--reason", "lost")
    assert done.exit_code == 0 and "suspended since" in done.stdout and "(lost)" in done.stdout
    shown = admin("mykey", "show", mykey_id.lower())
    assert f"MyKey ID {mykey_id}: suspended" in shown.stdout and "operator:central" in shown.stdout
    code = admin("mykey", "renewal-code", mykey_id)
    assert (
        code.exit_code == 0
        and "shown only now" in code.stdout
        and "mkp-agent mykey renew --code" in code.stdout
    )
    resumed = admin("--json", "mykey", "resume", mykey_id, "--reason", "card found")
    assert json.loads(resumed.stdout)["status"] == "active"


@pytest.mark.parametrize(
    ("mykey_id", "exit_code", "code"), [("ZZZZZZZZ", 1, "unknown_mykey"), ("abc", 2, "mykey_id_too_short")]
)
def test_unknown_or_malformed_ids(admin, mykey_id, exit_code, code):
    done = admin("mykey", "suspend", mykey_id, "--reason", "lost")
    assert done.exit_code == exit_code and code in done.stderr


def test_crl_import_from_a_file_reports_the_sweep(mykey, admin, tmp_path):
    card = mykey.card()
    mykey_id = mykey.register(card)["mykey_id"]
    mykey.ca.revoke(serial_of(card))
    done = admin("crl", "import", str(write_crl(mykey.ca, tmp_path / "jpki.crl", der=True)))
    assert done.exit_code == 0, done.stderr
    assert "1 MyKey IDs suspended: " + mykey_id in done.stdout
    again = admin("crl", "import", str(tmp_path / "jpki.crl"))  # the same CRL twice
    assert again.exit_code == 1 and "crl_exists" in again.stderr


def test_crl_import_refusals(mykey, admin, tmp_path):
    newer = write_crl(mykey.ca, tmp_path / "newer.crl")
    older = tmp_path / "older.crl"
    older.write_bytes(
        build_crl(mykey.ca.certificate, mykey.ca.key, [], number=1).public_bytes(Encoding.PEM)
    )  # number 1: older than what the server holds
    assert admin("crl", "import", str(newer)).exit_code == 0
    stale = admin("crl", "import", str(older))
    assert stale.exit_code == 1 and "stale_crl" in stale.stderr
    foreign = TestCA.init(tmp_path / "foreign")  # the J-LIS DN, another key: a bad signature
    bad = admin("crl", "import", str(write_crl(foreign, tmp_path / "foreign.crl")))
    assert bad.exit_code == 1 and "untrusted_crl" in bad.stderr
    missing = admin("crl", "import", str(tmp_path / "nowhere.crl"))
    assert missing.exit_code == 1 and "crl_unavailable" in missing.stderr
    junk = tmp_path / "junk.crl"
    junk.write_bytes(b"\x30\x03junk")
    assert "invalid_crl" in admin("crl", "import", str(junk)).stderr


def test_crl_for_another_issuer(mykey, admin, tmp_path):
    from drivers.card.virtual.pki import build_ca_certificate, jpki_ca_name, new_rsa_key

    key = new_rsa_key()  # a CA of another name, also not an anchor
    other = build_ca_certificate(key, name=jpki_ca_name("another issuer"))
    path = tmp_path / "other.crl"
    path.write_bytes(build_crl(other, key, [], number=99).public_bytes(Encoding.PEM))
    done = admin("crl", "import", str(path))
    assert done.exit_code == 1 and "unknown_crl_issuer" in done.stderr
