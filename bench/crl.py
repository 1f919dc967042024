"""CRL store: load time of a 1,000,000-serial CRL, lookups per second, memory.

Run: ``.venv/bin/python bench/crl.py [--count N] [--big-serials] [--compare] [--smoke]``; from other
code, ``main()`` (or ``main(["--count", "100000"])``). ``--smoke``: a small CRL, with ``--compare``. Prints one line per figure.
Targets: load ≤ 10 s, ≥ 200,000 lookups/s, ≤ 100 MB.

The CRL is made by the shared test-PKI builder (``drivers/card/virtual/pki.py``) and signed by a
throw-away test CA; each entry carries a reasonCode extension like a real CRL. Making a million
entries takes half a minute or so; that is not measured. Load and lookups run in a fresh child
process so its peak RSS (VmHWM) is the store's and not the generator's. Memory figures: peak RSS
growth over the interpreter baseline during load (includes the CRL bytes themselves), and RSS
still held by the store after the bytes are freed.
``--compare`` adds the alternatives: iterating ``cryptography``'s CRL object, and SQLite.
"""

from __future__ import annotations

import argparse
import gc
import os
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import add_smoke_option
from drivers.card.virtual.pki import (
    Revocation,
    build_ca_certificate,
    build_crl,
    jpki_ca_name,
    new_rsa_key,
    utcnow,
)

LOOKUPS = 400_000


def make_ca() -> tuple[rsa.RSAPrivateKey, x509.Certificate]:
    key = new_rsa_key()
    return key, build_ca_certificate(key, name=jpki_ca_name("mkp bench CA"))


def make_crl(key: rsa.RSAPrivateKey, ca: x509.Certificate, serials: Sequence[int]) -> bytes:
    """A signed DER CRL listing ``serials`` (in the given order) with a reasonCode each."""
    now = utcnow()
    dates = [now - timedelta(minutes=17 * i) for i in range(1000)]
    entries = (
        Revocation(s, revoked_at=dates[i % 1000], reason=x509.ReasonFlags.key_compromise)
        for i, s in enumerate(serials)
    )
    crl = build_crl(
        ca,
        key,
        entries,
        this_update=now - timedelta(hours=1),
        next_update=now + timedelta(hours=23),
        number=4711,
    )
    return crl.public_bytes(serialization.Encoding.DER)


def _rss_mb(field: str) -> float:
    """VmRSS / VmHWM of this process in MB (Linux); ru_maxrss elsewhere."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _child(crl_path: str, ca_path: str, serials_path: str, compare: bool, lookups: int) -> None:
    from mkp_core.crl import CrlStore
    from mkp_core.trust import TrustStore

    trust = TrustStore.from_pem(Path(ca_path).read_bytes())
    gc.collect()
    base = _rss_mb("VmRSS")
    data = Path(crl_path).read_bytes()
    t0 = time.perf_counter()
    store = CrlStore.load(data, trust, crl_path)
    load_s = time.perf_counter() - t0
    peak = _rss_mb("VmHWM") - base
    del data
    gc.collect()
    held = _rss_mb("VmRSS") - base
    print(
        f"crl load: {store.count:,} serials, {os.path.getsize(crl_path) / 1e6:.1f} MB DER in {load_s:.2f} s"
    )

    listed = [int(x) for x in Path(serials_path).read_text().split()[: lookups // 2]]
    rng = random.Random(2)
    top = max(listed)
    probes = listed + [rng.randrange(1, top) for _ in range(lookups - len(listed))]
    rng.shuffle(probes)
    is_revoked = store.is_revoked
    t0 = time.perf_counter()
    hits = sum(1 for s in probes if is_revoked(s))
    lookup_s = time.perf_counter() - t0
    assert hits >= len(listed), "a listed serial was not found"
    print(f"crl lookups: {len(probes) / lookup_s:,.0f}/s ({lookup_s / len(probes) * 1e6:.2f} µs each)")
    print(
        f"crl memory: peak {peak:.0f} MB during load (incl. the CRL bytes), {held:.0f} MB held after, "
        f"arrays {store.nbytes / 1e6:.1f} MB"
    )
    if compare:
        _compare(crl_path, probes)


def _compare(crl_path: str, probes: list[int]) -> None:
    import sqlite3

    data = Path(crl_path).read_bytes()
    gc.collect()
    base = _rss_mb("VmRSS")
    t0 = time.perf_counter()
    crl = x509.load_der_x509_crl(data)
    serials = [r.serial_number for r in crl]
    it_s = time.perf_counter() - t0
    print(
        f"compare: cryptography CRL iteration {it_s:.2f} s for {len(serials):,}, "
        f"RSS +{_rss_mb('VmRSS') - base:.0f} MB (CRL object + a list of the serials as ints)"
    )
    del crl
    gc.collect()
    t0 = time.perf_counter()
    db = sqlite3.connect(":memory:")
    db.execute("CREATE TABLE r (s BLOB PRIMARY KEY) WITHOUT ROWID")
    db.executemany(
        "INSERT OR IGNORE INTO r VALUES (?)", ((s.to_bytes(21, "big", signed=True),) for s in serials)
    )
    sql_s = time.perf_counter() - t0
    del serials
    gc.collect()
    q = "SELECT 1 FROM r WHERE s = ?"
    t0 = time.perf_counter()
    for s in probes:
        db.execute(q, (s.to_bytes(21, "big", signed=True),)).fetchone()
    look = len(probes) / (time.perf_counter() - t0)
    print(
        f"compare: SQLite index build {sql_s:.2f} s (after parsing), {look:,.0f} lookups/s, "
        f"RSS +{_rss_mb('VmRSS') - base:.0f} MB"
    )


def main(argv: Sequence[str] = ()) -> None:
    """Make the CRL, then measure load, lookups and memory in a child process."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--count", type=int, default=1_000_000, help="serials on the CRL")
    parser.add_argument("--big-serials", action="store_true", help="random 159-bit serials (test-CA style)")
    parser.add_argument(
        "--compare", action="store_true", help="also measure cryptography iteration and SQLite"
    )
    parser.add_argument("--lookups", type=int, default=LOOKUPS, help="lookups timed")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    add_smoke_option(parser)
    args = parser.parse_args(list(argv))
    if args.smoke:
        args.count, args.lookups, args.compare = 2_000, 2_000, True
    if args.child:
        _child(*args.child, compare=args.compare, lookups=args.lookups)
        return

    rng = random.Random(1)
    if args.big_serials:
        serials = [rng.getrandbits(159) | 1 << 158 for _ in range(args.count)]
    else:  # JPKI-like: serials from a sequence, revoked in no particular order
        serials = rng.sample(range(1, 60_000_000), args.count)
    key, ca = make_ca()
    t0 = time.perf_counter()
    der = make_crl(key, ca, serials)
    print(f"crl generated: {len(der) / 1e6:.1f} MB in {time.perf_counter() - t0:.1f} s (not measured)")
    with tempfile.TemporaryDirectory(prefix="mkp-bench-crl-") as tmp:
        paths = [Path(tmp, "bench.crl"), Path(tmp, "ca.pem"), Path(tmp, "serials.txt")]
        paths[0].write_bytes(der)
        paths[1].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
        paths[2].write_text("\n".join(map(str, serials[: args.lookups // 2])))
        del der, serials
        cmd = [sys.executable, __file__, "--child", *map(str, paths), "--lookups", str(args.lookups)]
        cmd += ["--compare"] if args.compare else []
        subprocess.run(cmd, check=True)


if __name__ == "__main__":
    main(sys.argv[1:])
