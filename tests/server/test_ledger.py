"""The ledger core, in-process: double entry, idempotency, no overdraft, reversal, verify."""

import threading
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from mkp_core.errors import Conflict, MkpError, NotFound
from server import ledger
from server.db.engine import read, write

YOKOSUKA = "142018"


def grant(client_id, holder="alice", amount=1000, code=YOKOSUKA):
    return ledger.TransferRequest(client_id, code, f"muni:{code}", f"holder:{holder}", amount, "grant")


def spend(client_id, amount, holder="alice", code=YOKOSUKA, payee="shop-1"):
    return ledger.TransferRequest(client_id, code, f"holder:{holder}", f"payee:{payee}", amount, "spend")


def post(engine, request):
    with write(engine) as conn:
        return ledger.transfer(conn, request, "test")


def balances(engine, owner):
    with read(engine) as conn:
        return ledger.balances(conn, owner)


def verified(engine):
    with read(engine) as conn:
        return ledger.verify(conn)


@pytest.fixture
def ready(engine, operators):
    return engine


def test_grant_then_spend_moves_points_and_sums_to_zero(ready):
    post(ready, grant("grant-0001", amount=1000))
    post(ready, spend("spend-0001", 250))
    assert balances(ready, "holder:alice") == {YOKOSUKA: 750}
    assert balances(ready, "payee:shop-1") == {YOKOSUKA: 250}
    assert balances(ready, f"muni:{YOKOSUKA}") == {YOKOSUKA: -1000}
    report = verified(ready)
    assert report.ok and report.transfers == 2 and report.accounts == 3


@pytest.mark.parametrize("size", [1, 70])
def test_a_department_pays_down_to_its_floor_and_no_further(ready, size):
    """A department's account may go below zero, down to its floor (its budget) and no further,
    alone or in a large batch: unlike a municipality's, its balance is checked."""
    department = f"dept:{YOKOSUKA}-kosodate"
    with write(ready) as conn:
        ledger.open_account(conn, department, YOKOSUKA, floor=-10 * size)
    requests = [
        ledger.TransferRequest(f"dept-{n:03d}", YOKOSUKA, department, f"holder:h{n}", 10, "grant")
        for n in range(size + 1)
    ]
    with write(ready) as conn:
        results = ledger.create_transfers(conn, requests, "test")
    assert [isinstance(r, ledger.Transfer) for r in results] == [True] * size + [False]
    assert getattr(results[-1], "code", None) == "over_budget"
    assert balances(ready, department) == {YOKOSUKA: -10 * size}


def test_same_id_same_body_returns_first_result(ready):
    first = post(ready, grant("grant-0001", amount=500))
    again = post(ready, grant("grant-0001", amount=500))
    assert again == first
    assert again.created_at.utcoffset() is not None  # aware UTC on SQLite too
    assert balances(ready, "holder:alice") == {YOKOSUKA: 500}


def test_same_id_other_body_is_refused_and_changes_nothing(ready):
    post(ready, grant("grant-0001", amount=500))
    with pytest.raises(ledger.IdempotencyConflict):
        post(ready, grant("grant-0001", amount=501))
    with pytest.raises(ledger.IdempotencyConflict):
        post(ready, grant("grant-0001", holder="bob", amount=500))
    assert balances(ready, "holder:alice") == {YOKOSUKA: 500}
    assert balances(ready, "holder:bob") == {}


EXPIRY = datetime(2030, 3, 31, 15, tzinfo=UTC)


def full_body(client_id, **changes):
    """A grant that sets every field a body has, but a reversed transfer (``changes``: other values)."""
    fields = {
        "point_code": YOKOSUKA,
        "debit": f"muni:{YOKOSUKA}",
        "credit": "holder:alice",
        "amount": 10,
        "kind": "grant",
        "memo": "清掃活動 4月",
        "expires_at": EXPIRY,
    }
    return ledger.TransferRequest(client_id, **(fields | changes))


