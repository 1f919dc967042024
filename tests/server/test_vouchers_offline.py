"""Paper vouchers accepted offline, the server's side on both
databases: a voucher entry in a terminal's sync is redeemed once, as of its scan, through the
vouchers' own conditional UPDATE; what cannot be redeemed (used elsewhere first, a withdrawn key,
a forged or altered entry) is kept as an exception and answered the same way for good.

Entries are made here as the agent makes them (``mkp_core.offline.seal_voucher`` with the
terminal's key); the agent's side is in tests/vouchers/test_voucher_offline_agent.py.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from mkp_testing import invoke, served_in_process
from points_helpers import YOKOSUKA, error_of, post
from voucher_offline_helpers import Desk, balance, exceptions, ledger_ok, vouchers

from mkp_admin import cli as admin_cli
from mkp_core import signing
from server.counter import service as counter
from server.db.engine import read, write
from server.points.expiry import sweep
from server.vouchers import service

LIABILITY = f"voucher:{YOKOSUKA}"


def test_a_voucher_accepted_offline_is_redeemed_once_at_sync_as_of_its_scan(client, engine, vouchers_town):
    central = vouchers_town.central
    (voucher,) = vouchers(client, central)
    shop = Desk(client, vouchers_town, "yokosuka-shop")
    scanned = datetime.now(UTC).replace(microsecond=0) + timedelta(minutes=1)  # not the sync's time
    entry = shop.entry(voucher["text"], at=scanned)
    (answer,) = shop.sync(entry)
    assert (answer["status"], answer["amount"], answer["seq"]) == ("accepted", 500, 1), answer
    assert balance(engine, "payee:yokosuka-shop") == 500 and balance(engine, LIABILITY) == 0
    shown = client.get(f"/v1/vouchers/{voucher['serial']}", headers=central).json
    assert (shown["status"], shown["redeemed_place"]) == ("redeemed", "yokosuka-shop")
    assert datetime.fromisoformat(shown["redeemed_at"]) == scanned  # used when scanned
    transfers = ledger_ok(client, central)
    assert shop.sync(entry) == [answer]  # sent again (the answer was lost): the same answer
    assert ledger_ok(client, central) == transfers
    with read(engine) as conn:
        kept = counter.exceptions(conn)
    assert kept == []  # accepted entries are no exceptions
    online = shop.redeem_online(voucher["text"])
    assert error_of(online) == (409, "voucher_used") and "どぶ板商店" in online.json["error"]["message"]


def test_a_voucher_used_elsewhere_first_is_an_exception_never_retried(app, client, engine, vouchers_town):
    central = vouchers_town.central
    (voucher,) = vouchers(client, central, amount=800)
    museum, shop = (Desk(client, vouchers_town, p) for p in ("yokosuka-museum", "yokosuka-shop"))
    entry = shop.entry(voucher["text"])  # the shop took it offline ...
    assert museum.redeem_online(voucher["text"]).status_code == 201  # ... a copy was used online first
    (answer,) = shop.sync(entry)
    assert answer["status"] == "refused" and answer["error"]["code"] == "voucher_used"
    assert "横須賀美術館" in answer["error"]["message"] and "JST" in answer["error"]["message"]
    assert shop.sync(entry) == [answer]  # never judged again
    (kept,) = exceptions(client, central)
    assert (kept["kind"], kept["voucher"], kept["amount"], kept["code"]) == (
        "voucher",
        voucher["serial"],
        800,
        "voucher_used",
    )
    assert kept["place"] == "yokosuka-shop" and kept["taken_at"] is not None
    assert balance(engine, "payee:yokosuka-shop") == 0 and balance(engine, "payee:yokosuka-museum") == 800
    ledger_ok(client, central)
    with served_in_process(app) as url:
        listed = _admin(url, central, "exceptions", "list")
    assert listed.exit_code == 0, listed.stderr
    assert voucher["serial"] in listed.stdout and "voucher_used" in listed.stdout


def _admin(url: str, headers: dict, *args: str):
    env = {
        "MKP_SERVER": url,
        "MKP_TOKEN": headers["Authorization"].split()[1],
        "MKP_ADMIN_CONFIG": "/nonexistent/none.toml",
    }
    return invoke(admin_cli.main, *args, env=env)


def test_the_same_voucher_queued_at_two_terminals_one_wins(client, engine, vouchers_town):
    central = vouchers_town.central
    (voucher,) = vouchers(client, central)
    first, second = (Desk(client, vouchers_town, "yokosuka-shop") for _ in range(2))
    one, other = first.entry(voucher["text"]), second.entry(voucher["text"])
    assert second.sync(other)[0]["status"] == "accepted"
    (lost,) = first.sync(one)
    assert (lost["status"], lost["error"]["code"]) == ("refused", "voucher_used")
    assert balance(engine, "payee:yokosuka-shop") == 500
    assert [e["terminal_id"] for e in exceptions(client, central)] == [first.tid]
    ledger_ok(client, central)


def test_valid_when_scanned_expired_at_sync_is_paid_even_after_the_sweep(client, engine, vouchers_town):
    """The shop took it in good faith within the offline limits: the voucher's dates are judged
    at the scan. Swept back to the municipality before the sync, it is paid from there."""
    central = vouchers_town.central
    last_day = (datetime.now(UTC) + timedelta(days=1)).date().isoformat()
    kept, swept = vouchers(client, central, count=2, amount=400, last_day=last_day)
    shop = Desk(client, vouchers_town, "yokosuka-shop")
    entries = [shop.entry(v["text"]) for v in (kept, swept)]
    later = datetime.now(UTC) + timedelta(days=4)
    with write(engine) as conn:
        ring = service.keys.ring(conn)
        late = service.Redemption("yokosuka-shop", "terminal:x", text=kept["text"])
        with pytest.raises(service.codec.VoucherExpired):  # shown now, at that moment: refused
            service.redeem(conn, late, ring, "terminal:x", now=later)
    with write(engine) as conn:
        sweep(conn, "sweep-offline-1", later, "operator:central", now=later)
    assert client.get(f"/v1/vouchers/{swept['serial']}", headers=central).json["status"] == "expired"
    with write(engine) as conn:
        at = counter.CardAtCounter(None, shop.tid)  # type: ignore[arg-type]  # no card in a voucher entry
        key = signing.load_public_key(signing.public_key_pem(shop.key))
        answers = counter.sync(conn, at, key, entries, now=later)
    assert [a["status"] for a in answers] == ["accepted", "accepted"], answers
    assert balance(engine, "payee:yokosuka-shop") == 800
    assert balance(engine, LIABILITY) == 0 and balance(engine, f"muni:{YOKOSUKA}") == -800
    ledger_ok(client, central)


def test_a_voucher_scanned_after_its_date_is_refused(client, engine, vouchers_town):
    central = vouchers_town.central
    last_day = (datetime.now(UTC) + timedelta(days=1)).date().isoformat()
    (voucher,) = vouchers(client, central, last_day=last_day)
    shop = Desk(client, vouchers_town, "yokosuka-shop")
    scanned = datetime.now(UTC) + timedelta(days=3)
    with write(engine) as conn:  # in contact an hour before the scan, synced a minute after it
        counter.heartbeat(conn, shop.tid, {}, now=scanned - timedelta(hours=1))
        at = counter.CardAtCounter(None, shop.tid)  # type: ignore[arg-type]  # no card in a voucher entry
        key = signing.load_public_key(signing.public_key_pem(shop.key))
        entry = shop.entry(voucher["text"], at=scanned)
        (answer,) = counter.sync(conn, at, key, [entry], now=scanned + timedelta(minutes=1))
    assert answer["error"]["code"] == "voucher_expired"
    assert client.get(f"/v1/vouchers/{voucher['serial']}", headers=central).json["status"] == "printed"


def test_a_voucher_of_a_withdrawn_key_is_refused_at_sync(client, engine, vouchers_town):
    """A withdrawn key may have signed forgeries, and its unused vouchers are reprinted under a new
    key: paying the old paper would pay twice. The shop's claim is an exception to settle by hand."""
    central = vouchers_town.central
    (voucher,) = vouchers(client, central)
    key_id = client.get(f"/v1/vouchers/{voucher['serial']}", headers=central).json["key_id"]
    shop = Desk(client, vouchers_town, "yokosuka-shop")
    entry = shop.entry(voucher["text"])
    post(client, central, f"/v1/voucher-keys/{key_id}/withdraw", {"reason": "leaked"}, 200)
    (answer,) = shop.sync(entry)
    assert answer["error"]["code"] == "voucher_key_withdrawn"
    assert exceptions(client, central)[0]["voucher"] == voucher["serial"]
    assert balance(engine, LIABILITY) == 500


