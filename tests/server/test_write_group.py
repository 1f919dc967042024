"""Group commit (``server.db.engine.WriteGroup``): write transactions that several threads ask for
at once run as one; a share the work refuses leaves nothing in it and runs alone; a pass that
fails sends every share of it to run alone; each share's hooks before commit run once, in its own
thread's context, seeing whether it wrote. Both databases.

The first pass is held until every other thread waits for the next one, so those really are one
group, whatever the machine's pace. The rows are nonces (a plain table with a unique key)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Collection, Sequence
from contextvars import ContextVar

import pytest
from sqlalchemy import Connection, event, insert, select

from mkp_core.errors import MkpError
from server.db.engine import Share, WriteGroup, insert_last, read, set_before_commit, write, wrote
from server.platform.tables import terminal_nonces

THREADS = 6
KEY = "group-test"
WHO: ContextVar[int] = ContextVar("who")


def _book(
    refuse: Collection[int] = (), fail: bool = False, error: Collection[int] = ()
) -> Callable[[Connection, Sequence[Share[int]]], None]:
    """Work that keeps a row for each share (its answer: ten times what it asked), leaves those in
    ``refuse`` to run alone, refuses those in ``error`` with an error (after writing their row)
    and, with ``fail``, fails any pass of more than one share."""

    def book(conn: Connection, shares: Sequence[Share[int]]) -> None:
        if fail and len(shares) > 1:
            raise RuntimeError("a pass that fails")
        for share in shares:
            if share.asked in refuse:
                share.alone = True
                continue
            conn.execute(insert(terminal_nonces).values(key_id=KEY, nonce=f"n{share.asked}", created=0))
            if share.asked in error:
                share.refuse(MkpError("refused_here", f"share {share.asked} refused"))
                continue
            share.give(share.asked * 10, wrote=True)

    return book


def _at_once(engine, work) -> tuple[list[Share[int]], list[int]]:
    """``THREADS`` threads each asking ``group.run(engine, i)``: their shares, and the passes'
    sizes (thread 0's pass first, held until the other threads wait)."""
    sizes: list[int] = []
    first = threading.Lock()
    first_in = threading.Event()
    group: WriteGroup[int]

    def held(conn: Connection, shares: Sequence[Share[int]]) -> None:
        if first.acquire(blocking=False):
            first_in.set()
            deadline = time.monotonic() + 30
            while group.waiting(engine) < THREADS - 1 and time.monotonic() < deadline:
                time.sleep(0.002)
        sizes.append(len(shares))
        work(conn, shares)

    group = WriteGroup(held)
    shares: list[Share[int] | None] = [None] * THREADS

    def ask(i: int) -> None:
        if i:  # thread 0's pass is the first, held: the others then queue for the next
            first_in.wait(30)
        try:
            shares[i] = group.run(engine, i)
        except MkpError as e:
            shares[i] = Share(i, alone=True, answer=e.code)

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(s is not None for s in shares)
    return [s for s in shares if s is not None], sizes


def _rows(engine) -> set[str]:
    with read(engine) as conn:
        found = conn.execute(select(terminal_nonces.c.nonce).where(terminal_nonces.c.key_id == KEY))
        return set(found.scalars())


def test_threads_asking_at_once_share_one_pass(engine):
    shares, sizes = _at_once(engine, _book())
    assert sorted(sizes) == [1, THREADS - 1]  # the first, then all the others together
    assert [(s.alone, s.answer) for s in shares] == [(False, i * 10) for i in range(THREADS)]
    assert _rows(engine) == {f"n{i}" for i in range(THREADS)}


def test_a_refused_share_leaves_nothing_and_runs_alone(engine):
    shares, sizes = _at_once(engine, _book(refuse={2, 4}))
    assert [s.alone for s in shares] == [i in (2, 4) for i in range(THREADS)]
    assert [s.answer for s in shares if not s.alone] == [i * 10 for i in range(THREADS) if i not in (2, 4)]
    assert _rows(engine) == {f"n{i}" for i in range(THREADS) if i not in (2, 4)}  # theirs rolled back
    # The others' pass is made again without the refused ones (one of them may have led the first).
    assert sizes in ([1, THREADS - 1, THREADS - 3], [1, THREADS - 1, THREADS - 2])


def test_a_share_refused_with_its_error_raises_it_and_leaves_nothing(engine):
    shares, sizes = _at_once(engine, _book(error={1}))
    assert [s.answer for s in shares] == [("refused_here" if i == 1 else i * 10) for i in range(THREADS)]
    assert _rows(engine) == {f"n{i}" for i in range(THREADS) if i != 1}  # its row rolled back


def test_a_failed_pass_sends_every_share_of_it_alone(engine):
    shares, sizes = _at_once(engine, _book(fail=True))
    assert sizes == [1, THREADS - 1]  # the first answered; the others' pass failed, not made again
    assert sorted(s.alone for s in shares) == [False] + [True] * (THREADS - 1)
    assert all(s.answer is None for s in shares if s.alone)
    assert _rows(engine) == {f"n{s.asked}" for s in shares if not s.alone}


def test_each_share_runs_its_own_hooks_once_in_its_own_context(engine):
    seen: list[tuple[int, bool]] = []
    lock = threading.Lock()

    def hook(conn: Connection) -> None:
        with lock:
            seen.append((WHO.get(), wrote(conn)))

    refuse = {3}
    book = _book(refuse=refuse)
    group: WriteGroup[int] = WriteGroup(book)
    start = threading.Barrier(THREADS)
    alone: list[int] = []

    def ask(i: int) -> None:
        WHO.set(i)
        set_before_commit((hook,))
        start.wait()
        if group.run(engine, i).alone:
            alone.append(i)

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert alone == [3]
    assert sorted(seen) == [(i, True) for i in range(THREADS) if i not in refuse]


def test_the_shares_rows_kept_for_the_end_go_in_one_statement_a_pass(engine):
    """Each share's hook asks for a row (an audit entry, in the app) to be inserted last: a pass
    of several shares writes all of theirs with one INSERT, and every row is there."""
    inserts: list[int] = []

    def count(_conn, _cursor, statement, parameters, _context, executemany) -> None:
        if statement.startswith("INSERT INTO terminal_nonces"):
            inserts.append(len(parameters) if executemany else 1)

    def hook(conn: Connection) -> None:
        insert_last(conn, terminal_nonces, {"key_id": "last-rows", "nonce": f"e{WHO.get()}", "created": 0})

    def book_with_hook(conn: Connection, shares: Sequence[Share[int]]) -> None:
        for share in shares:
            share.context.run(WHO.set, share.asked)
            share.context.run(set_before_commit, (hook,))
        _book()(conn, shares)

    event.listen(engine, "before_cursor_execute", count)
    try:
        shares, sizes = _at_once(engine, book_with_hook)
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert sizes == [1, THREADS - 1]
    # Each pass: its shares' own rows (one statement each, as _book writes them), then the rows
    # kept for the end, one statement for the whole pass (on PostgreSQL sent through the driver
    # with the COMMIT, where SQLAlchemy does not see it: test_engine_at_commit counts its trip).
    last = [[1], [THREADS - 1]] if engine.dialect.name == "sqlite" else [[], []]
    assert inserts == [1, *last[0]] + [1] * (THREADS - 1) + last[1]
    with read(engine) as conn:
        kept = conn.execute(select(terminal_nonces.c.nonce).where(terminal_nonces.c.key_id == "last-rows"))
        assert set(kept.scalars()) == {f"e{i}" for i in range(THREADS)}


def test_a_row_kept_for_the_end_is_not_written_if_the_transaction_fails(engine):
    with pytest.raises(RuntimeError, match="after the row"):
        with write(engine) as conn:
            insert_last(conn, terminal_nonces, {"key_id": "last-rows", "nonce": "never", "created": 0})
            raise RuntimeError("after the row")
    with write(engine) as conn:  # the same pooled connection: nothing of the failed one left
        insert_last(conn, terminal_nonces, {"key_id": "last-rows", "nonce": "kept", "created": 0})
    with read(engine) as conn:
        kept = conn.execute(select(terminal_nonces.c.nonce).where(terminal_nonces.c.key_id == "last-rows"))
        assert list(kept.scalars()) == ["kept"]
    with read(engine) as conn, pytest.raises(RuntimeError, match="outside a write transaction"):
        insert_last(conn, terminal_nonces, {"key_id": "last-rows", "nonce": "read", "created": 0})