@pytest.mark.parametrize(
    ("changes", "same"),
    [
        ({}, True),
        ({"expires_at": EXPIRY.astimezone(timezone(timedelta(hours=9)))}, True),  # the same instant
        ({"amount": 11}, False),
        ({"credit": "holder:bob"}, False),
        ({"kind": "reward"}, False),
        ({"memo": "清掃活動 5月"}, False),
        ({"memo": None}, False),
        ({"expires_at": EXPIRY + timedelta(microseconds=1)}, False),
        ({"expires_at": None}, False),
    ],
)
def test_a_retry_repeats_every_field_of_the_first_body(ready, changes, same):
    """Alone and in a large batch: a retry is its first transfer, one field changed a conflict."""
    first = post(ready, full_body("grant-0001"))
    if same:
        assert post(ready, full_body("grant-0001", **changes)) == first
    else:
        with pytest.raises(ledger.IdempotencyConflict):
            post(ready, full_body("grant-0001", **changes))
    batch = [grant(f"new-{n:04d}", holder=f"h{n}", amount=5) for n in range(100)]
    with write(ready) as conn:
        results = ledger.create_transfers(conn, [*batch, full_body("grant-0001", **changes)], "test")
    assert results[100] == first if same else isinstance(results[100], ledger.IdempotencyConflict)
    assert balances(ready, "holder:alice") == {YOKOSUKA: 10}
    assert verified(ready).ok and verified(ready).transfers == 101


@pytest.mark.parametrize("retried_expiry", [EXPIRY, None])
def test_an_expiry_that_makes_no_lot_still_tells_a_retry_apart(ready, retried_expiry):
    """A spend to a shop and a refund to a wallet make no lot with the expiry they were sent: a
    retry with another still conflicts, one with the same is the first transfer."""
    post(ready, grant("grant-0001", amount=100))
    sent = post(ready, full_body("spend-0001", debit="holder:alice", credit="payee:shop-1", kind="spend"))
    refund = full_body(
        "refund-0001", debit="payee:shop-1", credit="holder:alice", kind="reverse", reverses=sent.id
    )
    refunded = post(ready, refund)
    for first, request in ((sent, sent), (refunded, refund)):
        retry = full_body(
            request.client_id,
            debit=request.debit,
            credit=request.credit,
            kind=request.kind,
            reverses=request.reverses,
            expires_at=retried_expiry,
        )
        if retried_expiry == EXPIRY:
            assert post(ready, retry).id == first.id
        else:
            with pytest.raises(ledger.IdempotencyConflict):
                post(ready, retry)
    assert balances(ready, "holder:alice") == {YOKOSUKA: 100}


@pytest.mark.parametrize("batch_size", [0, 99])
@pytest.mark.parametrize("gives_back", [True, False])
def test_a_reversal_sent_with_an_expiry_answers_a_retry_as_it_answered_first(ready, gives_back, batch_size):
    """A refund to a wallet sent with an expiry gives back to the lot its spend took, which keeps
    its own expiry: no lot holds the one sent, so the answer does not claim it, the first time or
    again. A reversal that gives back no lots makes one with that expiry, and says so both times.
    Sent alone or inside a large batch; retried alone, twice in its batch, and inside a batch."""
    post(ready, grant("grant-0001", amount=100))  # a lot that never expires
    sent = post(ready, spend("spend-0001", 30))
    post(ready, spend("spend-0002", 30))  # the shop could pay the refund twice over
    reversal = full_body(
        "refund-0001",
        debit="payee:shop-1",
        credit="holder:alice",
        amount=30,
        kind="reverse",
        reverses=sent.id if gives_back else None,
    )
    others = [grant(f"new-{n:04d}", holder=f"h{n}", amount=5) for n in range(batch_size)]
    with write(ready) as conn:
        *_, first, twin = ledger.create_transfers(conn, [*others, reversal, reversal], "test")
    assert isinstance(first, ledger.Transfer)
    assert first.expires_at == (None if gives_back else EXPIRY)
    assert twin == first
    assert post(ready, reversal) == first
    again = [grant(f"again-{n:04d}", holder=f"h{n}", amount=5) for n in range(99)]
    with write(ready) as conn:
        assert ledger.create_transfers(conn, [*again, reversal], "test")[-1] == first
    assert balances(ready, "holder:alice") == {YOKOSUKA: 70}
    assert verified(ready).ok