def test_an_online_redemption_that_was_queued_too_is_taken_once(client, engine, vouchers_town):
    """The terminal's request reached the server, the answer did not reach the terminal, so it
    queued the voucher with the same client id: the sync gets the first answer, not voucher_used."""
    central = vouchers_town.central
    (voucher,) = vouchers(client, central)
    shop = Desk(client, vouchers_town, "yokosuka-shop")
    client_id = f"{shop.tid}-{uuid.uuid4()}"
    online = shop.redeem_online(voucher["text"], client_id=client_id)
    assert online.status_code == 201
    (answer,) = shop.sync(shop.entry(voucher["text"], client_id=client_id))
    assert (answer["status"], answer["transfer_id"]) == ("accepted", online.json["transfer_id"])
    assert balance(engine, "payee:yokosuka-shop") == 500


def _tampered_body(entry: dict) -> dict:
    return {**entry, "body": {**entry["body"], "seq": entry["body"]["seq"] + 1}}


def _other_amount(text: str) -> str:
    """The voucher's text with one character of its payload changed (its signature no longer fits)."""
    i = len("MKP1:") + 20
    return text[:i] + ("A" if text[i] != "A" else "B") + text[i + 1 :]


@pytest.mark.parametrize(
    "make, code",
    [
        (lambda d, t: _tampered_body(d.entry(t)), "invalid_entry"),  # changed after the terminal signed
        (lambda d, t: d.entry(t, key=signing.generate_terminal_key()), "invalid_entry"),  # not its key
        (lambda d, t: {**d.entry(t), "version": 3}, "invalid_entry"),
        (lambda d, t: {**d.entry(t), "kind": "coupon"}, "invalid_entry"),
        (lambda d, t: d.entry(t, terminal="t00000000"), "entry_of_another_terminal"),
        (lambda d, t: d.entry(t, place="yokosuka-museum"), "wrong_place"),
        (lambda d, t: d.entry(_other_amount(t)), "voucher_bad_signature"),  # the terminal signed a forgery
        (lambda d, t: d.entry("MKP1:ABC"), "voucher_truncated"),
    ],
)
def test_forged_or_altered_entries_are_refused_and_change_nothing(client, engine, vouchers_town, make, code):
    central = vouchers_town.central
    (voucher,) = vouchers(client, central)
    shop = Desk(client, vouchers_town, "yokosuka-shop")
    before = ledger_ok(client, central)
    (answer,) = shop.sync(make(shop, voucher["text"]))
    assert (answer["status"], answer["error"]["code"]) == ("refused", code), answer
    assert ledger_ok(client, central) == before
    assert client.get(f"/v1/vouchers/{voucher['serial']}", headers=central).json["status"] == "printed"
    assert shop.sync(shop.entry(voucher["text"]))[0]["status"] == "accepted"  # the real one still is


