"""One bad entry of a terminal's sync refuses only itself; a bad heartbeat is a 422, never a 500.

Every entry here is signed by the terminal itself (a terminal's key can sign anything): a
sequence number past 2^63, amounts and quantities out of range, an item or place longer than its
column, a NUL, times at the edges of year 1 and year 9999 (PostgreSQL kept year 1 shifted to UTC
as 1 BC, and every operator's exceptions list then failed), an unreadable time, an entry that is
not an object. Each is refused with its own code beside a good entry that is taken; the
exceptions list and the terminal status list still answer; the ledger verifies. Both databases.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from points_helpers import grant
from terminal_helpers import error_code, signed
from test_counter_api import Counter, new_client_id, points, verified

from mkp_core import cardproof, offline

JST, ALASKA = timezone(timedelta(hours=9)), timezone(timedelta(hours=-9))


@pytest.fixture
def desk(mykey, town) -> Counter:
    terminal = mykey.terminal(None)
    ping = signed(mykey.client, terminal.key, terminal.terminal_id, "/v1/terminal/ping")
    return Counter(mykey, terminal, ping.json["place"])


@pytest.fixture
def card(desk: Counter, town):
    card = desk.world.card()
    grant(desk.world.client, town.central, desk.world.register(card)["mykey_id"], 1000)
    return card


@dataclass
class Written:
    """A transaction exactly as written, whatever it holds: what a terminal's key can sign."""

    fields: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return self.fields


def signed_entry(desk: Counter, card, **changes: Any) -> dict:
    """A card spend of 100 points now, signed by the card and the terminal, with ``changes`` to
    its transaction's fields as the terminal signed them."""
    client_id = new_client_id()
    fields = {
        "terminal": desk.terminal.terminal_id,
        "seq": 1,
        "client_id": client_id,
        "place": desk.place,
        "at": datetime.now(UTC).isoformat(),
        "amount": 100,
        "item": None,
        "quantity": 1,
        "point_code": None,
        **changes,
    }
    proof = card.open.prove(cardproof.OFFLINE_SPEND, client_id, {"signed": "whatever"})
    try:
        return offline.seal(desk.terminal.key, Written(fields), proof)  # type: ignore[arg-type]
    except UnicodeEncodeError:  # a lone surrogate cannot be signed: sent as it is, unsigned
        return {"transaction": fields, "proof": proof.to_wire(), "terminal_signature": "AAAA"}


BAD_FIELDS = {
    "seq past 2^63": {"seq": 2**64},
    "amount past 2^63": {"amount": 2**63},
    "amount zero": {"amount": 0},
    "amount negative": {"amount": -100},
    "quantity zero": {"quantity": 0},
    "item longer than its column": {"item": "i" * 100},
    "place longer than its column": {"place": "p" * 41},
    "NUL in the item": {"item": "coffee\x00"},
    "year 1 east of UTC": {"at": datetime(1, 1, 1, 5, tzinfo=JST).isoformat()},
    "year 9999 west of UTC": {"at": datetime(9999, 12, 31, 23, 59, tzinfo=ALASKA).isoformat()},
    "an unreadable time": {"at": "yesterday"},
    "a time without its offset": {"at": "2026-12-01T10:00:00"},
}


@pytest.mark.parametrize("case", list(BAD_FIELDS))
def test_an_entry_with_a_field_the_database_cannot_keep_is_refused_alone(desk, card, town, case):
    good = desk.entry(card, 200, 2)
    bad = signed_entry(desk, card, **BAD_FIELDS[case])
    r = desk.post("/sync", {"entries": [bad, good]})
    assert r.status_code == 200, r.json
    refused, taken = r.json["results"]
    assert refused["status"] == "refused" and refused["error"]["code"] == "invalid_entry", refused
    field = next(iter(BAD_FIELDS[case]))
    assert field in refused["error"]["message"], refused
    assert taken["status"] == "accepted" and taken["amount"] == 200, taken
    assert points(desk, card) == 800
    report = desk.world.client.get("/v1/offline-exceptions", headers=town.central)
    assert report.status_code == 200, report.json
    (kept,) = report.json["exceptions"]
    assert (kept["code"], kept["taken_at"], kept["amount"]) == ("invalid_entry", None, None)
    assert desk.post("/sync", {"entries": [bad, good]}).json["results"] == r.json["results"]  # once
    verified(desk.world)


def test_entries_that_are_not_objects_are_refused_alone(desk, card):
    good = desk.entry(card, 200, 1)
    r = desk.post("/sync", {"entries": [42, "entry", None, [], good]})
    assert r.status_code == 200, r.json
    answers = r.json["results"]
    assert [(a["status"], a.get("error", {}).get("code")) for a in answers[:4]] == [
        ("refused", "invalid_entry")
    ] * 4
    assert answers[4]["status"] == "accepted"
    assert points(desk, card) == 800
    verified(desk.world)


def test_a_sync_that_is_no_list_of_entries_is_refused_whole(desk, card):
    assert error_code(desk.post("/sync", {"entries": []}))[0] == 422
    assert error_code(desk.post("/sync", {"entries": [desk.entry(card, 1, 1)] * 501}))[0] == 422
    assert error_code(desk.post("/sync", {"entry": []})) == (422, "missing_field")
    assert points(desk, card) == 1000


BAD_HEARTBEATS = {
    "queue_pending past its column": ({"queue_pending": 2**40}, "invalid_count"),
    "queue_pending past 2^63": ({"queue_pending": 2**64}, "invalid_count"),
    "NUL in the version": ({"version": "1.0\x00"}, "invalid_text"),
    "queue_oldest in year 1 east of UTC": (
        {"queue_oldest": datetime(1, 1, 1, 5, tzinfo=JST).isoformat()},
        "invalid_time",
    ),
    "crl_this_update at the end of 9999 west of UTC": (
        {"crl_this_update": datetime(9999, 12, 31, 23, 59, tzinfo=ALASKA).isoformat()},
        "invalid_time",
    ),
}


@pytest.mark.parametrize("case", list(BAD_HEARTBEATS))
def test_a_heartbeat_with_a_field_the_database_cannot_keep_is_refused(desk, town, case):
    body, code = BAD_HEARTBEATS[case]
    assert error_code(desk.post("/heartbeat", body)) == (422, code)
    listed = desk.world.client.get("/v1/terminal-status", headers=town.central)
    assert listed.status_code == 200, listed.json
    (mine,) = [t for t in listed.json["terminals"] if t["terminal_id"] == desk.terminal.terminal_id]
    assert mine["seen_at"] is None  # nothing kept
    assert desk.post("/heartbeat", {"queue_pending": 0}).status_code == 200


def test_an_entry_whose_parts_are_not_objects_is_refused_alone(desk, card):
    """An entry whose card proof or transaction is a number or a list (found by the property test
    in tests/server/test_entries_fuzz.py: a 500)."""
    good = desk.entry(card, 200, 9)
    broken = [{**desk.entry(card, 100, i), part: value} for i, (part, value) in enumerate(
        [("proof", 1), ("proof", ["x"]), ("transaction", [1]), ("transaction", "t")], start=1
    )]  # fmt: skip
    r = desk.post("/sync", {"entries": [*broken, good]})
    assert r.status_code == 200, r.json
    answers = r.json["results"]
    assert [a["error"]["code"] for a in answers[:4]] == ["invalid_entry"] * 4
    assert answers[4]["status"] == "accepted"
    assert points(desk, card) == 800
    verified(desk.world)