def test_wallet_never_goes_below_zero(ready):
    post(ready, grant("grant-0001", amount=100))
    with pytest.raises(ledger.InsufficientPoints) as e:
        post(ready, spend("spend-0001", 101))
    assert e.value.code == "insufficient_points"
    post(ready, spend("spend-0002", 100))
    assert balances(ready, "holder:alice") == {YOKOSUKA: 0}


def test_spend_from_a_wallet_never_credited_leaves_no_account(ready):
    with pytest.raises(ledger.InsufficientPoints):
        post(ready, spend("spend-0001", 1, holder="nobody"))
    assert balances(ready, "holder:nobody") == {}
    assert verified(ready).accounts == 0


@pytest.mark.parametrize("amount", [0, -5, 1.5, "10", True, 10**12, None])
def test_bad_amounts_are_refused(ready, amount):
    with pytest.raises(MkpError) as e:
        post(ready, grant("grant-0001", amount=amount))
    assert e.value.code == "invalid_amount"
    assert verified(ready).transfers == 0


def test_unknown_point_code(ready):
    with pytest.raises(NotFound) as e:
        post(ready, grant("grant-0001", code="131016"))
    assert e.value.code == "unknown_point_code"


def test_batch_answers_per_transfer(ready):
    with write(ready) as conn:
        results = ledger.create_transfers(
            conn,
            [
                grant("b-000001", amount=100),
                spend("b-000002", 60),
                spend("b-000003", 60),
                spend("b-000004", 40),
                grant("b-000001", amount=100),
            ],
            "test",
        )
    assert [type(r).__name__ for r in results] == [
        "Transfer",
        "Transfer",
        "InsufficientPoints",
        "Transfer",
        "Transfer",
    ]
    assert results[4] == results[0]  # a replay inside one batch is the same transfer
    assert balances(ready, "holder:alice") == {YOKOSUKA: 0}
    assert verified(ready).ok


def test_one_client_id_twice_in_a_batch_is_decided_as_across_batches(ready):
    with write(ready) as conn:
        results = ledger.create_transfers(
            conn,
            [
                spend("b-000001", 50),  # alice holds nothing yet: refused, the id stays free
                grant("b-000002", amount=100),
                spend("b-000001", 50),  # the same id, now payable: posted
                spend("b-000001", 60),  # the same id, another body: refused
                spend("b-000001", 50),  # the same id, the same body: the posted transfer again
            ],
            "test",
        )
    assert [type(r).__name__ for r in results] == [
        "InsufficientPoints",
        "Transfer",
        "Transfer",
        "IdempotencyConflict",
        "Transfer",
    ]
    assert results[4] == results[2]
    assert balances(ready, "holder:alice") == {YOKOSUKA: 50}
    assert verified(ready).ok and verified(ready).transfers == 2


