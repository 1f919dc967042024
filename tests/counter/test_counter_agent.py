"""The counter's actions as a clerk sees them: online spends, balances, refunds, the offline queue
and its sync, the offline limits, a printer that fails, a card that is wrong."""

from __future__ import annotations

import pytest
from counter_helpers import PIN, offline, online
from mkp_testing import sqlite_database

from agent.queue import REFUSED


@pytest.fixture
def database_url(tmp_path) -> str:
    """The counter as a clerk sees it, on SQLite: its server side runs on both databases in
    tests/server/test_counter_api.py, and the crash tests run the counter against both."""
    return sqlite_database(tmp_path)


def test_an_online_spend_is_taken_printed_and_shown(desk):
    done = desk.counter.spend(PIN, amount=300)
    assert done["ok"] and not done["offline"], done
    assert done["amount"] == 300 and done["receipt"]["printed"]
    assert desk.points() == 2700
    balance = desk.counter.balance(PIN)
    assert balance["ok"] and balance["total"] == 2700
    desk.verify()


def test_admission_from_the_price_list(desk):
    done = desk.counter.spend(PIN, item="ippan", quantity=2)
    assert done["ok"] and done["amount"] == 1000, done
    assert desk.points() == 2000


def test_a_refund_of_todays_spend(desk):
    spent = desk.counter.spend(PIN, amount=400)
    back = desk.counter.refund(PIN, spent["id"])
    assert back["ok"], back
    assert desk.points() == 3000
    desk.verify()


def test_a_wrong_pin_says_how_many_tries_are_left_and_takes_nothing(desk):
    done = desk.counter.spend("9999", amount=300)
    assert not done["ok"] and done["pin_tries_left"] == 2
    assert done["error"]["message"]["ja"]
    assert desk.points() == 3000


def test_offline_spends_are_queued_then_synced_once(desk):
    offline(desk)
    first = desk.counter.spend(PIN, amount=500)
    second = desk.counter.spend(PIN, amount=200)
    assert first["ok"] and first["offline"] and second["offline"], first
    assert [e.status for e in desk.counter.queue.entries()] == ["pending", "pending"]
    assert desk.points() == 3000  # nothing reached the ledger yet
    online(desk)
    sent = desk.counter.sync()
    assert (sent["accepted"], sent["refused"], sent["pending"]) == (2, 0, 0)
    assert desk.points() == 2300
    assert desk.counter.sync()["accepted"] == 0  # nothing is sent twice
    assert desk.points() == 2300
    desk.verify()


def test_past_an_offline_limit_a_clear_refusal_and_nothing_queued(desk):
    offline(desk)
    done = desk.counter.spend(PIN, amount=3001)  # the server's default: 3,000 a spend offline
    assert not done["ok"] and done["error"]["code"] == "offline_limit"
    assert "3,000" in done["error"]["message"]["en"] or "3000" in done["error"]["message"]["en"]
    assert desk.counter.queue.entries() == []


def test_an_entry_the_balance_no_longer_covers_is_refused_and_reported(desk):
    offline(desk)
    assert desk.counter.spend(PIN, amount=2500)["offline"]
    online(desk)
    desk.platform.api.post(
        "/v1/spends",
        {"mykey_id": desk.mykey_id, "place": "yokosuka-museum", "amount": 1000, "reason": "paper form"},
    )  # the points were spent elsewhere meanwhile (the central operator's correction)
    sent = desk.counter.sync()
    assert (sent["accepted"], sent["refused"]) == (0, 1)
    (entry,) = desk.counter.queue.entries()
    assert entry.status == REFUSED and entry.result["error"]["code"] == "insufficient_points"
    report = desk.platform.api.get("/v1/offline-exceptions")["exceptions"]
    assert [(e["amount"], e["code"]) for e in report] == [(2500, "insufficient_points")]
    assert desk.counter.sync()["refused"] == 0  # never retried
    assert desk.points() == 2000


def test_a_spend_whose_answer_was_lost_is_resolved_once_after_a_restart(desk):
    done = desk.counter.spend(PIN, amount=300)
    client_id = next(iter(desk.counter.queue._db.execute("SELECT client_id FROM attempts")))[0]
    desk.counter.queue._db.execute("UPDATE attempts SET status = 'sending' WHERE client_id = ?", (client_id,))
    counter = desk.reopen()  # as if the agent died before it heard the answer
    assert counter.sync()["resolved"] == 1
    assert desk.points() == 2700 and done["ok"]


