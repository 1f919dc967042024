"""Single conversions sent at the same time are booked together, in one write transaction
(``server.db.engine.WriteGroup``), and each is still answered exactly as alone: its own
conversion, its first answer to a retry, its own refusal (which refuses nothing else), a revoked
key refused at once. Both databases.

Each test holds the first group's pass until every other request waits for the next one, so the
others really are one group, whatever the machine's pace."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import requests
from partners_helpers import (
    AT_ONCE,
    YOKOSUKA,
    add_partner,
    balances,
    link,
    new_holder,
    new_id,
    race,
    verified,
)
from sqlalchemy import event, func, select

from server.db.engine import read, write
from server.partners import api, batch
from server.platform.tables import audit_log, terminal_nonces
from server.platform.terminal_auth import NoncesOfAPass


@pytest.fixture
def ana(mykey):
    return add_partner(mykey, "ANA")


class Groups:
    """The sizes of the passes of several orders; in :meth:`holding`, the first pass waits until
    the other requests wait for the next pass (then they are one group)."""

    def __init__(self, engine) -> None:
        self.engine = engine
        self.sizes: list[int] = []
        self.lock = threading.Lock()
        self.hold = False  # True: the next pass is held (once), until ``others`` wait
        self.first_in = threading.Event()  # the held pass has begun
        self.others = AT_ONCE - 1
        self.book = batch.judge_and_book
        self.alone = api._convert_alone

    @contextmanager
    def holding(self, others: int = AT_ONCE - 1) -> Iterator[None]:
        """The first pass while in the block is held until ``others`` requests wait for the next."""
        self.sizes.clear()
        self.first_in.clear()
        self.others, self.hold = others, True
        try:
            yield
        finally:
            self.hold = False

    def _held(self) -> None:
        """The first pass since :meth:`holding` began waits here for the others."""
        with self.lock:
            hold, self.hold = self.hold, False
        if hold:
            self.first_in.set()
            deadline = time.monotonic() + 30
            while api._CONVERSIONS.waiting(self.engine) < self.others and time.monotonic() < deadline:
                time.sleep(0.002)

    def race(self, work) -> list[object]:
        """``race(work)``, but thread 0 first and the others once its pass is held: that pass is
        thread 0's alone, whatever the machine's pace (a leader lets threads a step from the
        queue join its pass, so threads let go at once may share the first one)."""

        def first_alone(i: int) -> object:
            if i:
                self.first_in.wait(30)
            return work(i)

        return race(first_alone)

    def judge_and_book(self, conn, partner, sent, now=None):
        """A pass of several orders."""
        self._held()
        self.sizes.append(len(sent))
        return self.book(conn, partner, sent, now)

    def convert_alone(self, conn, order):
        """A pass of one order (or an order run alone, after the hold)."""
        self._held()
        return self.alone(conn, order)


@pytest.fixture
def groups(mykey, monkeypatch) -> Groups:
    found = Groups(mykey.app.extensions["mkp.engine"])
    monkeypatch.setattr(batch, "judge_and_book", found.judge_and_book)
    monkeypatch.setattr(api, "_convert_alone", found.convert_alone)
    return found


def _send(mykey, ana, groups: Groups, orders, refused_first: int = 0):
    """``orders[i]`` (order id, member, amount) sent by thread ``i``, all at once: (status, body).
    ``refused_first``: how many are refused before they reach a group (their body)."""

    def send(i: int) -> object:
        order_id, member, amount = orders[i]
        r = ana.post_with(
            mykey.app.test_client(),
            "/partner/v1/conversions",
            {"order_id": order_id, "member": member, "amount": amount},
        )
        return r.status_code, r.json

    with groups.holding(AT_ONCE - 1 - refused_first):
        return groups.race(send)


def _convert_entries(mykey) -> int:
    with read(mykey.app.extensions["mkp.engine"]) as conn:
        return conn.execute(
            select(func.count()).where(audit_log.c.action == "partner_api.convert")
        ).scalar_one()


def test_orders_sent_at_once_are_booked_together_each_with_its_own_answer(mykey, ana, groups):
    holder = new_holder(mykey)
    link(mykey, holder, ana, "A-1")
    orders = [(f"o-{i}", "A-1", 100 * (i + 1)) for i in range(AT_ONCE)]
    answers = _send(mykey, ana, groups, orders)

    assert max(groups.sizes) == AT_ONCE - 1  # the others, together
    assert [status for status, _ in answers] == [201] * AT_ONCE
    assert [(a["order_id"], a["points"], a["partner_amount"], a["point_code"]) for _, a in answers] == [
        (order_id, amount, amount, YOKOSUKA) for order_id, _, amount in orders
    ]
    assert len({a["conversion_id"] for _, a in answers}) == AT_ONCE
    assert _convert_entries(mykey) == AT_ONCE  # one audit entry a conversion
    for (order_id, member, amount), (_, first) in zip(orders, answers, strict=True):
        again = ana.convert(order_id, member, amount)  # a retry, alone: the same answer
        assert again.status_code == 201 and again.json == first
    total = sum(amount for _, _, amount in orders)
    assert balances(mykey, "partner:ANA") == {YOKOSUKA: -total}
    verified(mykey)


def test_a_bad_order_among_them_refuses_only_itself(mykey, ana, groups):
    holder = new_holder(mykey)
    link(mykey, holder, ana, "A-1")
    earlier = ana.convert("o-earlier", "A-1", 500)
    assert earlier.status_code == 201
    orders = [(f"o-{i}", "A-1", 100) for i in range(AT_ONCE)]
    orders[1] = ("o-unlinked", "A-404", 100)  # no such member
    orders[3] = ("o-earlier", "A-1", 700)  # an order id used for another order
    orders[5] = ("o-earlier", "A-1", 500)  # the same order again: its first answer
    orders[6] = ("o-big", "A-1", 10**15)  # more than a transfer can carry
    answers = _send(mykey, ana, groups, orders, refused_first=1)

    assert max(groups.sizes) == AT_ONCE - 2  # judged together, the refused ones then alone
    assert error_code_of(answers[1]) == (404, "member_not_linked")
    assert error_code_of(answers[3]) == (409, "idempotency_conflict")
    assert answers[5] == (201, earlier.json)
    assert error_code_of(answers[6]) == (422, "invalid_amount")
    good = [i for i in range(AT_ONCE) if i not in (1, 3, 5, 6)]
    assert [answers[i][0] for i in good] == [201] * len(good)
    assert [answers[i][1]["order_id"] for i in good] == [orders[i][0] for i in good]
    assert balances(mykey, "partner:ANA") == {YOKOSUKA: -(500 + 100 * len(good))}
    verified(mykey)


def error_code_of(answer: tuple[int, dict]) -> tuple[int, str]:
    status, body = answer
    return status, body["error"]["code"]


def test_one_order_sent_at_once_by_every_thread_converts_once(mykey, ana, groups):
    holder = new_holder(mykey)
    link(mykey, holder, ana, "A-1")
    answers = _send(mykey, ana, groups, [("o-twin", "A-1", 300)] * AT_ONCE)

    assert [status for status, _ in answers] == [201] * AT_ONCE
    assert len({str(body) for _, body in answers}) == 1  # one conversion, the same answer to all
    assert balances(mykey, "partner:ANA") == {YOKOSUKA: -300}
    verified(mykey)


def test_a_revoked_key_is_refused_at_once_to_every_request_of_a_group(mykey, ana, groups):
    holder = new_holder(mykey)
    link(mykey, holder, ana, "A-1")
    assert ana.convert("o-before", "A-1", 100).status_code == 201  # the key is known to the server
    r = mykey.client.post(
        "/v1/partners/ANA/revoke", json={"client_id": new_id("revoke")}, headers=mykey.operators.central
    )
    assert r.status_code == 200
    answers = _send(mykey, ana, groups, [(f"o-{i}", "A-1", 100) for i in range(AT_ONCE)])

    assert [error_code_of(a) for a in answers] == [(401, "revoked_key")] * AT_ONCE
    assert balances(mykey, "partner:ANA") == {YOKOSUKA: -100}


def test_two_partners_orders_at_once_each_booked_for_its_own_partner(mykey, ana, groups):
    jal = add_partner(mykey, "JAL")
    holder = new_holder(mykey)
    link(mykey, holder, ana, "A-1")
    link(mykey, holder, jal, "J-1")
    half = AT_ONCE // 2

    def send(i: int) -> object:
        partner, member = (ana, "A-1") if i < half else (jal, "J-1")
        r = partner.post_with(
            mykey.app.test_client(),
            "/partner/v1/conversions",
            {"order_id": "o-same", "member": member, "amount": 100 * (i + 1)}
            if i in (0, half)
            else {"order_id": f"o-{i}", "member": member, "amount": 100 * (i + 1)},
        )
        return r.status_code, r.json

    with groups.holding():
        answers = groups.race(send)

    assert [status for status, _ in answers] == [201] * AT_ONCE
    assert [a["partner"] for _, a in answers] == ["ANA"] * half + ["JAL"] * (AT_ONCE - half)
    assert [a["points"] for _, a in answers] == [100 * (i + 1) for i in range(AT_ONCE)]
    ana_total = sum(100 * (i + 1) for i in range(half))
    assert balances(mykey, "partner:ANA") == {YOKOSUKA: -ana_total}  # one order id, two partners'
    assert balances(mykey, "partner:JAL") == {
        YOKOSUKA: -(sum(100 * (i + 1) for i in range(AT_ONCE)) - ana_total)
    }
    verified(mykey)


def test_one_signed_request_sent_by_every_thread_is_accepted_once(mykey, ana, groups):
    """The same signed request (one nonce) several times at once: one conversion, every other
    copy refused as a replay, as each would be after the first."""
    holder = new_holder(mykey)
    link(mykey, holder, ana, "A-1")
    body = {"order_id": "o-1", "member": "A-1", "amount": 100}
    sent = requests.Request(
        "POST", "http://localhost/partner/v1/conversions", json=body, auth=ana.auth
    ).prepare()

    def send(i: int) -> object:
        r = mykey.app.test_client().open(
            "/partner/v1/conversions", method="POST", headers=dict(sent.headers), data=sent.body
        )
        return (r.status_code, r.json["error"]["code"]) if r.status_code >= 400 else (r.status_code, r.json)

    with groups.holding():
        answers = groups.race(send)
    assert sorted(str(status) for status, _ in answers) == ["201"] + ["401"] * (AT_ONCE - 1)
    assert [code for status, code in answers if status == 401] == ["replayed_nonce"] * (AT_ONCE - 1)
    assert balances(mykey, "partner:ANA") == {YOKOSUKA: -100}


def test_the_nonces_of_orders_sent_at_once_are_kept_with_one_statement(mykey, ana, groups):
    holder = new_holder(mykey)
    link(mykey, holder, ana, "A-1")
    engine = mykey.app.extensions["mkp.engine"]
    nonce_inserts: list[str] = []

    def count(_conn, _cursor, statement, *_args) -> None:
        if statement.startswith("INSERT INTO terminal_nonces"):
            nonce_inserts.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        answers = _send(mykey, ana, groups, [(f"o-{i}", "A-1", 100) for i in range(AT_ONCE)])
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert [status for status, _ in answers] == [201] * AT_ONCE
    assert groups.sizes == [AT_ONCE - 1]  # the first alone (as _convert_alone), then the others
    assert len(nonce_inserts) == 2  # the first's, then the group's: one statement for all of theirs
    with read(engine) as conn:
        kept = conn.execute(select(func.count()).where(terminal_nonces.c.key_id == "partner:ANA"))
        assert kept.scalar_one() == AT_ONCE + 1  # and the link's confirmation


def test_a_nonce_noted_twice_in_a_pass_or_kept_before_is_no_new_one(mykey):
    engine = mykey.app.extensions["mkp.engine"]
    with write(engine) as conn:
        NoncesOfAPass(conn).seen("partner:X", "kept-before", 1)  # noted, never kept: nothing
        before = NoncesOfAPass(conn)
        before.seen("partner:X", "kept-before", 1)
        assert before.keep() == [True]
    with write(engine) as conn:
        nonces = NoncesOfAPass(conn)
        for nonce in ("a", "kept-before", "b", "a", "c"):
            assert nonces.seen("partner:X", nonce, 2) is False  # nothing known until kept
        assert nonces.keep() == [True, False, True, False, True]
    with read(engine) as conn:
        found = conn.execute(select(terminal_nonces.c.nonce).where(terminal_nonces.c.key_id == "partner:X"))
        assert sorted(found.scalars()) == ["a", "b", "c", "kept-before"]