def test_a_large_batch_is_stored_as_its_requests_say(ready):
    """More rows than one multi-row INSERT takes, with and without memo, reversal and expiry:
    every transfer reads back as it was answered, and the books still balance."""
    spent = [post(ready, grant(f"pre-{n:04d}", holder=f"h{n}", amount=10)) for n in range(3)]
    expiry = datetime(2030, 3, 31, 15, tzinfo=UTC)
    requests = []
    for n in range(230):
        holder = f"h{n % 40}"
        if n % 3 == 0:
            requests.append(
                ledger.TransferRequest(
                    f"big-{n:04d}",
                    YOKOSUKA,
                    f"muni:{YOKOSUKA}",
                    f"holder:{holder}",
                    7,
                    "grant",
                    memo=f"memo {n}" if n % 2 else None,
                    expires_at=expiry if n % 5 else None,
                )
            )
        else:
            requests.append(grant(f"big-{n:04d}", holder=holder, amount=3))
    requests += [
        ledger.TransferRequest(
            f"rev-{n:04d}", YOKOSUKA, f"holder:h{n}", f"muni:{YOKOSUKA}", 10, "reverse", reverses=spent[n].id
        )
        for n in range(3)
    ]
    requests += [spend(f"spend-{n:04d}", 2, holder=f"h{n}") for n in range(3, 40)]
    with write(ready) as conn:
        results = ledger.create_transfers(conn, requests, "test")
    assert all(isinstance(r, ledger.Transfer) for r in results), results
    with read(ready) as conn:
        stored = [ledger.get_transfer(conn, r.id) for r in results]
    assert stored == results
    assert [(t.memo, t.reverses, t.expires_at) for t in stored[:6]] == [
        (None, None, None),
        (None, None, None),
        (None, None, None),
        ("memo 3", None, expiry),
        (None, None, None),
        (None, None, None),
    ]
    assert [t.reverses for t in stored[230:233]] == [t.id for t in spent]
    assert verified(ready).ok and verified(ready).transfers == 3 + 230 + 3 + 37


def test_account_ids_of_a_rolled_back_batch_are_not_reused(ready):
    """A process remembers account ids it has read (server.ledger.known_accounts): those of a
    batch rolled back, since taken by other accounts, must not be credited in their place."""

    def grants(prefix, holders):
        return [grant(f"{prefix}-{n:03d}", holder=h, amount=5) for n, h in enumerate(holders)]

    first, other = [f"a{n}" for n in range(40)], [f"b{n}" for n in range(40)]
    with pytest.raises(RuntimeError), write(ready) as conn:
        ledger.create_transfers(conn, grants("gone", first), "test")
        raise RuntimeError("rolled back")
    with write(ready) as conn:  # the next accounts made take the ids the rolled-back ones had
        ledger.create_transfers(conn, grants("other", other), "test")
    with write(ready) as conn:
        ledger.create_transfers(conn, grants("again", first), "test")
    assert all(balances(ready, f"holder:{h}") == {YOKOSUKA: 5} for h in first + other)
    assert verified(ready).ok and verified(ready).transfers == 80


@pytest.mark.parametrize("repeated", ["posted", "refused", "conflict"])
def test_a_large_batch_answers_retries_of_stored_transfers(ready, repeated):
    """A large batch looks up stored client ids only where it must (SQLite): a retry inside it
    still gets its first answer, whether it would be posted or refused now, and changes nothing."""
    first = post(ready, grant("grant-0001", amount=10))
    spent = post(ready, spend("spend-0001", 10))  # alice holds nothing now
    retry = {
        "posted": grant("grant-0001", amount=10),
        "refused": spend("spend-0001", 10),
        "conflict": grant("grant-0001", amount=11),
    }[repeated]
    batch = [grant(f"new-{n:04d}", holder=f"h{n}", amount=5) for n in range(100)]
    with write(ready) as conn:
        results = ledger.create_transfers(conn, [*batch[:50], retry, *batch[50:]], "test")
    expected = {"posted": first, "refused": spent}.get(repeated)
    if expected is None:
        assert isinstance(results[50], ledger.IdempotencyConflict)
    else:
        assert results[50] == expected
    assert all(isinstance(r, ledger.Transfer) for r in results[:50] + results[51:])
    assert balances(ready, "holder:alice") == {YOKOSUKA: 0}
    assert verified(ready).ok and verified(ready).transfers == 102


