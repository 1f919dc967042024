"""Partner points' figures: online conversions over HTTP per second, coupon codes made and stored.

    .venv/bin/python bench/partners.py [--seconds 5] [--clients 8] [--batch 500] [--batch-clients 2]
                                       [--members 1000] [--coupons 1000000] [--db postgresql://...]
                                       [--workers 1] [--generators 2] [--postgres URL] [--smoke]

1. **Online conversions**: the server as in production (`mkp-server run`: gunicorn; SQLite unless
   ``--db``), a partner registered with its key, ``--members`` holders linked to it (written
   straight into the database: linking is not what is measured), then, for ``--seconds`` each,
   ``--clients`` connections post signed conversions one a request (``/partner/v1/conversions``,
   RFC 9421, a new order id each), and ``--batch-clients`` connections post batches of ``--batch``
   orders (``/partner/v1/conversions/batch``). The load generator shares the machine's cores with
   the server, so it is kept cheap and its own cost is printed: the connections are spread over
   ``--generators`` processes (Python threads of one process would queue for one interpreter
   lock), each a thread a keep-alive ``http.client`` connection signing with the agents' own
   ``signing.RequestSigner``. Target: >= 1,000/s on 2 cores; the server's CPU a conversion is
   read from its process tree, the generator's CPU a request from its processes. First, as a raw
   baseline measured in the same run, the same connections ask ``GET /healthz`` (one short read
   statement) for the same time: the machine is shared, and a busy minute slows both alike, so
   each conversion figure is also printed as a ratio of the baseline's (rate and server CPU).
2. **Coupon codes**: ``--coupons`` codes generated and stored as hashes by the domain function
   the API calls (``coupons.issue_batch``), in one transaction (a fresh SQLite file, or ``--db``). Target:
   1,000,000 in <= 30 s; with fewer (a busy machine) the figure is extrapolated linearly, and says so.

``--postgres ADMIN_URL`` runs both once more on PostgreSQL, in a throwaway database on that server.
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import NamedTuple

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import insert

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import add_smoke_option, process_tree_cpu, served, throwaway_postgres
from mkp_core import signing
from mkp_core.client import ApiClient, BearerToken
from server.db.engine import make_engine, write
from server.db.migrate import upgrade
from server.launcher import ServerProcess
from server.ledger.tables import mykeys
from server.partners import coupons, registry
from server.partners.tables import partner_links
from server.platform.operators.service import Operator

YOKOSUKA = "142018"


def link_members(database_url: str, members: int) -> None:
    """``members`` holders linked to ANA, written straight into the database (not what is measured)."""
    engine = make_engine(database_url)
    now = datetime.now(UTC)
    with write(engine) as conn:
        for i in range(members):
            mid = f"B{i:07d}"
            number = conn.execute(
                insert(mykeys).values(
                    mykey_id=mid,
                    folded=mid,
                    status="active",
                    changes_left=3,
                    home_municipality=YOKOSUKA,
                    created_at=now,
                )  # fmt: skip
            ).inserted_primary_key[0]
            conn.execute(
                insert(partner_links).values(
                    partner_id="ANA",
                    member=f"M{i}",
                    mykey=number,
                    status="active",
                    created_at=now,
                    confirmed_at=now,
                )
            )
    engine.dispose()


def conversions_per_second(database_url: str, work: Path, args: argparse.Namespace) -> None:
    """Online conversions over HTTP, one order a request and then in batches, against one server."""
    with served(database_url, work, workers=args.workers, threads=8) as (server, token):
        api = ApiClient(server.url, BearerToken(token))
        api.post("/v1/municipalities", {"code": YOKOSUKA})
        key = signing.generate_terminal_key()
        api.post(
            "/v1/partners",
            {"partner_id": "ANA", "name": "全日本空輸", "public_key": signing.public_key_pem(key).decode()},
        )
        link_members(database_url, args.members)
        where = (
            f"{args.workers} gunicorn worker(s) x 8 threads, {database_url.split(':')[0]}, "
            "load generator on the same cores"
        )
        baseline = _rates(server, key, args, 0, args.clients)
        print(
            f"baseline GET /healthz: {baseline.per_second:,.0f}/s over HTTP ({args.clients} connections, "
            f"{where}); server CPU {baseline.cpu_each * 1000:.2f} ms a request"
        )
        for size, clients in ((1, args.clients), (args.batch, args.batch_clients)):
            if clients == 0:
                continue
            rates = _rates(server, key, args, size, clients)
            done, refused, requests, elapsed, generator_cpu = rates.figures
            verify = api.get("/v1/ledger/verify")
            what = "one order a request" if size == 1 else f"batches of {size}"
            print(
                f"online conversions, {what}: {done:,} in {elapsed:.1f} s = {done / elapsed:,.0f}/s over HTTP "
                f"= {rates.per_second / baseline.per_second:.3f} x the baseline's rate "
                f"({requests:,} requests, {clients} connections in {min(args.generators, clients)} "
                f"generator process(es), {where}); server CPU {rates.cpu_each * 1000:.2f} ms a "
                f"conversion ({1 / max(rates.cpu_each, 1e-9):,.0f}/s a core) = "
                f"{rates.cpu_each / baseline.cpu_each:.2f} x a baseline request's; generator CPU "
                f"{generator_cpu / max(requests, 1) * 1000:.2f} ms a request; "
                f"refused {refused}; ledger verify ok={verify['ok']}"
            )


class _Rates(NamedTuple):
    """What one run of the generator gave (``figures``: :func:`_post_orders`' answer), per second of
    wall-clock time and in server CPU seconds, each per accepted conversion (or baseline request)."""

    figures: tuple[int, int, int, float, float]
    per_second: float
    cpu_each: float


def _rates(
    server: ServerProcess, key: signing.PrivateKey, args: argparse.Namespace, size: int, clients: int
) -> _Rates:
    """:func:`_post_orders` with the server's process tree's CPU read around it."""
    cpu_before = process_tree_cpu(server.process.pid)
    figures = _post_orders(server.url, key, args, size, clients)
    cpu = process_tree_cpu(server.process.pid) - cpu_before
    done, elapsed = max(figures[0], 1), figures[3]
    return _Rates(figures, done / elapsed, cpu / done)


def _post_orders(
    url: str, key: signing.PrivateKey, args: argparse.Namespace, size: int, clients: int
) -> tuple[int, int, int, float, float]:
    """``clients`` connections, spread over ``args.generators`` processes, post signed orders (``size``
    a request: the single endpoint for 1, the batch endpoint else; 0: ``GET /healthz``, the
    baseline) for ``args.seconds``:
    (accepted, refused, requests, seconds, the generator processes' CPU seconds)."""
    processes = max(1, min(args.generators, clients))
    shares = [clients // processes + (p < clients % processes) for p in range(processes)]
    run = uuid.uuid4().hex[:6]
    start = time.time() + 0.5  # every process forked and ready by then
    jobs = [
        _Job(
            url,
            _private_pem(key),
            size,
            args.members,
            run,
            sum(shares[:p]),
            share,
            start,
            start + args.seconds,
        )
        for p, share in enumerate(shares)
    ]
    with multiprocessing.get_context("fork").Pool(processes) as pool:
        results = pool.map(_generator, jobs)
    done, refused, sent, cpu = (sum(r[i] for r in results) for i in range(4))
    elapsed = max(r[4] for r in results) - start
    return int(done), int(refused), int(sent), elapsed, float(cpu)


def _private_pem(key: signing.PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


class _Job(NamedTuple):
    """What one generator process does: its connections (``first`` on, ``share`` of them)."""

    url: str
    pem: bytes
    size: int
    members: int
    run: str
    first: int
    share: int
    start: float  # wall clock, as every process reads it
    stop: float


def _generator(job: _Job) -> tuple[int, int, int, float, float]:
    """One generator process: ``share`` threads, each a keep-alive connection posting signed orders
    from ``start`` until ``stop``: (accepted, refused, requests, this process's CPU seconds over
    that time, when its last answer came)."""
    key = serialization.load_pem_private_key(job.pem, password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    host = job.url.split("//", 1)[1]
    path = {0: "/healthz", 1: "/partner/v1/conversions"}.get(job.size, "/partner/v1/conversions/batch")
    size, members, run, share, stop = job.size, job.members, job.run, job.share, job.stop
    done, refused, sent = [0] * share, [0] * share, [0] * share

    def order(n: int, i: int) -> dict[str, object]:
        return {"order_id": f"{run}-{n}-{i}", "member": f"M{(n * 7919 + i) % members}", "amount": 1000}

    def client(slot: int) -> None:
        n = job.first + slot
        signer = signing.RequestSigner("partner:ANA", key, tag=signing.PARTNER_TAG)
        connection = http.client.HTTPConnection(host, timeout=60)
        i = 0
        while time.time() < stop:
            if size == 0:
                connection.request("GET", path)
                response = connection.getresponse()
                response.read()
                sent[slot] += 1
                done[slot] += response.status == 200
                refused[slot] += response.status != 200
                continue
            if size == 1:
                i += 1
                body = json.dumps(order(n, i)).encode()
            else:
                body = json.dumps({"orders": [order(n, i + k) for k in range(1, size + 1)]}).encode()
                i += size
            headers = {"Content-Type": "application/json", **signer.headers("POST", job.url + path, body)}
            connection.request("POST", path, body, headers)
            response = connection.getresponse()
            answer = response.read()
            sent[slot] += 1
            if size == 1:
                done[slot] += response.status == 201
                refused[slot] += response.status != 201
            elif response.status != 200:
                refused[slot] += size
            else:
                counts = json.loads(answer)
                done[slot] += counts["accepted"]
                refused[slot] += counts["refused"]
        connection.close()

    time.sleep(max(0.0, job.start - time.time()))
    cpu = time.process_time()
    threads = [threading.Thread(target=client, args=(slot,)) for slot in range(share)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(done), sum(refused), sum(sent), time.process_time() - cpu, time.time()


def coupon_codes(database_url: str, count: int) -> None:
    engine = make_engine(database_url)
    upgrade(engine)
    pem = signing.public_key_pem(signing.generate_terminal_key()).decode()
    op = Operator(0, "bench", None)
    with write(engine) as conn:
        partner = registry.add(conn, op, "CPN", "coupon bench", pem)
    started = time.monotonic()
    with write(engine) as conn:
        batch = coupons.issue_batch(conn, partner, count, 1000, "bench")
    elapsed = time.monotonic() - started
    engine.dispose()
    assert len(batch["codes"]) == count
    line = f"coupon codes: {count:,} generated and stored in {elapsed:.1f} s ({count / elapsed:,.0f}/s)"
    if count < 1_000_000:
        line += f"; 1,000,000 extrapolated: {elapsed * 1_000_000 / count:.1f} s"
    print(line)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--clients", type=int, default=8, help="client threads, one order a request")
    parser.add_argument("--batch", type=int, default=500, help="orders a batch request")
    parser.add_argument("--batch-clients", type=int, default=2, help="client threads posting batches")
    parser.add_argument("--members", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument(
        "--generators", type=int, default=2, help="load generator processes the connections are spread over"
    )
    parser.add_argument("--coupons", type=int, default=1_000_000, help="0: no coupon figure")
    parser.add_argument(
        "--db", help="A PostgreSQL URL (a throwaway database); default: SQLite in a temp folder."
    )
    parser.add_argument(
        "--postgres", help="a PostgreSQL server's URL: once more in a throwaway database there"
    )
    add_smoke_option(parser)
    args = parser.parse_args()
    if args.smoke:
        args.seconds, args.clients, args.batch, args.batch_clients = 0.3, 2, 10, 1
        args.members, args.coupons = 20, 200
    with tempfile.TemporaryDirectory(prefix="mkp-bench-partners-") as tmp:
        work = Path(tmp)
        both = (
            args.db or f"sqlite:///{work / 'conv.sqlite3'}",
            args.db or f"sqlite:///{work / 'coupons.sqlite3'}",
        )
        measure(*both, work, args)
        if args.postgres:
            with throwaway_postgres(args.postgres) as url:
                measure(url, url, work, args)


def measure(conversions_db: str, coupons_db: str, work: Path, args: argparse.Namespace) -> None:
    conversions_per_second(conversions_db, work, args)
    if args.coupons:
        coupon_codes(coupons_db, args.coupons)


if __name__ == "__main__":
    main()
