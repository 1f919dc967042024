"""Property: no body of a terminal's sync, a heartbeat or a partner's batch gets a 500, ever; in a
mixed batch every good entry is answered as if it were alone, every bad one refused with its own
code; the ledger verifies after. Hypothesis with the project's ``fuzz_settings``; both databases.

The bad entries are what a caller can send, signed where a signature is needed (a terminal's key
signs whatever it is given): one field of a card spend, or of an order, replaced by a hostile
value (numbers past 2^63, zero and negatives, long and control-character text, lone surrogates,
times at the edges of year 1 and 9999, wrong types), or an entry that is no object at all. A
spend entry's card proof answers another action, so none of them can be taken; an order gets a
value its schema refuses in the field picked.
"""

from __future__ import annotations

import re
import uuid
from datetime import timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st
from mkp_testing import fuzz_settings
from partners_helpers import YOKOSUKA, add_partner, balances, link, new_holder, order_body
from points_helpers import grant
from terminal_helpers import signed
from test_counter_api import Counter, points
from test_counter_bad_entries import signed_entry

from mkp_core import ids, wire

HUGE = st.sampled_from([2**31, 2**62 + 1, 2**63 - 1, 2**63, 2**64, -(2**63) - 1, -1, 0])
NASTY_TEXT = st.sampled_from(["", "\x00", "a\x00b", "\ud800", "x" * 129, "ｱｲｳ\x7f", " ", "\n"])
OFFSETS = st.builds(timezone, st.timedeltas(min_value=-timedelta(hours=23), max_value=timedelta(hours=23)))
TIMES = st.one_of(
    st.builds(lambda d, tz: d.replace(tzinfo=tz).isoformat(), st.datetimes(), OFFSETS),
    st.sampled_from(
        [
            "0001-01-01T00:00:00+14:00",
            "0001-01-01T00:00:00+00:00",
            "9999-12-31T23:59:59-14:00",
            "9999-12-31T23:59:59+00:00",
            "1999-06-01T00:00:00+09:00",
            "2099-06-01T00:00:00+00:00",
            "yesterday",
            "2026-12-07T10:00:00",
        ]
    ),
)
HOSTILE = st.one_of(
    st.integers(),
    HUGE,
    st.text(max_size=60),
    NASTY_TEXT,
    TIMES,
    st.none(),
    st.booleans(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
)
NOT_AN_OBJECT = st.one_of(st.integers(), st.text(max_size=20), st.none(), st.lists(st.integers(), max_size=2))
SPEND_FIELDS = ["terminal", "seq", "client_id", "place", "at", "amount", "item", "quantity", "point_code"]
ENTRY_FIELDS = ["transaction", "proof", "terminal_signature", "version", "kind", "body"]

# An item of a mixed sync: ("good", amount) or ("bad", field -> hostile value), or not an object.
SYNC_ITEMS = st.one_of(
    st.tuples(st.just("good"), st.integers(min_value=1, max_value=50)),
    st.tuples(
        st.just("bad"), st.dictionaries(st.sampled_from(SPEND_FIELDS), HOSTILE, min_size=1, max_size=3)
    ),
    st.tuples(st.just("raw"), NOT_AN_OBJECT),
    st.tuples(
        st.just("entry"), st.dictionaries(st.sampled_from(ENTRY_FIELDS), HOSTILE, min_size=1, max_size=2)
    ),
)


@pytest.fixture
def desk(mykey, town) -> Counter:
    terminal = mykey.terminal(None)
    ping = signed(mykey.client, terminal.key, terminal.terminal_id, "/v1/terminal/ping")
    return Counter(mykey, terminal, ping.json["place"])


def _ledger_verifies(world) -> None:
    report = world.client.get("/v1/ledger/verify", headers=world.operators.central)
    assert report.status_code == 200 and report.json["ok"], report.json


def test_a_mixed_sync_answers_each_good_entry_as_if_alone_and_never_fails(desk, town):
    card = desk.world.card()
    grant(desk.world.client, town.central, desk.world.register(card)["mykey_id"], 50_000)

    @given(items=st.lists(SYNC_ITEMS, min_size=1, max_size=8))
    @fuzz_settings(30)
    def sync(items):
        before = points(desk, card)
        entries = []
        for i, (what, value) in enumerate(items, start=1):
            if what == "good":
                entries.append(desk.entry(card, value, i))
            elif what == "bad":
                entries.append(signed_entry(desk, card, **{"seq": i, **value}))
            elif what == "entry":
                entries.append({**signed_entry(desk, card, seq=i), **value})
            else:
                entries.append(value)
        r = desk.post("/sync", {"entries": entries})
        assert r.status_code == 200, r.json
        answers = r.json["results"]
        assert len(answers) == len(items)
        for (what, value), answer in zip(items, answers, strict=True):
            if what == "good":
                assert (answer["status"], answer["amount"]) == ("accepted", value), answer
            else:
                assert answer["status"] == "refused", answer
                assert answer["error"]["code"] and answer["error"]["code"] != "internal_error", answer
                assert answer["error"]["message"], answer
        assert points(desk, card) == before - sum(v for w, v in items if w == "good")
        report = desk.world.client.get("/v1/offline-exceptions", headers=town.central)
        assert report.status_code == 200, report.json
        _ledger_verifies(desk.world)

    sync()


HEARTBEAT_FIELDS = [*wire.Heartbeat.model_fields, "extra"]


def test_no_heartbeat_body_fails(desk, town):
    @given(
        body=st.one_of(
            st.dictionaries(st.sampled_from(HEARTBEAT_FIELDS), HOSTILE, max_size=4),
            NOT_AN_OBJECT,
        )
    )
    @fuzz_settings(60)
    def heartbeat(body):
        r = desk.post("/heartbeat", body)
        assert r.status_code in (200, 422), (r.status_code, r.json)
        if r.status_code == 422:
            assert r.json["error"]["code"] and r.json["error"]["message"]
        listed = desk.world.client.get("/v1/terminal-status", headers=town.central)
        assert listed.status_code == 200, listed.json

    heartbeat()


ORDER_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,39}$")
MEMBER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{0,63}$")
BAD_BY_FIELD = {
    "order_id": st.one_of(
        NASTY_TEXT, st.text(max_size=60).filter(lambda s: not ORDER_ID.fullmatch(s)), HUGE, st.none()
    ),
    "member": st.one_of(NASTY_TEXT, st.text(max_size=80).filter(lambda s: not MEMBER.fullmatch(s)), HUGE),
    "amount": st.one_of(
        HUGE.filter(lambda n: not 0 < n <= ids.MAX_AMOUNT),
        st.integers(max_value=0),
        st.integers(min_value=ids.MAX_AMOUNT + 1),
        st.text(max_size=5),
        st.floats(allow_nan=False, allow_infinity=False),
        st.none(),
    ),
    "destination": st.one_of(NASTY_TEXT, HUGE, st.just("14201")),
    "extra": HOSTILE,
}
BAD_ORDER = st.one_of(
    st.sampled_from(list(BAD_BY_FIELD)).flatmap(lambda f: st.tuples(st.just(f), BAD_BY_FIELD[f])),
    st.tuples(st.just(None), NOT_AN_OBJECT),
)
# An order of a mixed batch: ("good", amount) or ("bad", (field, value)).
ORDER_ITEMS = st.one_of(
    st.tuples(st.just("good"), st.integers(min_value=1, max_value=1000)),
    st.tuples(st.just("bad"), BAD_ORDER),
)


