"""Paper vouchers accepted offline: how fast a terminal's queue of voucher entries is redeemed at
its sync (each entry: the terminal's signature, the voucher's, the conditional UPDATE, a ledger
transfer, the entry kept).

Run: ``.venv/bin/python bench/vouchers_offline.py [--entries N] [--postgres URL] [--smoke]``. The app runs
in this process (Flask's test client: no sockets); one line per figure.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "server"))

from terminal_helpers import csr_for, signed  # noqa: E402

from bench.common import (  # noqa: E402
    AppInProcess,
    add_postgres_option,
    add_smoke_option,
    app_in_process,
    throwaway_postgres,
)
from mkp_core import offline, signing  # noqa: E402


def _town(folder: Path, database_url: str) -> tuple[AppInProcess, signing.PrivateKey, str]:
    """The app with 横須賀市 allowing vouchers, a museum, and a terminal enrolled there (its key, id)."""
    town = app_in_process(folder, database_url)
    town.post("/v1/point-codes/142018/rules", {"vouchers": True})
    town.post(
        "/v1/places", {"place_id": "museum", "name": "美術館", "kind": "museum", "municipality": "142018"}
    )
    key = signing.generate_terminal_key()
    code = town.post("/v1/terminals/enrollments", {"place": "museum", "name": "bench"})["code"]
    tid = town.client.post("/v1/enroll", json={"code": code, "csr": csr_for(key)}).json["terminal_id"]
    return town, key, tid


def _sync_rate(folder: Path, database_url: str, count: int) -> tuple[float, int]:
    town, key, tid = _town(folder, database_url)
    client, post = town.client, town.post
    texts: list[str] = []
    while len(texts) < count:
        batch = post(
            "/v1/vouchers/batches", {"point_code": "142018", "amount": 100, "count": min(500, count)}
        )
        post("/v1/vouchers/printed", {"serials": [v["serial"] for v in batch["vouchers"]]})
        texts += [v["text"] for v in batch["vouchers"]]
    now = datetime.now(UTC)
    entries = [
        offline.seal_voucher(
            key, offline.VoucherRedemption(tid, i + 1, f"{tid}-{uuid.uuid4()}", "museum", now, text)
        )
        for i, text in enumerate(texts[:count])
    ]
    accepted, start = 0, time.perf_counter()
    for at in range(0, count, 500):
        r = signed(
            client, key, tid, "/v1/terminal/sync", method="POST", body={"entries": entries[at : at + 500]}
        )
        assert r.status_code == 200, r.json
        accepted += sum(1 for a in r.json["results"] if a["status"] == "accepted")
    rate = count / (time.perf_counter() - start)
    town.dispose()
    return rate, accepted


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=1000, help="voucher entries in the queue")
    add_postgres_option(parser)
    add_smoke_option(parser)
    args = parser.parse_args()
    if args.smoke:
        args.entries = 20
    with tempfile.TemporaryDirectory() as tmp:
        rate, accepted = _sync_rate(Path(tmp), f"sqlite:///{Path(tmp) / 'bench.sqlite3'}", args.entries)
        print(
            f"offline voucher entries redeemed at sync, SQLite: {rate:,.0f} entries/s ({accepted} accepted)"
        )
        if args.postgres:
            with throwaway_postgres(args.postgres) as url:
                rate, accepted = _sync_rate(Path(tmp), url, args.entries)
            print(
                f"offline voucher entries redeemed at sync, PostgreSQL: {rate:,.0f} entries/s ({accepted} accepted)"
            )


if __name__ == "__main__":
    main()