def test_the_printer_offline_keeps_the_spend_and_the_receipt_can_be_printed_again(desk, tmp_path):
    desk.counter.receipts.connection = f"file:{tmp_path / 'no-such-dir' / 'printer.bin'}"
    done = desk.counter.spend(PIN, amount=100)
    assert done["ok"] and not done["receipt"]["printed"], done
    assert desk.points() == 2900  # the spend stands
    desk.counter.receipts.connection = f"file:{tmp_path / 'printer.bin'}"
    again = desk.counter.reprint(done["receipt"]["id"])
    assert again["ok"] and (tmp_path / "printer.bin").stat().st_size > 0


@pytest.mark.parametrize("state", ["removed", "blocked"])
def test_card_trouble_is_a_clear_message(desk, state):
    if state == "removed":
        desk.backend.remove()
        code = "no_card"
    else:
        for _ in range(3):
            desk.counter.spend("0000", amount=1)
        code = "pin_blocked"
    done = desk.counter.spend(PIN, amount=100)
    assert not done["ok"] and done["error"]["code"] == code, done
    assert done["error"]["message"]["ja"] and done["error"]["message"]["en"]
    assert desk.points() == 3000


def test_the_heartbeat_reaches_the_operator(desk):
    offline(desk)
    desk.counter.spend(PIN, amount=100)
    online(desk)
    desk.counter.heartbeat()
    rows = desk.platform.api.get("/v1/terminal-status")["terminals"]
    (mine,) = [t for t in rows if t["terminal_id"] == desk.counter.terminal.terminal_id]
    assert mine["queue_pending"] == 1 and mine["version"] and mine["crl_this_update"]


# --- the card and the devices -------------------------------------------------------------------


def _swap_card(desk, card) -> None:
    desk.backend.remove()
    desk.backend.insert(card)


def test_not_a_my_number_card(desk):
    from drivers.card.virtual.card import NonJpkiCard

    _swap_card(desk, NonJpkiCard())
    done = desk.counter.spend(PIN, amount=100)
    assert done["error"]["code"] == "not_my_number_card" and done["error"]["message"]["ja"]


def test_no_reader(desk):
    desk.backend.slots.clear()
    done = desk.counter.spend(PIN, amount=100)
    assert done["error"]["code"] == "no_reader" and done["error"]["message"]["ja"]


def test_two_readers_the_card_is_found_in_either(desk):
    card = desk.backend.slots["Direct 00"]
    desk.backend.remove()
    desk.backend.insert(card, reader="Direct 01")  # the first reader is empty now
    assert desk.counter.spend(PIN, amount=100)["ok"]
    assert desk.points() == 2900


def test_a_revoked_card_is_refused_at_the_counter_before_anything_is_sent(desk):
    from cryptography import x509

    certificate = x509.load_der_x509_certificate(desk.backend.slots["Direct 00"].data.auth_certificate)
    desk.platform.ca.revoke(certificate.serial_number)
    desk.platform.upload_crl()
    from agent.downloads import refresh_downloads

    refresh_downloads(desk.counter.terminal.client(), desk.counter.terminal.home)  # the terminal's CRL
    offline(desk)  # even offline, the local CRL refuses it
    done = desk.counter.spend(PIN, amount=100)
    assert done["error"]["code"] == "certificate_revoked" and desk.counter.queue.entries() == []


def test_an_expired_card_is_refused(desk):
    from drivers.card.virtual.card import VirtualMyNumberCard
    from drivers.card.virtual.cardfile import new_card

    _swap_card(desk, VirtualMyNumberCard(new_card(desk.platform.ca, expired=True)))
    done = desk.counter.spend(PIN, amount=100)
    assert done["error"]["code"] == "certificate_expired" and done["error"]["message"]["ja"]


def test_a_suspended_mykey_id_is_refused(desk):
    desk.platform.api.post(f"/v1/mykeys/{desk.mykey_id}/suspend", {"reason": "lost"})
    done = desk.counter.spend(PIN, amount=100)
    assert done["error"]["code"] == "mykey_suspended" and done["error"]["message"]["ja"]
    assert desk.points() == 3000
