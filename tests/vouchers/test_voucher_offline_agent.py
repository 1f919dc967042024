"""`mkp-agent voucher redeem` while the server is away (the offline half), in-process: the
voucher is checked with the downloaded trust list, accepted within the offline limits and queued
("accepted offline, queued"); `mkp-agent sync` sends it and the server redeems it once. The same
voucher taken offline at two terminals: one wins, the other is an exception. The server's side of
every case runs on both databases in tests/server/test_vouchers_offline.py; here SQLite."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from mkp_testing import sqlite_database

from agent.home import Home, read_json, write_atomic
from drivers.printer.render import render
from drivers.profiles import load_printer_profile
from mkp_core import client as mkp_client

YOKOSUKA = "142018"


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    return sqlite_database(tmp_path)


@pytest.fixture
def street(platform, tmp_path):
    """Vouchers allowed; a terminal at the museum with a fresh trust list; one voucher as a photo."""
    platform.api.post(f"/v1/point-codes/{YOKOSUKA}/rules", {"vouchers": True})
    home = _terminal(platform, tmp_path / "museum")
    png, serial = _voucher(platform, tmp_path, 500)
    assert platform.agent("sync", "--home", str(home)).returncode == 0  # the voucher key, the config
    return platform, home, png, serial


def _terminal(platform, folder: Path) -> Path:
    home = folder / "home"
    done = platform.provision(home, code=platform.new_code()["code"])
    assert (home / "agent.toml").exists(), done.stdout + done.stderr
    return home


def _voucher(platform, tmp_path: Path, amount: int, name: str = "v") -> tuple[Path, str]:
    out = tmp_path / f"{name}.bin"
    done = platform.admin(
        "voucher", "issue", "--point-code", YOKOSUKA, "--amount", str(amount),
        "--printer-at", f"file:{out}", "--json",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    png = tmp_path / f"{name}.png"
    render(load_printer_profile("epson-tm-t88vi"), out.read_bytes()).image.save(png)
    return png, json.loads(done.stdout)["printed"][0]


def _redeem(platform, home: Path, png: Path, *more: str):
    done = platform.agent("voucher", "redeem", "--home", str(home), "--image", str(png), *more)
    return done, (json.loads(done.stdout) if "--json" in more and done.stdout.strip() else None)


class Away:
    """The server goes away and comes back (the in-process transport unmounted, then again)."""

    def __init__(self, platform) -> None:
        self.platform = platform
        self.transport = mkp_client._transports[platform.url]

    def __enter__(self) -> Away:
        self.platform.stop()
        return self

    def __exit__(self, *exc: object) -> None:
        mkp_client.mount_transport(self.platform.url, self.transport)


def test_accepted_offline_queued_then_redeemed_once_at_the_sync(street):
    platform, home, png, serial = street
    with Away(platform):
        done, taken = _redeem(platform, home, png, "--json")
        assert done.returncode == 0, done.stderr
        assert (taken["offline"], taken["queued"], taken["serial"], taken["amount"]) == (
            True,
            True,
            serial,
            500,
        )
        again, refused = _redeem(platform, home, png, "--json")  # shown twice here: refused here
        assert again.returncode == 1 and refused["error"] == "voucher_used"
        assert "not yet synced" in again.stderr
        text, _ = _redeem(platform, home, png)
        assert text.returncode == 1
        listed = json.loads(platform.agent("queue", "--home", str(home), "--json").stdout)
        assert [(e["kind"], e["amount"], e["status"]) for e in listed["entries"]] == [
            ("voucher", 500, "pending")
        ]
        assert platform.agent("sync", "--home", str(home)).returncode == 3  # still away: kept
    synced = json.loads(platform.agent("sync", "--home", str(home), "--json").stdout)
    assert synced["queue"]["accepted"] == 1, synced
    shown = json.loads(platform.admin("voucher", "show", serial, "--json").stdout)
    assert (shown["status"], shown["redeemed_place"]) == ("redeemed", "yokosuka-museum")
    assert datetime.fromisoformat(shown["redeemed_at"]) == datetime.fromisoformat(taken["taken_at"])
    assert json.loads(platform.agent("sync", "--home", str(home), "--json").stdout)["queue"]["accepted"] == 0
    online, answer = _redeem(platform, home, png, "--json")  # the server says when and where
    assert online.returncode == 1 and answer["error"] == "voucher_used" and "横須賀美術館" in online.stderr
    assert platform.api.get("/v1/ledger/verify")["ok"]


def test_the_text_output_says_accepted_offline_queued(street):
    platform, home, png, _ = street
    with Away(platform):
        done, _ = _redeem(platform, home, png)
    assert done.returncode == 0 and done.stdout.startswith("accepted offline, queued: 500 142018 points")


def test_the_same_voucher_taken_offline_at_two_terminals_one_wins(street, tmp_path):
    platform, first, png, serial = street
    second = _terminal(platform, tmp_path / "second")
    assert platform.agent("sync", "--home", str(second)).returncode == 0
    with Away(platform):
        for home in (first, second):
            assert _redeem(platform, home, png, "--json")[0].returncode == 0
    won = json.loads(platform.agent("sync", "--home", str(second), "--json").stdout)["queue"]
    lost = json.loads(platform.agent("sync", "--home", str(first), "--json").stdout)["queue"]
    assert (won["accepted"], lost["refused"]) == (1, 1)
    (refused,) = json.loads(
        platform.agent("queue", "--home", str(first), "--status", "refused", "--json").stdout
    )["entries"]
    assert refused["result"]["error"]["code"] == "voucher_used"
    exceptions = platform.admin("exceptions", "list")
    assert serial in exceptions.stdout and "voucher_used" in exceptions.stdout
    assert platform.api.get("/v1/ledger/verify")["ok"]


def _set_offline_limits(home: Path, **limits: int) -> None:
    path = Home(home).config
    config = read_json(path) or {}
    config["offline"] = {**(config.get("offline") or {}), **limits}
    write_atomic(path, json.dumps(config).encode())


def test_offline_limits_count_a_voucher_like_a_spend(street, tmp_path):
    platform, home, png, _ = street
    other, other_serial = _voucher(platform, tmp_path, 400, name="other")
    platform.agent("sync", "--home", str(home))
    _set_offline_limits(home, max_spend=450, max_total=800)
    with Away(platform):
        over, refused = _redeem(platform, home, png, "--json")  # 500 > 450 an entry
        assert over.returncode == 1 and refused["error"] == "offline_limit"
        _set_offline_limits(home, max_spend=500)
        assert _redeem(platform, home, png, "--json")[0].returncode == 0  # 500 of 800
        total, refused = _redeem(platform, home, other, "--json")  # 500 + 400 > 800 unsent
        assert total.returncode == 1 and refused["error"] == "offline_limit"
        long_ago = (datetime.now(UTC) - timedelta(hours=25)).isoformat()
        write_atomic(home / "contact.json", json.dumps({"at": long_ago}).encode())
        _set_offline_limits(home, max_total=5000)
        stale, refused = _redeem(platform, home, other, "--json")
        assert stale.returncode == 1 and refused["error"] == "offline_too_long"
        typed = platform.agent("voucher", "redeem", "--home", str(home), "--serial", other_serial)
        assert typed.returncode == 8 and "scan its QR code" in typed.stderr
        listed = json.loads(platform.agent("queue", "--home", str(home), "--json").stdout)
        assert [e["amount"] for e in listed["entries"]] == [500]  # only the one within the limits


def test_a_voucher_whose_key_was_withdrawn_is_refused_offline(street):
    """After the terminal's trust list learnt of the withdrawal, the voucher verifies no more."""
    platform, home, png, serial = street
    key_id = json.loads(platform.admin("voucher", "show", serial, "--json").stdout)["key_id"]
    assert platform.admin("voucher", "key", "withdraw", key_id, "--reason", "leaked").returncode == 0
    platform.agent("sync", "--home", str(home))
    with Away(platform):
        done, refused = _redeem(platform, home, png, "--json")
    assert done.returncode == 1 and refused["error"] == "voucher_key_withdrawn"
    assert json.loads(platform.agent("queue", "--home", str(home), "--json").stdout)["entries"] == []