def test_accounts_and_lots_that_change_alike_are_kept_exactly(ready):
    """Many wallets granted one amount, then many lots emptied or left with one remainder, in
    batches (updated together, a statement for all of them): every total and lot still adds up."""
    holders = [f"h{n}" for n in range(12)]
    with write(ready) as conn:
        ledger.create_transfers(conn, [grant(f"g-{h}", holder=h, amount=5) for h in holders], "test")
    with write(ready) as conn:
        spends = [spend(f"s-{h}", 5 if n % 2 else 3, holder=h) for n, h in enumerate(holders)]
        assert all(isinstance(r, ledger.Transfer) for r in ledger.create_transfers(conn, spends, "test"))
    assert [balances(ready, f"holder:{h}") for h in holders[:2]] == [{YOKOSUKA: 2}, {YOKOSUKA: 0}]
    assert balances(ready, "payee:shop-1") == {YOKOSUKA: 6 * 5 + 6 * 3}
    assert verified(ready).ok


def test_reversal_is_a_new_opposite_transfer(ready):
    post(ready, grant("grant-0001", amount=100))
    s = post(ready, spend("spend-0001", 30))
    with write(ready) as conn:
        r = ledger.reverse(conn, s.id, "rev-00001", "test")
    assert (r.kind, r.debit, r.credit, r.amount, r.reverses) == (
        "reverse",
        "payee:shop-1",
        "holder:alice",
        30,
        s.id,
    )
    assert balances(ready, "holder:alice") == {YOKOSUKA: 100}
    with write(ready) as conn:  # the same reversal retried is the same result
        assert ledger.reverse(conn, s.id, "rev-00001", "test") == r
    with pytest.raises(Conflict) as e, write(ready) as conn:
        ledger.reverse(conn, s.id, "rev-00002", "test")
    assert e.value.code == "already_reversed"
    with pytest.raises(Conflict) as e, write(ready) as conn:
        ledger.reverse(conn, r.id, "rev-00003", "test")
    assert e.value.code == "cannot_reverse"
    assert verified(ready).transfers == 3


def test_a_refund_retried_inside_a_large_batch_is_its_first_answer(ready):
    """A refund the shop could still pay again, retried among many new transfers: the first
    refund once more, the new transfers posted, the points given back once."""
    post(ready, grant("grant-0001", amount=100))
    sent = post(ready, spend("spend-0001", 30))
    post(ready, spend("spend-0002", 30))
    with write(ready) as conn:
        refund = ledger.reverse(conn, sent.id, "rev-00001", "test")
    retry = ledger.TransferRequest(
        "rev-00001", YOKOSUKA, "payee:shop-1", "holder:alice", 30, "reverse", reverses=sent.id
    )
    batch = [grant(f"new-{n:04d}", holder=f"h{n}", amount=5) for n in range(99)]
    with write(ready) as conn:
        results = ledger.create_transfers(conn, [*batch, retry], "test")
    assert results[-1] == refund
    assert all(isinstance(r, ledger.Transfer) for r in results)
    assert balances(ready, "holder:alice") == {YOKOSUKA: 70}
    assert balances(ready, "payee:shop-1") == {YOKOSUKA: 30}
    assert verified(ready).ok and verified(ready).transfers == 4 + 99


def test_reversal_cannot_overdraw_the_payee(ready):
    post(ready, grant("grant-0001", amount=100))
    g = post(ready, grant("grant-0002", holder="bob", amount=10))
    post(ready, spend("spend-0001", 10, holder="bob"))
    with pytest.raises(ledger.InsufficientPoints), write(ready) as conn:
        ledger.reverse(conn, g.id, "rev-00001", "test")  # bob spent the points already


SAPPORO = "011002"


def mirror(client_id, original, **changes):
    """The reversal of ``original`` (``changes``: other values), as ``ledger.reverse`` would send it."""
    body = {
        "point_code": original.point_code,
        "debit": original.credit,
        "credit": original.debit,
        "amount": original.amount,
        "kind": "reverse",
        "reverses": original.id,
    }
    return ledger.TransferRequest(client_id, **{**body, **changes})


