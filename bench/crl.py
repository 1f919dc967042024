"""CRL store: load time of a 1,000,000-serial CRL, lookups per second, memory.

Run: ``.venv/bin/python bench/crl.py [--count N] [--big-serials] [--compare]``; from other code,
``main()`` (or ``main(["--count", "100000"])``). Prints one line per figure.
Targets (issue #3): load ≤ 10 s, ≥ 200,000 lookups/s, ≤ 100 MB.

The CRL is made here as DER by hand (the ``cryptography`` builder copies its list on every
entry) and signed by a throw-away test CA; each entry carries a reasonCode extension like a real
CRL. Load and lookups run in a fresh child process so its peak RSS (VmHWM) is the store's and not
the generator's. Memory figures: peak RSS growth over the interpreter baseline during load
(includes the CRL bytes themselves), and RSS still held by the store after the bytes are freed.
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
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

LOOKUPS = 400_000


def _tlv(tag: int, content: bytes) -> bytes:
    n = len(content)
    if n < 0x80:
        return bytes((tag, n)) + content
    octets = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes((tag, 0x80 | len(octets))) + octets + content


def _int(value: int) -> bytes:
    return _tlv(0x02, value.to_bytes(value.bit_length() // 8 + 1, "big"))


def _utc(t: datetime) -> bytes:
    return _tlv(0x17, t.strftime("%y%m%d%H%M%SZ").encode())


def make_ca() -> tuple[rsa.RSAPrivateKey, x509.Certificate]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "JP"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "JPKI"),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "JPKI for user authentication"),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "mkp bench CA"),
        ]
    )
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now - timedelta(days=365))
        .not_valid_after(now + timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    return key, cert


def make_crl(key: rsa.RSAPrivateKey, ca: x509.Certificate, serials: Sequence[int]) -> bytes:
    """A signed DER CRL listing ``serials`` (in the given order) with a reasonCode each."""
    now = datetime.now(UTC).replace(microsecond=0)
    dates = [_utc(now - timedelta(minutes=17 * i)) for i in range(1000)]
    reason = _tlv(0x30, _tlv(0x30, _tlv(0x06, bytes.fromhex("551d15")) + _tlv(0x04, bytes.fromhex("0a0101"))))
    entries = b"".join(_tlv(0x30, _int(s) + dates[i % 1000] + reason) for i, s in enumerate(serials))
    alg = _tlv(0x30, _tlv(0x06, bytes.fromhex("2a864886f70d01010b")) + b"\x05\x00")
    crl_number = _tlv(0x30, _tlv(0x06, bytes.fromhex("551d14")) + _tlv(0x04, _int(4711)))
    tbs = _tlv(
        0x30,
        _int(1)
        + alg
        + ca.subject.public_bytes()
        + _utc(now - timedelta(hours=1))
        + _utc(now + timedelta(hours=23))
        + _tlv(0x30, entries)
        + _tlv(0xA0, _tlv(0x30, crl_number)),
    )
    signature = key.sign(tbs, padding.PKCS1v15(), hashes.SHA256())
    return _tlv(0x30, tbs + alg + _tlv(0x03, b"\x00" + signature))


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


def _child(crl_path: str, ca_path: str, serials_path: str, compare: bool) -> None:
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

    listed = [int(x) for x in Path(serials_path).read_text().split()[: LOOKUPS // 2]]
    rng = random.Random(2)
    top = max(listed)
    probes = listed + [rng.randrange(1, top) for _ in range(LOOKUPS - len(listed))]
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
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args(list(argv))
    if args.child:
        _child(*args.child, compare=args.compare)
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
        paths[2].write_text("\n".join(map(str, serials[: LOOKUPS // 2])))
        del der, serials
        cmd = [sys.executable, __file__, "--child", *map(str, paths)] + (
            ["--compare"] if args.compare else []
        )
        subprocess.run(cmd, check=True)


if __name__ == "__main__":
    main(sys.argv[1:])
