"""`mkp-agent voucher issue` at a street-office terminal, with a virtual card through pcscd: the
holder's points become a voucher on the terminal's printer; a printer that fails voids it and
the points go back. The server side runs on both databases in tests/server; here the card, the
printer and the command are the point (SQLite only, one pcscd per machine)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from mkp_testing import READER0, sqlite_database
from pyzbar import pyzbar

from agent.home import Home, write_agent_toml
from drivers.card.virtual.cardfile import new_card, save_card
from drivers.printer.render import render
from drivers.profiles import load_printer_profile
from server import ledger
from server.db.engine import make_engine, write
from server.platform.mykey import registry

pytestmark = pytest.mark.pcsc
PIN = "1234\n"


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    return sqlite_database(tmp_path)


@pytest.fixture
def office(platform, slots, tmp_path):
    """A terminal (printing to a file), a card holder with 2,000 points, vouchers allowed."""
    platform.api.post("/v1/point-codes/142018/rules", {"vouchers": True})
    home = tmp_path / "office" / "home"
    platform.provision(home, code=platform.new_code()["code"])
    card = tmp_path / "card.json"
    save_card(new_card(platform.ca), card)
    slots.insert(card, slot=0)
    done = platform.agent(
        "mykey", "register", "--server", platform.url, "--reader", READER0, "--pin-stdin", "--json", input=PIN
    )
    mykey_id = json.loads(done.stdout)["mykey_id"]
    engine = make_engine(platform.database_url)
    with write(engine) as conn:
        wallet = registry.find(conn, mykey_id).wallet
        ledger.transfer(
            conn,
            ledger.TransferRequest("grant-office-1", "142018", "muni:142018", wallet, 2000, "grant"),
            "test",
        )
    engine.dispose()
    return platform, home, mykey_id


def _spendable(platform, mykey_id: str) -> int:
    balances = platform.api.get(f"/v1/mykeys/{mykey_id}/balances")["balances"]
    return next(b["spendable"] for b in balances if b["point_code"] == "142018")


def test_a_card_holder_prints_a_voucher_at_the_office(office):
    platform, home, mykey_id = office
    done = platform.agent(
        "voucher", "issue", "--home", str(home), "--amount", "800", "--pin-stdin", "--json", input=PIN
    )
    assert done.returncode == 0, done.stdout + done.stderr
    serial = json.loads(done.stdout)["serials"][0]
    paper = render(load_printer_profile("epson-tm-t88vi"), (home.parent / "receipt.bin").read_bytes())
    codes = pyzbar.decode(np.asarray(paper.image))
    assert [c.data.decode()[:5] for c in codes] == ["MKP1:"]
    assert _spendable(platform, mykey_id) == 1200
    shown = json.loads(platform.admin("voucher", "show", serial, "--json").stdout)
    assert (shown["status"], shown["amount"]) == ("printed", 800)


def test_a_printer_that_fails_voids_the_voucher_and_the_points_come_back(office):
    platform, home, mykey_id = office
    write_agent_toml(Home(home), {"printer": {"connection": "file:/dev/full"}})
    done = platform.agent(
        "voucher", "issue", "--home", str(home), "--amount", "800", "--pin-stdin", "--json", input=PIN
    )
    assert done.returncode == 1 and json.loads(done.stdout)["error"] == "print_failed"
    assert _spendable(platform, mykey_id) == 2000
    assert platform.api.get("/v1/ledger/verify")["ok"]


def test_a_voucher_printed_as_the_server_went_is_confirmed_at_the_next_sync(office, monkeypatch):
    """The paper came out, then the server went away before it heard "printed": the command says
    so in one line and exits 0 (done offline, as an offline redemption); the sync confirms it."""
    from drivers.printer import ReceiptPrinter
    from mkp_core import client as mkp_client

    platform, home, mykey_id = office
    transport = mkp_client._transports[platform.url]
    real = ReceiptPrinter.send

    def send_then_cut(self: ReceiptPrinter, job: bytes) -> None:
        real(self, job)
        platform.stop()

    monkeypatch.setattr(ReceiptPrinter, "send", send_then_cut)
    done = platform.agent(
        "voucher", "issue", "--home", str(home), "--amount", "800", "--pin-stdin", input=PIN
    )
    mkp_client.mount_transport(platform.url, transport)
    assert done.returncode == 0, done.stdout + done.stderr
    line = done.stdout.strip()
    assert line.startswith("voucher ") and line.endswith(" printed; the server will be told at the next sync")
    serial = line.split()[1]
    assert json.loads(platform.admin("voucher", "show", serial, "--json").stdout)["status"] == "issued"
    synced = platform.agent("sync", "--home", str(home))
    assert synced.returncode == 0 and "1 printed vouchers confirmed" in synced.stdout, synced.stdout
    assert json.loads(platform.admin("voucher", "show", serial, "--json").stdout)["status"] == "printed"
    assert _spendable(platform, mykey_id) == 1200
