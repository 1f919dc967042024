"""Paper vouchers: issued and printed per second, frames decoded per second, and how many of a
degraded set of photos read back as the right voucher.

Run: ``.venv/bin/python bench/vouchers.py [--images N] [--seconds S] [--save DIR] [--postgres URL] [--smoke]``.
Prints one line per figure. Targets: at least 200 vouchers/s issued (signed) and printed to a
file printer; decode p50 at most 20 ms per 1280 x 720 frame; at least 99 % of at least 500
degraded photos decoded to the same voucher.

The photos are made as the round-trip tests make theirs (``tests/vouchers``): each printer's
bytes drawn by the test ESC/POS renderer, printed on simulated thermal paper (10 % of dots
lost, a dead heating element, faded black), photographed turned, slanted, unevenly lit, at low
contrast, out of focus, noisy and as a JPEG. The set is spread over every printer profile and
the variants that take the other printing paths.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "vouchers"))

import cv2  # noqa: E402
import numpy as np  # noqa: E402
from degrade import degraded  # noqa: E402
from voucher_helpers import ALL_PRINTERS, KEY, RING, print_voucher_on, printer_profile, receipt_for  # noqa: E402

from bench.common import add_postgres_option, add_smoke_option, app_in_process, throwaway_postgres  # noqa: E402
from drivers.printer import open_printer  # noqa: E402
from drivers.printer.voucher import batch_receipts, print_voucher  # noqa: E402
from drivers.scanner import Decoder  # noqa: E402
from mkp_core.voucher import decode_voucher, issue_voucher  # noqa: E402


def _printing_rate(name: str, seconds: float, folder: Path) -> tuple[float, int]:
    """Vouchers issued (new serial, signed) and printed to a file printer per second, best of 3 rounds."""
    profile = printer_profile(name)
    expires = datetime.now(UTC) + timedelta(days=90)
    best, size = 0.0, 0
    with open_printer(profile, f"file:{folder / (name + '.bin')}") as printer:
        for _ in range(3):
            count, start = 0, time.perf_counter()
            while time.perf_counter() - start < seconds / 3:
                voucher, text = issue_voucher(KEY, point_code="142018-FEST2026", amount=500, expires=expires)
                size = print_voucher(printer, receipt_for(voucher, text))
                count += 1
            best = max(best, count / (time.perf_counter() - start))
    return best, size


def _server_path_rate(seconds: float, folder: Path, database_url: str, batch: int = 200) -> float:
    """Vouchers per second the way ``mkp-admin voucher issue`` makes them: the server issues a batch
    (ledger transfers into the liability, rows, signatures), the printer prints each, the server
    marks them printed. The app runs in this process (Flask's test client: no sockets)."""
    town = app_in_process(folder, database_url)
    town.post("/v1/point-codes/142018/rules", {"vouchers": True})
    profile = printer_profile("epson-tm-t88vi")
    count, start = 0, time.perf_counter()
    with open_printer(profile, f"file:{folder / 'server-path.bin'}") as printer:
        while time.perf_counter() - start < seconds:
            reply = town.post("/v1/vouchers/batches", {"point_code": "142018", "amount": 500, "count": batch})
            for receipt in batch_receipts(reply):
                print_voucher(printer, receipt)
            serials = [v["serial"] for v in reply["vouchers"]]
            town.post("/v1/vouchers/printed", {"serials": serials})
            count += batch
    rate = count / (time.perf_counter() - start)
    town.dispose()  # before a throwaway database is dropped
    return rate


def _how_printed(name: str) -> str:
    profile = printer_profile(name)
    text = "Kanji mode" if profile.text.kanji else "drawn text"
    qr = "GS ( k" if profile.native_qr else "drawn QR"
    return f"{profile.paper.width_mm} mm, {profile.paper.dpi} dpi, {text}, {qr}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=504, help="degraded photos in the decode set")
    parser.add_argument("--seconds", type=float, default=3.0, help="time spent on each printing figure")
    parser.add_argument("--save", type=Path, help="write the degraded photos here as PNG")
    add_postgres_option(parser)
    add_smoke_option(parser)
    parser.add_argument("--server-only", action="store_true", help="only the server-path figure")
    args = parser.parse_args()
    batch = 200
    if args.smoke:
        args.images, args.seconds, batch = len(ALL_PRINTERS), 0.1, 5

    with tempfile.TemporaryDirectory() as tmp:
        figure = f"server path (issue {batch} a batch, print to a file, mark printed)"
        rate = _server_path_rate(args.seconds, Path(tmp), f"sqlite:///{Path(tmp) / 'bench.sqlite3'}", batch)
        print(f"{figure}, SQLite: {rate:,.0f} vouchers/s")
        if args.postgres:
            with throwaway_postgres(args.postgres) as url:
                rate = _server_path_rate(args.seconds, Path(tmp), url, batch)
            print(f"{figure}, PostgreSQL: {rate:,.0f} vouchers/s")
    if args.server_only:
        return

    with tempfile.TemporaryDirectory() as tmp:
        for name in ALL_PRINTERS:
            rate, size = _printing_rate(name, args.seconds, Path(tmp))
            print(
                f"issue + sign + print to a file, {name} ({_how_printed(name)}): {rate:,.0f} vouchers/s ({size:,} bytes each)"
            )

    decoder = Decoder()
    times, ok, readers, failures = [], 0, Counter(), []
    per_printer = -(-args.images // len(ALL_PRINTERS))
    made = 0
    for name in ALL_PRINTERS:
        printed = print_voucher_on(name)
        paper, box = np.asarray(printed.paper.image), printed.qr_box
        for seed in range(per_printer):
            frame, look = degraded(paper, box, seed)
            made += 1
            if args.save:
                args.save.mkdir(parents=True, exist_ok=True)
                cv2.imwrite(str(args.save / f"{name}-{seed:03d}.png"), frame)
            start = time.perf_counter()
            found = decoder.decode(frame)
            times.append(time.perf_counter() - start)
            texts = [d.text for d in found]
            if (
                texts == [printed.text]
                and decode_voucher(texts[0], RING, now=printed.voucher.issued) == printed.voucher
            ):
                ok += 1
                readers[found[0].decoder] += 1
            else:
                failures.append(f"{name} #{seed} ({look})")

    ms = sorted(t * 1000 for t in times)
    print(
        f"decode a 1280x720 frame: p50 {statistics.median(ms):.1f} ms, p90 {ms[int(0.9 * len(ms))]:.1f} ms, "
        f"max {ms[-1]:.1f} ms ({len(ms)} frames)"
    )
    share = ", ".join(f"{reader} {count}" for reader, count in readers.most_common())
    print(f"decoded to the same voucher: {ok}/{made} degraded photos = {ok / made:.1%} (read by {share})")
    for failure in failures[:10]:
        print(f"  not read: {failure}")


if __name__ == "__main__":
    main()