def test_a_key_withdrawn_while_a_voucher_waited_in_the_queue(street):
    """mkp-admin: withdraw reports the unused vouchers, void-unused returns their points and lists
    what to reprint; the voucher taken offline meanwhile is an exception at the sync, not paid."""
    platform, home, png, serial = street
    with Away(platform):
        assert _redeem(platform, home, png)[0].returncode == 0
    key_id = json.loads(platform.admin("voucher", "show", serial, "--json").stdout)["key_id"]
    withdrawn = platform.admin("voucher", "key", "withdraw", key_id, "--reason", "leaked")
    assert withdrawn.returncode == 0 and "1 of its vouchers (500 points) are unused" in withdrawn.stdout
    voided = platform.admin("voucher", "key", "void-unused", key_id)
    assert voided.returncode == 0, voided.stderr
    assert "1 vouchers of key" in voided.stdout and serial in voided.stdout
    synced = json.loads(platform.agent("sync", "--home", str(home), "--json").stdout)["queue"]
    assert synced["refused"] == 1
    assert "voucher_key_withdrawn" in platform.admin("exceptions", "list").stdout
    reprinted = platform.admin("voucher", "reprint", serial, "--printer-at", f"file:{home.parent / 'r.bin'}")
    assert reprinted.returncode == 0, reprinted.stderr
    assert platform.api.get("/v1/ledger/verify")["ok"]


def test_an_answer_lost_on_its_way_back_is_redeemed_once(street, monkeypatch):
    """The redemption reached the server, its answer did not reach the terminal: the terminal
    queues it with the same client id, and the sync gets the first answer, not voucher_used."""
    from mkp_core.client import ApiClient, Unreachable

    platform, home, png, serial = street
    real = ApiClient.request

    def lost(self, method, path, json=None):  # type: ignore[no-untyped-def]
        real(self, method, path, json)
        raise Unreachable("the connection dropped before the answer came")

    monkeypatch.setattr(ApiClient, "request", lost)
    done, taken = _redeem(platform, home, png, "--json")
    monkeypatch.undo()
    assert done.returncode == 0 and taken["offline"] is True, done.stderr
    synced = json.loads(platform.agent("sync", "--home", str(home), "--json").stdout)["queue"]
    assert (synced["accepted"], synced["refused"]) == (1, 0), synced
    balances = platform.api.get("/v1/ledger/verify")
    assert balances["ok"]
    shown = json.loads(platform.admin("voucher", "show", serial, "--json").stdout)
    assert (shown["status"], shown["redeemed_place"]) == ("redeemed", "yokosuka-museum")
