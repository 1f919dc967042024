"""Every bench in bench/ runs at its ``--smoke`` size and prints its figures: a changed API breaks
this test, not a measurement months later. Each runs as a user runs it (its own process, this
tree first on the import path), on SQLite and, when MKP_TEST_POSTGRES_URL is set, on PostgreSQL
too (in throwaway databases the bench makes and drops). The figures themselves mean nothing at
these sizes; what is asserted is that each line is printed and the process exits 0."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
POSTGRES = os.environ.get("MKP_TEST_POSTGRES_URL")

pytestmark = pytest.mark.slow


def run_bench(script: str, *args: str) -> str:
    """``bench/<script> --smoke ARGS``: its standard output, after asserting it exited 0."""
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    }
    env.pop("MKP_TEST_POSTGRES_URL", None)  # a bench measures PostgreSQL only when told to here
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / script), "--smoke", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=300,
    )
    assert done.returncode == 0, f"{script} exited {done.returncode}:\n{done.stderr[-4000:]}"
    return done.stdout


def postgres_args() -> list[str]:
    return ["--postgres", POSTGRES] if POSTGRES else []


def assert_figures(out: str, *starts: str) -> None:
    """Each of ``starts`` begins a printed line."""
    lines = out.splitlines()
    for start in starts:
        assert any(line.startswith(start) for line in lines), f"no line starting {start!r} in:\n{out}"


def databases() -> list[str]:
    return ["sqlite", "postgresql"] if POSTGRES else ["sqlite"]


def test_ledger_bench_transfers_and_operator_spends_over_http():
    """The HTTP half spends as the authority rules allow an operator: a central correction with a
    reason, of a holder granted points by a department."""
    out = run_bench("ledger.py", *postgres_args())
    for db in databases():
        assert_figures(out, f"{db} in-process:", f"{db} HTTP spend (operator's correction):")
    # Five requests' server CPU spans less than a clock tick or two: said, not divided by zero.
    spends = [line for line in out.splitlines() if " HTTP spend " in line]
    assert spends and all("server CPU n/a: too few requests to read CPU" in line for line in spends), out


def test_auth_bench_verifications_and_signing_overhead():
    out = run_bench("auth.py")
    assert_figures(out, "verify_request (ecdsa-p256-sha256, 1 core):", "agent signing overhead:")


def test_crl_bench_load_lookups_memory_and_the_alternatives():
    out = run_bench("crl.py")
    assert_figures(out, "crl generated:", "crl load:", "crl lookups:", "crl memory:", "compare: cryptography")
    assert_figures(out, "compare: SQLite")


@pytest.mark.pcsc
def test_card_bench_sessions_through_pcscd_then_the_crl_bench():
    """Through the machine's one pcscd and vpcd: the bench takes vpcd's slots itself."""
    out = run_bench("card.py")
    assert_figures(out, "card session p50:", "card session p95:", "card session max:", "  step sign p50:")
    assert_figures(out, "crl lookups:")


def test_points_bench_grant_file_spends_and_sweep():
    out = run_bench("points.py", *postgres_args())
    assert_figures(out, "sqlite grant CSV:", "sqlite spends with lots:", "sqlite expiry sweep:")
    if POSTGRES:
        assert_figures(out, "postgresql grant CSV:", "postgresql spends with lots:")


def test_settlement_bench_statement_close_export_verify():
    out = run_bench("settlement.py", *postgres_args())
    for db in databases():
        assert_figures(
            out,
            f"{db}: built",
            f"{db}: open month statement",
            f"{db}: close the month",
            f"{db}: closed month export",
            f"{db}: ledger verify's closed-period check",
        )


def test_vouchers_bench_server_path_printing_and_decoding():
    out = run_bench("vouchers.py", *postgres_args())
    assert_figures(out, "server path (issue 5 a batch, print to a file, mark printed), SQLite:")
    if POSTGRES:
        assert_figures(out, "server path (issue 5 a batch, print to a file, mark printed), PostgreSQL:")
    assert_figures(out, "issue + sign + print to a file, epson-tm-t88vi", "decode a 1280x720 frame:")
    assert_figures(out, "decoded to the same voucher: 7/7")


def test_vouchers_offline_bench_entries_redeemed_at_sync():
    out = run_bench("vouchers_offline.py", *postgres_args())
    assert_figures(out, "offline voucher entries redeemed at sync, SQLite:")
    if POSTGRES:
        assert_figures(out, "offline voucher entries redeemed at sync, PostgreSQL:")
    assert "(20 accepted)" in out


def test_mykey_bench_registrations_lookups_and_crl_sweep():
    out = run_bench("mykey.py")
    assert_figures(out, "registrations over HTTP:", "lookups over HTTP:", "CRL import + sweep:")
    assert "FAILED" not in out


def test_partners_bench_conversions_and_coupon_codes():
    out = run_bench("partners.py", *postgres_args())
    lines = [line for line in out.splitlines() if line.startswith("online conversions")]
    assert len(lines) == 2 * len(databases()), out
    assert all("refused 0; ledger verify ok=True" in line for line in lines), out
    assert out.count("coupon codes: 200 generated and stored") == len(databases()), out


def test_counter_bench_tap_sync_and_agent_memory():
    out = run_bench("counter.py", *postgres_args())
    for start in ("tap to result", "offline tap into the queue", "sync: 10 entries", "agent memory:"):
        assert sum(line.startswith(start) for line in out.splitlines()) == len(databases()), out


def test_conntest_bench_enroll_announce_window_report():
    """One server per run (SQLite, or PostgreSQL with --postgres): run once for each."""
    for args in ([], postgres_args()) if POSTGRES else ([],):
        out = run_bench("conntest.py", *args)
        assert_figures(
            out,
            "enroll: 10 terminals",
            "announcement:",
            "server CPU in the window:",
            "window: 9 of 9",
            "status:",
            "report:",
        )
        assert "lost 0" in out


@pytest.mark.skipif(not POSTGRES, reason="every host shares one PostgreSQL: set MKP_TEST_POSTGRES_URL")
@pytest.mark.skipif(shutil.which("haproxy") is None, reason="haproxy is not installed: run ./install.sh")
def test_scaleout_bench_one_then_two_hosts_behind_haproxy():
    """Two `mkp-server run` hosts on one PostgreSQL behind HAProxy; the load from two processes."""
    out = run_bench("scaleout.py", *postgres_args())
    assert_figures(out, "1 host: 20 reports", "2 hosts: 20 reports", "2 hosts vs 1 host (", "limit:")
    phases = [line for line in out.splitlines() if line.startswith(("1 host:", "2 hosts:"))]
    assert len(phases) == 2 and all("; 0 errors," in line for line in phases), out