def others(prefix, n):
    """``n`` new grants to go around a request in one batch (64 and more: SQLite books them apart)."""
    return [grant(f"{prefix}-{k:04d}", holder=f"h{k}", amount=5) for k in range(n)]


@pytest.mark.parametrize("batch_size", [0, 99])
@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"amount": 80}, "reversal_mismatch"),
        ({"debit": f"muni:{YOKOSUKA}", "credit": "holder:alice"}, "reversal_mismatch"),  # not swapped
        ({"debit": "holder:bob"}, "reversal_mismatch"),  # another wallet's points
        ({"credit": "holder:bob"}, "reversal_mismatch"),  # given to another
        ({"point_code": SAPPORO}, "reversal_mismatch"),
        ({"reverses": 10**9}, "unknown_transfer"),
    ],
)
def test_a_reversal_that_does_not_mirror_its_original_is_refused_alone(ready, changes, code, batch_size):
    """Sent straight to create_transfers, a reversal must move its original's points back exactly:
    one that does not (or names no transfer) is refused by itself, its batch still posted, the
    original's lots untouched, the books still whole; the true reversal can still be made."""
    granted = post(ready, grant("grant-0001", amount=100))
    post(ready, grant("grant-0002", holder="bob", amount=100))
    post(ready, grant("grant-0003", amount=100, code=SAPPORO))
    with write(ready) as conn:
        *around, refused = ledger.create_transfers(
            conn, [*others("new", batch_size), mirror("rev-00001", granted, **changes)], "test"
        )
    assert isinstance(refused, MkpError) and refused.code == code, refused
    assert str(granted.id) in refused.message
    assert all(isinstance(r, ledger.Transfer) for r in around)
    assert balances(ready, "holder:alice") == {YOKOSUKA: 100, SAPPORO: 100}
    assert balances(ready, "holder:bob") == {YOKOSUKA: 100}
    report = verified(ready)
    assert report.ok, report
    with write(ready) as conn:
        assert ledger.create_transfers(conn, [mirror("rev-00002", granted)], "test")[0].amount == 100
    assert balances(ready, "holder:alice") == {YOKOSUKA: 0, SAPPORO: 100}
    assert verified(ready).ok


@pytest.mark.parametrize("batch_size", [0, 99])
def test_a_transfer_is_reversed_once_whatever_the_batch(ready, batch_size):
    """A second reversal with another client id, sent straight to create_transfers, is told
    ``already_reversed`` (not the database's unique-index error), in its own batch or the
    first's; the first reversal retried in the same batch is still its first answer."""
    granted = post(ready, grant("grant-0001", amount=100))
    spent = post(ready, spend("spend-0001", 30))
    with write(ready) as conn:
        first = ledger.reverse(conn, spent.id, "rev-00001", "test")
    with write(ready) as conn:
        *around, again, retry = ledger.create_transfers(
            conn, [*others("new", batch_size), mirror("rev-00002", spent), mirror("rev-00001", spent)], "test"
        )
    assert isinstance(again, Conflict) and again.code == "already_reversed", again
    assert retry == first
    assert all(isinstance(r, ledger.Transfer) for r in around)
    with write(ready) as conn:
        *around, once, twice = ledger.create_transfers(
            conn,
            [*others("more", batch_size), mirror("rev-00003", granted), mirror("rev-00004", granted)],
            "test",
        )
    assert isinstance(once, ledger.Transfer)
    assert isinstance(twice, Conflict) and twice.code == "already_reversed", twice
    with write(ready) as conn:
        (reversal,) = ledger.create_transfers(conn, [mirror("rev-00005", first)], "test")
    assert isinstance(reversal, Conflict) and reversal.code == "cannot_reverse", reversal
    assert balances(ready, "holder:alice") == {YOKOSUKA: 0}
    assert balances(ready, "payee:shop-1") == {YOKOSUKA: 0}
    assert verified(ready).ok


