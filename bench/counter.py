"""The counter's figures: tap to result, a big queue synced, the agent's memory with a national CRL.

    .venv/bin/python bench/counter.py [--spends 50] [--entries 10000] [--crl-serials 1000000] [--database URL]
                                      [--postgres URL] [--smoke]

Against the server as in production (`mkp-server run`: gunicorn, SQLite or `--database`), a terminal enrolled
by the real protocol (`mkp-provision`), the agent's own Counter with a virtual card in a reader of
this process (the card's APDUs without pcscd: pcscd adds its own few milliseconds per APDU).

1. **Tap to result**: card session (certificate checked on the terminal, PIN), server challenge,
   card signature, spend, receipt printed to a file printer; p50 / p95 (target p50 <= 300 ms).
2. **Sync**: N entries queued offline (card-signed and terminal-signed, not timed), then sent in
   batches as `mkp-agent sync` does (target: 10,000 in <= 10 s).
3. **Memory**: a fresh agent process with the CRL of N serials downloaded, checking a card (target
   <= 150 MB RSS).

``--postgres ADMIN_URL``: all three once more on PostgreSQL, in a throwaway database on that server.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from cryptography.hazmat.primitives.serialization import Encoding

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from agent.card_session import proving_card
from agent.counter.service import Counter, SpendRequest
from agent.mykey import MyKeyClient
from agent.terminal import Terminal
from bench.common import add_smoke_option, pct, served, throwaway_postgres
from drivers.card.virtual.ca import TestCA
from drivers.card.virtual.card import VirtualMyNumberCard
from drivers.card.virtual.cardfile import new_card
from drivers.card.virtual.direct import DirectBackend
from drivers.card.virtual.pki import build_crl
from mkp_core.client import ApiClient, BearerToken

BIN = Path(sys.executable).parent
PLACE = "bench-museum"
DEPARTMENT = "142018-kosodate"


def server_env(ca: TestCA) -> dict[str, str]:
    """The server's settings for the bench: the test CA's cards, a big CRL, no offline limits."""
    return {
        "MKP_JPKI_ANCHOR_FILES": str(ca.cert_path),
        "MKP_MAX_CRL_BYTES": str(256 * 1024 * 1024),
        # A whole queue of one card at one terminal: the offline limits are not what is measured.
        "MKP_OFFLINE_MAX_TOTAL": str(10**9),
        "MKP_OFFLINE_MAX_CARD_DAY": str(10**9),
    }


def setup(work: Path, ca: TestCA, url: str, token: str) -> tuple[ApiClient, Path]:
    """横須賀市 with a museum, a department and its grant kind, the CA's CRL, a terminal enrolled."""
    api = ApiClient(url, BearerToken(token))
    api.post("/v1/municipalities", {"code": "142018"})
    api.post("/v1/places", {"place_id": PLACE, "name": "美術館", "kind": "museum", "municipality": "142018"})
    api.post(
        "/v1/municipalities/142018/departments", {"code": "kosodate", "name": "子育て支援課", "budget": 10**9}
    )
    api.post(f"/v1/departments/{DEPARTMENT}/grant-kinds", {"code": "childcare", "name": "子育て応援"})
    upload_crl(api, ca, [])
    code = api.post("/v1/terminals/enrollments", {"place": PLACE, "name": "bench"})["code"]
    home = work / "terminal"
    subprocess.run(
        [
            str(BIN / "mkp-provision"),
            "--home",
            str(home),
            "--server",
            url,
            "--code",
            code,
            "--printer",
            "epson-tm-t88vi",
            "--printer-at",
            f"file:{work / 'receipts.bin'}",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )  # exits 1 without pcscd (no reader): enrolled all the same
    assert (home / "agent.toml").exists(), "the terminal was not enrolled"
    return api, home


def upload_crl(api: ApiClient, ca: TestCA, serials: list[int], number: int = 1) -> None:
    crl = build_crl(ca.certificate, ca.key, serials, number=number)
    api.post("/v1/crls", {"crl": crl.public_bytes(Encoding.PEM).decode()})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spends", type=int, default=50)
    parser.add_argument("--entries", type=int, default=10_000)
    parser.add_argument("--crl-serials", type=int, default=1_000_000)
    parser.add_argument("--database", help="an empty database's URL (default: a new SQLite file)")
    parser.add_argument(
        "--postgres", help="a PostgreSQL server's URL: once more in a throwaway database there"
    )
    add_smoke_option(parser)
    args = parser.parse_args()
    if args.smoke:
        args.spends, args.entries, args.crl_serials = 3, 10, 1_000
    measure(args, args.database)
    if args.postgres:
        with throwaway_postgres(args.postgres) as url:
            measure(args, url)


def measure(args: argparse.Namespace, database: str | None) -> None:
    """The three figures against one server on ``database`` (None: a new SQLite file)."""
    with tempfile.TemporaryDirectory(prefix="mkp-bench-counter-") as tmp:
        work = Path(tmp)
        ca = TestCA.init(work / "ca")
        database = database or f"sqlite:///{work / 'mkp.sqlite3'}"
        with served(database, work, extra_env=server_env(ca)) as (server, token):
            api, home = setup(work, ca, server.url, token)
            kind = "PostgreSQL" if database.startswith("postgresql") else "SQLite"
            print(f"  (server: gunicorn, 1 worker x 8 threads, {kind})", flush=True)
            figures(args, ca, api, home)


def figures(args: argparse.Namespace, ca: TestCA, api: ApiClient, home: Path) -> None:
    """Tap to result, the offline queue and its sync, the agent's memory: one line each."""
    backend = DirectBackend()
    backend.insert(VirtualMyNumberCard(new_card(ca)))
    with proving_card(backend, "1234") as card:
        mykey_id = MyKeyClient(api).register(card)["mykey_id"]
    api.post(
        "/v1/grants",
        {"department": DEPARTMENT, "mykey_id": mykey_id, "amount": 10**8, "grant_kind": "childcare"},
    )
    counter = Counter(Terminal.open(home), backend)
    counter.spend("1234", amount=1)  # warm: the CRL and trust list loaded once
    times = []
    for _ in range(args.spends):
        t0 = time.perf_counter()
        done = counter.spend("1234", amount=10)
        times.append((time.perf_counter() - t0) * 1000)
        assert done["ok"] and not done["offline"], done
    print(
        f"tap to result (card session, challenge, signature, spend, receipt): p50 {pct(times, 50):.0f} ms, "
        f"p95 {pct(times, 95):.0f} ms over {args.spends} spends; target p50 <= 300 ms"
    )

    queued, took = _queue_entries(counter, args.entries)  # straight into the queue, no PIN each time
    print(
        f"offline tap into the queue (card and terminal signatures, limits judged, fsync'd): "
        f"p50 {pct(took[:100], 50):.1f} ms for the first 100, {pct(took[-100:], 50):.1f} ms for the last "
        f"100 of {queued:,}"
    )
    counter.api = counter.terminal.client(timeout=60)
    t0 = time.perf_counter()
    sent = counter.sync()
    elapsed = time.perf_counter() - t0
    assert sent["accepted"] == queued and sent["pending"] == 0, sent
    print(
        f"sync: {queued:,} entries in {elapsed:.1f} s ({queued / elapsed:,.0f}/s, batches of 200); target 10,000 <= 10 s"
    )

    upload_crl(api, ca, list(range(0x7000_0000, 0x7000_0000 + args.crl_serials)), number=2)
    subprocess.run([str(BIN / "mkp-agent"), "sync", "--home", str(home)], capture_output=True, timeout=600)
    rss = subprocess.run(
        [sys.executable, "-c", MEMORY_PROBE, str(home)], capture_output=True, text=True, timeout=600
    )
    figures = json.loads(rss.stdout)
    print(
        f"agent memory: {figures['rss_mb']:.0f} MB peak RSS (VmHWM) with a CRL of {figures['entries']:,} entries "
        f"(loaded in {figures['load_s']:.1f} s, a card checked in {figures['check_ms']:.2f} ms); target <= 150 MB"
    )


def _queue_entries(counter: Counter, count: int) -> tuple[int, list[float]]:
    """Offline spends as the counter takes them, without the card session's PIN each time; how
    many are queued, and each one's time in ms (the limits are judged on the queue so far)."""
    took = []
    with proving_card(counter.backend, "1234") as card:
        for _ in range(count):
            client_id = f"{counter.terminal.terminal_id}-{uuid.uuid4()}"
            t0 = time.perf_counter()
            counter._spend_offline(card, SpendRequest(10), client_id)
            took.append((time.perf_counter() - t0) * 1000)
    return counter.queue.totals().pending, took


MEMORY_PROBE = """
import json, sys, time
from agent.terminal import Terminal
from bench.common import add_smoke_option, pct, served, throwaway_postgres
from mkp_core.certcheck import check_certificate
t = Terminal.open(sys.argv[1])
t0 = time.perf_counter()
trust = t.jpki_trust()
stores = t.crl_stores(trust)
load = time.perf_counter() - t0
t0 = time.perf_counter()
for store in stores:
    store.is_revoked(0x7000_0001)
check = (time.perf_counter() - t0) * 1000
hwm = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:"))
print(json.dumps({"rss_mb": hwm / 1024,
                  "entries": sum(s.count for s in stores),
                  "load_s": load, "check_ms": check}))
"""


if __name__ == "__main__":
    main()