def test_a_mixed_partner_batch_answers_each_good_order_as_if_alone_and_never_fails(mykey):
    partner = add_partner(mykey, "ANA")
    link(mykey, new_holder(mykey), partner, "A-1")

    @given(items=st.lists(ORDER_ITEMS, min_size=1, max_size=8))
    @fuzz_settings(30)
    def batch(items):
        before = balances(mykey, "partner:ANA").get(YOKOSUKA, 0)
        orders = []
        for what, value in items:
            good = order_body(f"o-{uuid.uuid4().hex[:16]}", "A-1", value if what == "good" else 10)
            if what == "good":
                orders.append(good)
            elif value[0] is None:
                orders.append(value[1])
            else:
                orders.append({**good, value[0]: value[1]})
        r = partner.post("/partner/v1/conversions/batch", {"orders": orders})
        assert r.status_code == 200, r.json
        for (what, value), order, answer in zip(items, orders, r.json["results"], strict=True):
            if what == "good":
                assert (answer["order_id"], answer["status"]) == (order["order_id"], "accepted"), answer
                assert answer["conversion"]["points"] == value
            else:
                assert answer["status"] == "refused" and answer["conversion"] is None, answer
                assert answer["error"]["code"] and answer["error"]["code"] != "internal_error", answer
        spent = sum(v for w, v in items if w == "good")
        assert balances(mykey, "partner:ANA").get(YOKOSUKA, 0) == before - spent
        again = partner.post("/partner/v1/conversions/batch", {"orders": orders})
        assert again.json["results"] == r.json["results"]  # each good order once, by its order id
        assert balances(mykey, "partner:ANA").get(YOKOSUKA, 0) == before - spent
        _ledger_verifies(mykey)

    batch()