@pytest.mark.parametrize("original", ["grant", "spend"])
def test_a_reversal_that_waited_for_another_is_told_already_reversed(ready, original):
    """A second reversal sent straight to create_transfers while the first's transaction is still
    open waits for it, then is told ``already_reversed``: not ``insufficient_points`` (the first
    took the grant's points back), nor the unique index's error (a refund the shop could pay twice).
    """
    if ready.dialect.name != "postgresql":
        pytest.skip("SQLite's single writer makes the second wait before it reads anything")
    post(ready, grant("grant-0001", amount=100))
    sent = post(ready, spend("spend-0001", 30) if original == "spend" else grant("grant-0002", amount=50))
    post(ready, spend("spend-0002", 30))  # the shop could pay a refund twice over
    answers: list[object] = []
    waiter_pid: list[int] = []

    def second() -> None:
        try:
            with write(ready) as conn:
                waiter_pid.append(conn.execute(text("SELECT pg_backend_pid()")).scalar_one())
                answers.extend(ledger.create_transfers(conn, [mirror("rev-00002", sent)], "test"))
        except Exception as e:  # what the test must see, not a thread's traceback
            answers.append(e)

    with write(ready) as first:
        (made,) = ledger.create_transfers(first, [mirror("rev-00001", sent)], "test")
        waiter = threading.Thread(target=second)
        waiter.start()
        with ready.connect() as watch:  # until the second waits for a lock the first holds
            while not answers and not (
                waiter_pid
                and watch.execute(
                    text("SELECT wait_event_type = 'Lock' FROM pg_stat_activity WHERE pid = :pid"),
                    {"pid": waiter_pid[0]},
                ).scalar()
            ):
                watch.rollback()
    waiter.join()
    assert isinstance(made, ledger.Transfer)
    (answer,) = answers
    assert isinstance(answer, Conflict) and answer.code == "already_reversed", answer
    assert verified(ready).ok


def test_history_is_append_only_in_the_database(ready):
    post(ready, grant("grant-0001", amount=100))
    for statement in ("UPDATE transfers SET amount = 1", "DELETE FROM transfers"):
        with pytest.raises(DBAPIError, match="append-only"), write(ready) as conn:
            conn.execute(text(statement))
    assert balances(ready, "holder:alice") == {YOKOSUKA: 100}


def test_verify_finds_a_tampered_balance(ready):
    post(ready, grant("grant-0001", amount=100))
    with write(ready) as conn:
        conn.execute(
            text("UPDATE accounts SET credits_posted = credits_posted + 5 WHERE owner = 'holder:alice'")
        )
    report = verified(ready)
    codes = [b["code"] for b in report.breaches]
    assert not report.ok
    assert codes == ["point_code_unbalanced", "posted_mismatch", "lots_mismatch"]


def test_verify_finds_a_transfer_naming_a_missing_account(ready):
    """The transfers' account columns have no foreign keys (migration 0019): verify guards them."""
    done = post(ready, grant("grant-0001", amount=100))
    with write(ready) as conn:
        conn.execute(
            text(
                "INSERT INTO transfers (client_id, body_hash, kind, point_code, debit_account_id, "
                "credit_account_id, amount, actor, created_at) SELECT 'forged', body_hash, kind, "
                "point_code, 999999, credit_account_id, amount, actor, created_at FROM transfers "
                "WHERE id = :id"
            ),
            {"id": done.id},
        )
    report = verified(ready)
    assert "transfer_accounts_mismatch" in [b["code"] for b in report.breaches]
    assert any(
        f"of {YOKOSUKA} names accounts of none and {YOKOSUKA}" in b["message"] for b in report.breaches
    )


