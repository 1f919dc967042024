"""`mkp-agent spend | queue | sync` with a virtual card through pcscd, as the issue's Done-when says:
online, then with the server gone (offline, queued), then back (synced once)."""

from __future__ import annotations

import json

import pytest
from counter_helpers import DEPARTMENT, furnish_points
from mkp_testing import READER0, sqlite_database

from drivers.card.virtual.cardfile import new_card, save_card
from mkp_core import client as mkp_client

pytestmark = pytest.mark.pcsc


@pytest.fixture
def database_url(tmp_path):
    """Through pcscd once, on SQLite: the server side runs on both databases in tests/server."""
    return sqlite_database(tmp_path)


def agent(platform, *args: str, pin: bool = True):
    extra = ["--pin-stdin"] if pin else []
    done = platform.agent(*args, "--json", *extra, input="1234\n" if pin else None)
    return done, json.loads(done.stdout) if done.stdout.strip() else None


def test_spend_online_offline_and_the_sync(platform, slots, tmp_path):
    furnish_points(platform)
    card = tmp_path / "card.json"
    save_card(new_card(platform.ca), card)
    slots.insert(card, slot=0)
    home = tmp_path / "term" / "home"
    done = platform.provision(home, "--reader", READER0, code=platform.new_code()["code"])
    assert done.returncode == 0, done.stdout + done.stderr
    done, registered = agent(platform, "mykey", "register", "--server", platform.url, "--reader", READER0)
    assert done.returncode == 0, done.stderr
    mykey_id = registered["mykey_id"]
    platform.api.post(
        "/v1/grants",
        {"department": DEPARTMENT, "mykey_id": mykey_id, "amount": 1000, "grant_kind": "childcare"},
    )

    done, spent = agent(platform, "spend", "--home", str(home), "--amount", "300")
    assert done.returncode == 0 and spent["offline"] is False and spent["amount"] == 300, done.stderr
    transport = mkp_client._transports[platform.url]
    platform.stop()  # the server goes away
    done, queued = agent(platform, "spend", "--home", str(home), "--amount", "200")
    assert done.returncode == 0 and queued["offline"] is True, done.stderr
    done, listed = agent(platform, "queue", "--home", str(home), pin=False)
    assert [(e["amount"], e["status"]) for e in listed["entries"]] == [(200, "pending")]
    done, synced = agent(platform, "sync", "--home", str(home), pin=False)
    assert done.returncode == 3 and synced["queue"]["code"] == "server_unreachable"  # still away
    mkp_client.mount_transport(platform.url, transport)  # back
    done, synced = agent(platform, "sync", "--home", str(home), pin=False)
    assert done.returncode == 0 and synced["queue"]["accepted"] == 1, done.stderr
    held = platform.api.get(f"/v1/mykeys/{mykey_id}/balances")["balances"]
    assert sum(b["balance"] for b in held) == 500  # 300 online, 200 offline: each once
    done, synced = agent(platform, "sync", "--home", str(home), pin=False)
    assert synced["queue"]["accepted"] == 0
