"""A voucher whose paper came out while its "printed" confirmation was lost (the network cut, the
server restarting) still becomes valid, in-process on SQLite (the server's side on both databases
is in tests/server/test_vouchers_printed_again.py).

The terminal (``print_and_settle``) writes "printed, not yet confirmed" in its queue file before it
tells the server; ``mkp-agent sync`` sends what is still marked until the server answers. The
server is cut after the printer took the paper (``Away``: the in-process transport unmounted), or
the answer alone is lost (the request reaches the server, the reply never comes back).
``mkp-admin voucher issue`` says which serials are printed but unconfirmed and how to confirm them
(``mkp-admin voucher printed``), and voids none of them.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from mkp_testing import sqlite_database

from agent.cli.voucher import print_and_settle
from agent.queue import OfflineQueue
from agent.terminal import Terminal
from drivers.printer import ReceiptPrinter
from drivers.printer.render import render
from drivers.profiles import load_printer_profile
from mkp_core import client as mkp_client
from mkp_core.client import Unreachable
from server.db.engine import make_engine, write
from server.vouchers import service

YOKOSUKA = "142018"


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    return sqlite_database(tmp_path)


class Away:
    """The server goes away and comes back (the in-process transport unmounted, then again)."""

    def __init__(self, platform) -> None:
        self.platform = platform
        self.transport = mkp_client._transports[platform.url]

    def __enter__(self) -> Away:
        self.platform.stop()
        return self

    def __exit__(self, *exc: object) -> None:
        self.back()

    def back(self) -> None:
        mkp_client.mount_transport(self.platform.url, self.transport)


@pytest.fixture
def office(platform, tmp_path):
    """Vouchers allowed; a terminal with its trust list; ``issue()`` issues one voucher there (as
    a card holder's would be, through the domain: no card needed) and returns the batch."""
    platform.api.post(f"/v1/point-codes/{YOKOSUKA}/rules", {"vouchers": True})
    home = tmp_path / "office" / "home"
    platform.provision(home, code=platform.new_code()["code"])
    terminal = Terminal.open(home)

    def issue(client_id: str = "office-1") -> dict:
        engine = make_engine(platform.database_url)
        try:
            with write(engine) as conn:
                request = service.Issue(YOKOSUKA, 400, 1, f"muni:{YOKOSUKA}", client_id)
                batch = service.issue(
                    conn, request, platform.tmp / "secrets", f"terminal:{terminal.terminal_id}"
                )
        finally:
            engine.dispose()
        return json.loads(json.dumps(batch, default=str))

    return platform, home, terminal, issue


def _status(platform, serial: str) -> dict:
    return json.loads(platform.admin("voucher", "show", serial, "--json").stdout)


def _unconfirmed(home: Path) -> dict[str, list[str]]:
    queue = OfflineQueue(home / "counter.sqlite3")
    try:
        return queue.unconfirmed_prints()
    finally:
        queue.close()


def _sync(platform, home: Path) -> dict:
    done = platform.agent("sync", "--home", str(home), "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads(done.stdout)["queue"]


def _photo(home: Path, tmp_path: Path) -> Path:
    """The voucher as the terminal's file printer got it, as a photo."""
    png = tmp_path / "voucher.png"
    render(load_printer_profile("epson-tm-t88vi"), (home.parent / "receipt.bin").read_bytes()).image.save(png)
    return png


def test_paper_out_confirmation_lost_then_the_sync_makes_it_valid_and_it_redeems_once(office, tmp_path):
    platform, home, terminal, issue = office
    serial = issue()["vouchers"][0]["serial"]
    with Away(platform):
        result = print_and_settle(terminal, issue("office-2"))
    lost = result["serials"][0]
    assert (result["ok"], result["printed"], result["unconfirmed"], result["voided"]) == (
        True,
        [lost],
        [lost],
        [],
    )
    assert lost != serial and _status(platform, lost)["status"] == "issued"  # not valid yet
    assert list(_unconfirmed(home).values()) == [[lost]]
    assert _sync(platform, home)["prints_confirmed"] == 1
    assert _status(platform, lost)["status"] == "printed" and _unconfirmed(home) == {}
    assert _sync(platform, home)["prints_confirmed"] == 0  # nothing more to say
    png = _photo(home, tmp_path)
    used = platform.agent("voucher", "redeem", "--home", str(home), "--image", str(png))
    assert used.returncode == 0, used.stderr
    assert used.stdout.startswith("accepted: 400 142018 points")
    again = platform.agent("voucher", "redeem", "--home", str(home), "--image", str(png), "--json")
    assert again.returncode == 1 and json.loads(again.stdout)["error"] == "voucher_used"
    assert platform.api.get("/v1/ledger/verify")["ok"]


def test_a_confirmation_whose_answer_was_lost_is_sent_again_and_taken_once(office, monkeypatch):
    platform, home, terminal, issue = office
    real = mkp_client.ApiClient.request
    heard: list[str] = []

    def answer_lost(self, method, path, body=None, *args, **kwargs):
        reply = real(self, method, path, body, *args, **kwargs)
        if path.endswith("/vouchers/printed"):
            heard.append(body["client_id"])
            raise Unreachable("the answer was lost")
        return reply

    monkeypatch.setattr(mkp_client.ApiClient, "request", answer_lost)
    result = print_and_settle(terminal, issue())
    serial = result["printed"][0]
    first = _status(platform, serial)
    assert result["unconfirmed"] == [serial] and first["status"] == "printed"  # the server took it
    lost_again = platform.agent("sync", "--home", str(home))  # the answer lost again: still marked
    assert lost_again.returncode == 3 and "the answer was lost" in lost_again.stdout
    assert list(_unconfirmed(home).values()) == [[serial]]
    monkeypatch.setattr(mkp_client.ApiClient, "request", real)
    assert _sync(platform, home)["prints_confirmed"] == 1
    assert len(heard) == 2 and len(set(heard)) == 1  # the same client id each time
    assert _status(platform, serial)["printed_at"] == first["printed_at"]  # taken once
    assert _unconfirmed(home) == {}
    assert platform.api.get("/v1/ledger/verify")["ok"]


def test_a_voucher_voided_before_its_confirmation_arrived_is_reported_and_unmarked(office):
    platform, home, terminal, issue = office
    with Away(platform):
        serial = print_and_settle(terminal, issue())["unconfirmed"][0]
    voided = platform.admin("voucher", "void", serial, "--reason", "never_printed")
    assert voided.returncode == 0, voided.stderr
    said = platform.agent("sync", "--home", str(home))
    assert said.returncode == 0, said.stderr
    assert (
        f"voucher {serial} was printed here but the server refused it (voucher_voided: voucher {serial} "
        "was voided (never_printed) before its print was confirmed"
    ) in said.stdout
    assert "reprint it for its holder" in said.stdout
    assert _unconfirmed(home) == {}
    again = _sync(platform, home)
    assert (again["prints_confirmed"], again["prints_refused"]) == (0, [])
    assert _status(platform, serial)["status"] == "voided"


def test_the_run_loop_sends_a_lost_confirmation(office):
    from agent.counter.loop import CounterLoop
    from agent.counter.service import Counter
    from drivers.card.pcsc import PcscBackend

    platform, home, terminal, issue = office
    with Away(platform):
        serial = print_and_settle(terminal, issue())["unconfirmed"][0]
    lines: list[str] = []
    counter = Counter(terminal, PcscBackend())
    try:
        CounterLoop(counter, interval=300, log=lines.append).tick()
    finally:
        counter.queue.close()
    assert _status(platform, serial)["status"] == "printed"
    assert any("1 prints confirmed" in line for line in lines), lines


@pytest.fixture
def cut_after_paper(monkeypatch, platform):
    """The printer takes every voucher; after the ``n``-th the server goes away (``Away``)."""
    away = Away(platform)
    real = ReceiptPrinter.send
    sent: list[bytes] = []

    def arm(n: int) -> Away:
        def send(self: ReceiptPrinter, job: bytes) -> None:
            real(self, job)
            sent.append(job)
            if len(sent) == n:
                platform.stop()

        monkeypatch.setattr(ReceiptPrinter, "send", send)
        return away

    return arm


def test_the_admin_batch_printed_while_the_server_went_says_how_to_confirm(
    platform, cut_after_paper, tmp_path
):
    platform.api.post(f"/v1/point-codes/{YOKOSUKA}/rules", {"vouchers": True})
    away = cut_after_paper(2)
    out = tmp_path / "batch.bin"
    done = platform.admin(
        "voucher", "issue", "--point-code", YOKOSUKA, "--amount", "300", "--count", "2",
        "--printer-at", f"file:{out}", "--json",
    )  # fmt: skip
    away.back()
    assert done.returncode == 1, done.stdout + done.stderr
    result = json.loads(done.stdout)
    serials = result["printed"]
    assert len(serials) == 2 and result["unconfirmed"] == serials and result["voided"] == []
    assert result["confirm_error"].startswith("server_unreachable")
    assert "printed but not confirmed (server_unreachable" in done.stderr
    assert f"run mkp-admin voucher printed {' '.join(serials)}" in done.stderr
    assert [_status(platform, s)["status"] for s in serials] == ["issued", "issued"]  # nothing voided
    confirmed = platform.admin("voucher", "printed", *serials)
    assert confirmed.returncode == 0, confirmed.stderr
    assert confirmed.stdout.strip() == "2 vouchers confirmed printed: valid from now on"
    assert [_status(platform, s)["status"] for s in serials] == ["printed", "printed"]
    again = platform.admin("voucher", "printed", *serials, "--json")  # said twice: the same answer
    assert again.returncode == 0 and json.loads(again.stdout)["printed"] == 2
    assert platform.api.get("/v1/ledger/verify")["ok"]


def test_confirming_an_unknown_or_voided_voucher_by_hand_is_refused(platform, tmp_path):
    platform.api.post(f"/v1/point-codes/{YOKOSUKA}/rules", {"vouchers": True})
    batch = platform.api.post("/v1/vouchers/batches", {"point_code": YOKOSUKA, "amount": 100, "count": 1})
    serial = batch["vouchers"][0]["serial"]
    assert platform.admin("voucher", "void", serial).returncode == 0
    refused = platform.admin("voucher", "printed", serial)
    assert refused.returncode == 1 and "voucher_voided" in refused.stderr
    unknown = platform.admin("voucher", "printed", "not-a-serial")
    assert unknown.returncode == 1 and "invalid_voucher_serial" in unknown.stderr
    assert platform.admin("voucher", "printed").returncode == 2  # no serial: usage


def test_a_server_error_on_the_confirmation_keeps_the_mark_for_the_sync(office, monkeypatch):
    platform, home, terminal, issue = office
    real = mkp_client.ApiClient.request

    def busy(self, method, path, body=None, *args, **kwargs):
        if path.endswith("/vouchers/printed"):
            raise mkp_client.ApiError(503, "server_busy", "the database is restarting")
        return real(self, method, path, body, *args, **kwargs)

    monkeypatch.setattr(mkp_client.ApiClient, "request", busy)
    result = print_and_settle(terminal, issue())
    serial = result["printed"][0]
    assert result["unconfirmed"] == [serial] and _status(platform, serial)["status"] == "issued"
    monkeypatch.setattr(mkp_client.ApiClient, "request", real)
    assert _sync(platform, home)["prints_confirmed"] == 1
    assert _status(platform, serial)["status"] == "printed"


def test_a_batch_cut_midway_lists_the_unconfirmed_and_the_not_yet_voided(
    platform, cut_after_paper, monkeypatch, tmp_path
):
    """Two vouchers out, then the server goes and the printer stops on the third: the two are
    kept (not voided), the rest are said to be neither printed nor voided yet."""
    from drivers.printer import PrinterError

    platform.api.post(f"/v1/point-codes/{YOKOSUKA}/rules", {"vouchers": True})
    away = cut_after_paper(2)
    cut_send = ReceiptPrinter.send
    count = {"n": 0}

    def third_fails(self: ReceiptPrinter, job: bytes) -> None:
        count["n"] += 1
        if count["n"] == 3:
            raise PrinterError("offline", "paper out")
        cut_send(self, job)

    monkeypatch.setattr(ReceiptPrinter, "send", third_fails)
    out = tmp_path / "batch.bin"
    done = platform.admin(
        "voucher", "issue", "--point-code", YOKOSUKA, "--amount", "300", "--count", "4",
        "--printer-at", f"file:{out}", "--json",
    )  # fmt: skip
    away.back()
    assert done.returncode == 1, done.stdout + done.stderr
    result = json.loads(done.stdout)
    assert len(result["unconfirmed"]) == 2 and len(result["not_voided"]) == 2 and result["voided"] == []
    assert f"void them with mkp-admin voucher void {' '.join(result['not_voided'])}" in done.stderr
    assert [_status(platform, s)["status"] for s in result["printed"] + result["not_voided"]] == [
        "issued"
    ] * 4
