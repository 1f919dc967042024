"""Card session through pcscd with the virtual My Number card: p50/p95 per session and per step.

Run: ``.venv/bin/python bench/card.py [--sessions N] [--revoked N] [--no-crl-bench] [--smoke]``.
Prints one line per figure. Target: card session p50 ≤ 150 ms.

A session is what a kiosk does per card tap: connect to the card, identify the JPKI
application, read the user-authentication certificate, check it against the trust anchor and a
CRL (the CRL lookup), ask the PIN tries left, verify the PIN, have the card sign a fresh
challenge, verify that signature with the certificate, and disconnect (with a card reset). It
runs through the real stack: pyscard → pcscd → vpcd → the virtual card (in this process, on a
thread). pcscd is started if none runs, and stopped again at the end. At the end it runs
``bench/crl.py``'s main too, when that file exists.
"""

from __future__ import annotations

import argparse
import importlib.util
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cryptography.hazmat.primitives.serialization import Encoding

from bench.common import add_smoke_option
from drivers.card.jpki import JpkiCard
from drivers.card.pcsc import PcscBackend
from drivers.card.virtual.ca import TestCA
from drivers.card.virtual.card import VirtualMyNumberCard
from drivers.card.virtual.cardfile import new_card
from drivers.card.virtual.pcscd import PcscDaemon, card_present, vpcd_slots, wait_for
from drivers.card.virtual.vpcd import VpcdLink, reader_name
from mkp_core.cardproof import verify_card_signature
from mkp_core.certcheck import CertStatus, check_certificate
from mkp_core.crl import CrlStore
from mkp_core.trust import TrustStore

TARGET_P50_MS = 150.0
STEPS = ("connect", "read_cert", "check_crl", "pin", "sign", "verify_sig", "disconnect")


def _pctl(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 else values[0]


def session(trust: TrustStore, crl: CrlStore, timings: dict[str, list[float]]) -> float:
    """One card tap; returns its total wall time in ms and appends per-step times."""
    t = [time.perf_counter()]
    ch = PcscBackend().connect(reader_name(0))
    card = JpkiCard(ch)
    card.identify()
    t.append(time.perf_counter())
    cert = card.read_auth_certificate()
    t.append(time.perf_counter())
    result = check_certificate(cert, trust, crl)
    assert result.status is CertStatus.VALID, result.reason
    t.append(time.perf_counter())
    assert card.pin_tries_left() == 3
    card.verify_pin("1234")
    t.append(time.perf_counter())
    challenge = secrets.token_bytes(32)
    sig = card.sign(challenge)
    t.append(time.perf_counter())
    assert verify_card_signature(cert, challenge, sig)
    t.append(time.perf_counter())
    ch.close()
    t.append(time.perf_counter())
    for name, a, b in zip(STEPS, t[:-1], t[1:], strict=True):
        timings[name].append((b - a) * 1000)
    return (t[-1] - t[0]) * 1000


def main(argv: list[str] | None = None) -> None:
    """Set up pcscd, a test CA, a CRL and a virtual card; time card sessions; print figures."""
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--sessions", type=int, default=200, help="sessions to time (after 5 warm-up)")
    ap.add_argument("--revoked", type=int, default=10_000, help="serials on the CRL")
    ap.add_argument("--no-crl-bench", action="store_true", help="do not run bench/crl.py afterwards")
    add_smoke_option(ap)
    args = ap.parse_args(argv)
    if args.smoke:
        args.sessions, args.revoked = 3, 10

    with vpcd_slots(), tempfile.TemporaryDirectory(prefix="mkp-bench-card-") as tmp:
        daemon = PcscDaemon.ensure(Path(tmp) / "pcscd.log")
        try:
            ca = TestCA.init(Path(tmp) / "ca")
            ca.revoke_many([secrets.randbits(159) for _ in range(args.revoked)])
            trust = TrustStore.from_pem_files([ca.cert_path])
            crl = CrlStore.load(ca.issue_crl().public_bytes(Encoding.DER), trust)
            link = VpcdLink(VirtualMyNumberCard(new_card(ca, pin="1234"))).insert()
            try:
                wait_for(lambda: card_present(reader_name(0)), 5, "pcscd to see the virtual card")
                timings: dict[str, list[float]] = {s: [] for s in STEPS}
                for _ in range(5):
                    session(trust, crl, {s: [] for s in STEPS})
                totals = [session(trust, crl, timings) for _ in range(args.sessions)]
            finally:
                link.remove()
        finally:
            daemon.stop()

    p50, p95 = _pctl(totals, 50), _pctl(totals, 95)
    verdict = "ok" if p50 <= TARGET_P50_MS else "MISSED"
    print(f"card session p50: {p50:.1f} ms (target <= {TARGET_P50_MS:.0f} ms: {verdict})")
    print(f"card session p95: {p95:.1f} ms")
    print(
        f"card session max: {max(totals):.1f} ms over {len(totals)} sessions, CRL of {args.revoked} serials"
    )
    for name in STEPS:
        print(f"  step {name} p50: {_pctl(timings[name], 50):.2f} ms, p95: {_pctl(timings[name], 95):.2f} ms")

    crl_bench = Path(__file__).with_name("crl.py")
    if crl_bench.exists() and not args.no_crl_bench:
        spec = importlib.util.spec_from_file_location("bench_crl", crl_bench)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        module.main(["--smoke"] if args.smoke else [])


if __name__ == "__main__":
    main()