def test_a_replayed_entry_is_answered_once_and_not_for_another_terminal(client, engine, vouchers_town):
    central = vouchers_town.central
    (voucher,) = vouchers(client, central)
    shop, thief = (Desk(client, vouchers_town, "yokosuka-shop") for _ in range(2))
    entry = shop.entry(voucher["text"])
    first = shop.sync(entry)
    assert shop.sync(entry, entry) == first * 2
    (stolen,) = thief.sync(entry)  # another terminal sends this one's entry
    assert stolen["error"]["code"] == "entry_of_another_terminal"
    again = shop.entry(voucher["text"])  # the same voucher under a new client id
    assert shop.sync(again)[0]["error"]["code"] == "voucher_used"
    assert balance(engine, "payee:yokosuka-shop") == 500
    ledger_ok(client, central)


def test_card_and_voucher_entries_share_a_batch(client, engine, vouchers_town):
    """A version 1 card entry (unchanged) and a version 2 voucher entry in one sync; garbage too."""
    central = vouchers_town.central
    (voucher,) = vouchers(client, central)
    shop = Desk(client, vouchers_town, "yokosuka-shop")
    card_like = {"transaction": {"client_id": "c-card-1", "seq": 9}, "proof": {}, "terminal_signature": ""}
    answers = shop.sync(shop.entry(voucher["text"]), card_like, {"version": 2})
    assert [a["status"] for a in answers] == ["accepted", "refused", "refused"]
    assert answers[1]["error"]["code"] in {"invalid_entry", "invalid_card_proof"}
    assert answers[2]["error"]["code"] == "invalid_entry" and answers[2]["client_id"] is None
