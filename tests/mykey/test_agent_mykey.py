"""`mkp-agent mykey ...` and `mkp-agent lookup` with virtual cards through pcscd, against the server.

The commands run in this process (click) and reach the server app through the in-process
transport; the cards go through vpcd, pcscd and pyscard exactly as a USB reader's would.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from mkp_testing import READER0, READER1

from drivers.card.virtual.cardfile import load_card, new_card, save_card

pytestmark = pytest.mark.pcsc
PIN = "1234\n"


@pytest.fixture
def cards(platform, slots, tmp_path):
    """Two virtual cards of the platform's test CA, in vpcd's two slots (reader 0 and 1)."""
    paths = []
    for n, _ in enumerate((READER0, READER1)):
        path = tmp_path / f"card{n}.json"
        save_card(new_card(platform.ca), path)
        slots.insert(path, slot=n)
        paths.append(path)
    return paths


def agent(platform, *args: str, reader: str = READER0, pin: str = PIN):
    return platform.agent(*args, "--reader", reader, "--pin-stdin", "--json", input=pin)


def register(platform, *args: str, reader: str = READER0):
    return agent(platform, "mykey", "register", "--server", platform.url, *args, reader=reader)


def out(done) -> dict:
    return json.loads(done.stdout)


@pytest.fixture
def a1_terminal(platform, tmp_path) -> Path:
    """Shopping street A1, a place of it, and a terminal there provisioned into its home folder."""
    admin = platform.admin
    assert (
        admin(
            "service",
            "add",
            "a1",
            "--name",
            "中央商店街",
            "--kind",
            "shopping-street",
            "--municipality",
            "142018",
        ).returncode
        == 0
    )
    done = admin(
        "place",
        "add",
        "a1-office",
        "--name",
        "中央商店街事務所",
        "--kind",
        "office",
        "--municipality",
        "142018",
        "--service",
        "A1",
    )
    assert done.returncode == 0, done.stderr
    code = platform.api.post("/v1/terminals/enrollments", {"place": "a1-office", "name": "counter"})["code"]
    home = tmp_path / "a1-terminal"
    done = platform.provision(home, "--reader", READER0, code=code)
    assert done.returncode == 0, done.stdout + done.stderr
    return home


def test_register_then_the_same_id_then_a_taken_id(platform, cards):
    first = register(platform)
    assert first.returncode == 0, first.stderr
    mykey_id = out(first)["mykey_id"]
    assert len(mykey_id) == 8 and out(first)["created"] is True
    again = register(platform)
    assert again.returncode == 0 and out(again)["mykey_id"] == mykey_id and out(again)["created"] is False
    taken = register(platform, "--id", mykey_id.lower(), reader=READER1)
    assert taken.returncode == 1 and out(taken)["error"] == "mykey_taken"
    assert "mykey_taken" in taken.stderr


def test_a_bad_chosen_id_is_refused_before_the_card_is_touched(platform, cards):
    done = register(platform, "--id", "Hana24")
    assert done.returncode == 2 and out(done)["error"] == "mykey_id_too_short"
    assert load_card(cards[0]).pin_tries_left == 3


def test_a_wrong_pin_spends_one_try(platform, cards):
    done = agent(platform, "mykey", "register", "--server", platform.url, pin="9999\n")
    assert done.returncode == 5 and out(done) == {
        "error": "wrong_pin",
        "message": out(done)["message"],
        "pin_tries_left": 2,
    }


def test_no_server(platform, cards):
    done = agent(platform, "mykey", "register", "--server", "http://127.0.0.1:9")
    assert done.returncode == 8 and out(done)["error"] == "server_unreachable"


def test_link_lookup_and_suspension(platform, cards, a1_terminal):
    mykey_id = out(register(platform))["mykey_id"]
    linked = agent(platform, "mykey", "link", "A1", "789", "--server", platform.url)
    assert linked.returncode == 0 and out(linked)["status"] == "active", linked.stderr
    found = agent(platform, "lookup", "--home", str(a1_terminal))
    assert found.returncode == 0, found.stderr
    assert out(found) == {"service": "A1", "service_id": "789"}

    register(platform, reader=READER1)  # a second holder, with no A1 link
    missing = agent(platform, "lookup", "--home", str(a1_terminal), reader=READER1)
    assert missing.returncode == 1 and out(missing)["error"] == "not_linked"

    suspended = platform.admin("mykey", "suspend", mykey_id, "--reason", "lost")
    assert suspended.returncode == 0, suspended.stderr
    refused = agent(platform, "lookup", "--home", str(a1_terminal))
    assert refused.returncode == 1 and out(refused)["error"] == "mykey_suspended"


def test_show_and_unlink(platform, cards):
    register(platform, "--id", "Hanako24")
    assert (
        platform.admin(
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
        ).returncode
        == 0
    )
    agent(platform, "mykey", "link", "a2", "280212", "--server", platform.url)
    shown = out(agent(platform, "mykey", "show", "--server", platform.url))
    assert shown["mykey_id"] == "Hanako24"
    assert [(x["service"], x["local_id"], x["status"]) for x in shown["links"]] == [
        ("A2", "280212", "pending")
    ]
    gone = agent(platform, "mykey", "unlink", "A2", "--server", platform.url)
    assert gone.returncode == 0 and out(gone)["status"] == "removed"


def test_renew_with_both_cards(platform, cards):
    mykey_id = out(register(platform))["mykey_id"]  # the old card, in reader 0
    done = platform.agent(
        "mykey",
        "renew",
        "--server",
        platform.url,
        "--old-reader",
        READER0,
        "--reader",
        READER1,
        "--pin-stdin",
        "--json",
        input="1234\n1234\n",
    )
    assert done.returncode == 0, done.stderr
    assert out(done)["mykey_id"] == mykey_id
    old = register(platform)
    assert old.returncode == 1 and out(old)["error"] == "certificate_replaced"
    assert out(register(platform, reader=READER1))["mykey_id"] == mykey_id


def test_renew_with_a_code_after_the_card_was_lost(platform, cards):
    mykey_id = out(register(platform))["mykey_id"]
    platform.admin("mykey", "suspend", mykey_id, "--reason", "lost")
    issued = platform.admin("--json", "mykey", "renewal-code", mykey_id)
    code = json.loads(issued.stdout)["code"]
    done = agent(platform, "mykey", "renew", "--server", platform.url, "--code", code, reader=READER1)
    assert done.returncode == 0, done.stderr
    assert platform.admin("mykey", "resume", mykey_id, "--reason", "new card").returncode == 0
    shown = out(agent(platform, "mykey", "show", "--server", platform.url, reader=READER1))
    assert shown["mykey_id"] == mykey_id and shown["status"] == "active"


def test_self_suspension(platform, cards):
    mykey_id = out(register(platform))["mykey_id"]
    done = agent(platform, "mykey", "suspend", "--server", platform.url)
    assert done.returncode == 0 and out(done)["status"] == "suspended"
    shown = platform.admin("mykey", "show", mykey_id)
    assert "suspended" in shown.stdout and "holder" in shown.stdout


def test_lookup_at_a_terminal_of_no_service(platform, cards, tmp_path):
    code = platform.new_code()["code"]  # the museum: no service
    home = tmp_path / "museum-terminal"
    assert platform.provision(home, "--reader", READER0, code=code).returncode == 0
    done = agent(platform, "lookup", "--home", str(home))
    assert done.returncode == 1 and out(done)["error"] == "no_service"


def test_lookup_of_a_revoked_card_is_refused_by_the_terminal_itself(platform, cards, a1_terminal):
    from cryptography import x509

    register(platform)
    serial = x509.load_der_x509_certificate(load_card(cards[0]).auth_certificate).serial_number
    platform.ca.revoke(serial)
    platform.upload_crl()
    assert platform.agent("sync", "--home", str(a1_terminal)).returncode == 0  # the terminal's CRL
    done = agent(platform, "lookup", "--home", str(a1_terminal))
    assert done.returncode == 1 and out(done)["error"] == "certificate_revoked"