def test_accounts_and_point_codes_cannot_be_deleted(ready):
    post(ready, grant("grant-0001", amount=100))
    for statement in ("DELETE FROM accounts", "DELETE FROM point_codes"):
        with pytest.raises(DBAPIError, match="rows are kept"), write(ready) as conn:
            conn.execute(text(statement))
    assert verified(ready).ok


def test_verify_finds_a_negative_wallet(ready):
    post(ready, grant("grant-0001", amount=100))
    with write(ready) as conn:
        conn.execute(text("UPDATE accounts SET debits_posted = 150 WHERE owner = 'holder:alice'"))
        conn.execute(text("UPDATE accounts SET credits_posted = 50 WHERE owner = 'muni:142018'"))
    report = verified(ready)
    assert "negative_balance" in [b["code"] for b in report.breaches]
    assert any("holder:alice holds -50" in b["message"] for b in report.breaches)


@pytest.mark.parametrize(
    "body",
    [
        [
            "142018",
            "dept:142018-kosodate",
            "mykey:1",
            1000,
            "grant",
            "清掃活動 4月",
            None,
            "2027-05-01T15:00:00+00:00",
        ],
        ["142018-FEST2026", "mykey:12", "payee:shop", 7, "spend", 'a "quoted" \\ memo\n\t\x01', 42],
        ["", "", "", 0, "", "", None],
        ["x", "y", "z", -(10**20), "k", "\U0001f600 \u2028", True, False],
    ],
)
def test_the_body_hash_text_is_json_dumps_itself(body):
    """Transfers stored by earlier versions hashed json.dumps(body): retries of them must still match."""
    import json

    from server.ledger.transfers import _json_list

    assert _json_list(body) == json.dumps(body)


@pytest.mark.parametrize(
    ("memo", "reverses", "expires_at"),
    [
        (None, None, None),
        ('清掃 "活動"\n\U0001f600', 42, datetime(2027, 5, 1, 15, tzinfo=UTC)),
        ("", True, datetime(2027, 5, 2, tzinfo=timezone(timedelta(hours=9)))),
    ],
)
def test_a_requests_body_hash_is_that_of_json_dumps(memo, reverses, expires_at):
    """Retries of transfers stored by earlier versions still match: the hash is of json.dumps."""
    import hashlib
    import json

    request = ledger.TransferRequest(
        "c1", "142018", "mykey:1", "payee:shop", 10, "spend", memo, reverses, expires_at
    )
    body = ["142018", "mykey:1", "payee:shop", 10, "spend", memo, reverses]
    if expires_at is not None:
        body.append(expires_at.astimezone(UTC).isoformat())
    assert request.body_hash() == hashlib.sha256(json.dumps(body).encode()).hexdigest()


def test_a_spend_waits_for_postgresql_three_times(ready, tmp_path):
    """A single spend's ledger part waits for PostgreSQL three times (the booking hold with the point
    codes' read; the accounts' lock with the wallet's lots, the client-id probe and the new id; the
    writes), not once a statement: on a server a round trip each is most of a spend's latency."""
    if ready.dialect.name != "postgresql":
        pytest.skip("SQLite works in this process: no round trips")
    post(ready, grant("grant-trips", amount=100))
    post(ready, spend("spend-opens-the-shop", 10))  # the shop's account is there from now on
    trace = tmp_path / "protocol.txt"
    with write(ready) as conn:
        conn.exec_driver_sql("SELECT 1")  # the transaction's BEGIN, before the trace
        pgconn = conn.connection.driver_connection.pgconn
        with trace.open("w") as f:
            pgconn.trace(f.fileno())
            try:
                result = ledger.transfer(conn, spend("spend-trips", 30), "test")
            finally:
                pgconn.untrace()
    sent = [line.split("\t")[3].strip() for line in trace.read_text().splitlines() if "\tF\t" in line]
    assert result.amount == 30
    assert sent.count("Sync") + sent.count("Query") == 3
    assert balances(ready, "holder:alice") == {YOKOSUKA: 60}
