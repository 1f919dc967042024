"""Eight processes race to spend from one wallet: it is never overdrawn, nothing is lost."""

import multiprocessing as mp

import pytest

from server import ledger
from server.db.engine import make_engine, read, run_write, write

pytestmark = pytest.mark.slow  # real processes race on one database

YOKOSUKA = "142018"
PROCESSES, SPENDS_EACH, AMOUNT, FUNDED = 8, 15, 7, 500  # 120 spends of 7 = 840 asked, 500 there


def _spender(url: str, worker: int, start: mp.Event, out: mp.Queue) -> None:
    engine = make_engine(url)
    start.wait()
    ok = refused = 0
    for n in range(SPENDS_EACH):
        request = ledger.TransferRequest(
            f"race-{worker}-{n:04d}", YOKOSUKA, "holder:alice", f"payee:shop-{worker}", AMOUNT, "spend"
        )
        try:
            run_write(engine, lambda conn, r=request: ledger.transfer(conn, r, f"worker-{worker}"))
            ok += 1
        except ledger.InsufficientPoints:
            refused += 1
    out.put((ok, refused))
    engine.dispose()


def test_eight_processes_never_overdraw_one_wallet(engine, operators, database_url):
    with write(engine) as conn:
        ledger.transfer(
            conn,
            ledger.TransferRequest("fund-0001", YOKOSUKA, "muni:142018", "holder:alice", FUNDED, "grant"),
            "t",
        )
    ctx = mp.get_context("spawn")
    start, out = ctx.Event(), ctx.Queue()
    workers = [ctx.Process(target=_spender, args=(database_url, w, start, out)) for w in range(PROCESSES)]
    for w in workers:
        w.start()
    start.set()
    results = [out.get(timeout=120) for _ in workers]
    for w in workers:
        w.join(timeout=30)
        assert w.exitcode == 0
    spent = sum(ok for ok, _ in results) * AMOUNT
    assert sum(ok + refused for ok, refused in results) == PROCESSES * SPENDS_EACH
    assert spent == (FUNDED // AMOUNT) * AMOUNT  # every spend that fitted went through, no more
    with read(engine) as conn:
        assert ledger.balances(conn, "holder:alice") == {YOKOSUKA: FUNDED - spent}
        report = ledger.verify(conn)
    assert report.ok and report.transfers == 1 + FUNDED // AMOUNT


def _replayer(url: str, worker: int, start: mp.Event, out: mp.Queue) -> None:
    engine = make_engine(url)
    start.wait()
    request = ledger.TransferRequest("same-id-0001", YOKOSUKA, "muni:142018", "holder:bob", 10, "grant")
    out.put(run_write(engine, lambda conn: ledger.transfer(conn, request, f"worker-{worker}")).id)
    engine.dispose()


def test_eight_processes_retrying_one_client_id_post_once(engine, operators, database_url):
    ctx = mp.get_context("spawn")
    start, out = ctx.Event(), ctx.Queue()
    workers = [ctx.Process(target=_replayer, args=(database_url, w, start, out)) for w in range(PROCESSES)]
    for w in workers:
        w.start()
    start.set()
    ids = {out.get(timeout=120) for _ in workers}
    for w in workers:
        w.join(timeout=30)
    assert len(ids) == 1
    with read(engine) as conn:
        assert ledger.balances(conn, "holder:bob") == {YOKOSUKA: 10}
