"""Eight processes race to spend from one wallet: it is never overdrawn, nothing is lost."""

import multiprocessing as mp

import pytest
from mkp_testing import preloaded_processes

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
    ctx = preloaded_processes()
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
    ctx = preloaded_processes()
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


def _claimer(url: str, worker: int, start: mp.Event, out: mp.Queue) -> None:
    from mkp_core.errors import MkpError
    from server.points import holders
    from server.points.rewards import service as rewards

    engine = make_engine(url)
    start.wait()

    def claim(conn):
        holder = holders.find(conn, f"RACER{worker:03d}")
        return rewards.claim(conn, holder, "last-seat", f"claim-{worker:04d}", f"worker-{worker}")

    try:
        out.put(run_write(engine, claim)["claim_number"])
    except MkpError as e:
        out.put(e.code)
    engine.dispose()


def test_eight_processes_claiming_the_last_reward_item_get_it_once(engine, town, database_url):
    from datetime import UTC, datetime, timedelta

    from points_helpers import DEPARTMENT, register_mykeys

    from server.platform.operators.service import Operator
    from server.points.departments import grants
    from server.points.rewards import service as rewards

    central = Operator(1, "central", None)
    register_mykeys(engine, tuple(f"RACER{n:03d}" for n in range(PROCESSES)))
    now = datetime.now(UTC)
    with write(engine) as conn:
        for n in range(PROCESSES):
            grants.grant(
                conn,
                central,
                DEPARTMENT,
                f"g-race-{n:04d}",
                grants.GrantAsked(f"RACER{n:03d}", 5000, "childcare"),
            )
        offer = {"name": "最後の一席", "price": 3000, "stock": 1, "per_holder": 1}
        window = {"starts_at": now - timedelta(hours=1), "ends_at": now + timedelta(days=1)}
        rewards.add_reward(conn, central, "last-seat", YOKOSUKA, {**offer, **window})
    ctx = preloaded_processes()
    start, out = ctx.Event(), ctx.Queue()
    workers = [ctx.Process(target=_claimer, args=(database_url, w, start, out)) for w in range(PROCESSES)]
    for w in workers:
        w.start()
    start.set()
    results = sorted(out.get(timeout=120) for _ in workers)
    for w in workers:
        w.join(timeout=30)
    assert results == ["LAST-SEAT-00001"] + ["sold_out"] * (PROCESSES - 1)
    with read(engine) as conn:
        assert rewards.get_reward(conn, "last-seat")["left"] == 0
        assert ledger.verify(conn).ok
