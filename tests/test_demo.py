"""The main job: `mkp-demo` runs the whole system end to end and exits 0."""

import json
import subprocess
import sys

import pytest


@pytest.mark.pcsc  # the demo starts a server and inserts a virtual card into vpcd
def test_demo_runs_end_to_end():
    done = subprocess.run(
        [sys.executable, "-m", "demo.cli", "--json"], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stdout + done.stderr
    summary = json.loads(done.stdout)
    assert summary["ok"] is True
    assert all(step["ok"] for step in summary["steps"])
    details = {step["step"]: step["detail"] for step in summary["steps"]}
    assert "the second run changed nothing" in details["grant points by CSV"]
    assert "balance 700" in details["spend at a shop and as museum admission"]
    assert "handed over" in details["support an event and hand it over"]
    assert "sold_out" in details["claim a special reward"]
    assert "again 0" in details["run the expiry sweep"]
    assert "valid, PIN ok" in details["read and check a My Number card"]
    assert "enrolled" in details["enroll and provision a terminal"]
    assert "Hanako24" in details["register two MyKey IDs with the card"]
    assert (
        "A1: 789, A2: 280212, A1: 1024; card 2 at A2 → not_linked"
        in details["look the cards up at each service"]
    )
    assert "mykey_suspended" in details["suspend a lost card"]
    assert "1 revoked: Hanako24" in details["sweep the next CRL"]
    assert "scanned again: voucher_used" in details["print a voucher and redeem it once"]
    assert "got 1,200 points" in details["migrate a street's points and settle the month"]
    assert "summing to 0" in details["migrate a street's points and settle the month"]
    assert "ledger verified" in details["verify the ledger"]
    assert "Point Navi http://127.0.0.1:" in details["show the data on the web pages"]
    assert "/navi/142018 (142018, 142018-FEST2026;" in details["show the data on the web pages"]
    assert summary["web"]["My Page"].endswith("/mypage/")


def test_serve_keeps_the_demo_up_and_prints_its_pages_until_ctrl_c(monkeypatch):
    """`mkp-demo --serve` (its steps stubbed: the real ones need pcscd, above) waits for Ctrl-C,
    printing where My Page and Point Navi are, then stops the server and exits 0."""
    from click.testing import CliRunner

    from demo import cli

    stopped = []

    class Server:
        url = "http://127.0.0.1:8765"

        def stop(self):
            stopped.append(self.url)

    def start(state):
        state.server = Server()
        return "started"

    def ctrl_c():
        assert not stopped, "the server stopped before Ctrl-C"
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "STEPS", [("start the ledger server", start)])
    monkeypatch.setattr(cli, "wait_for_ctrl_c", ctrl_c)
    done = CliRunner().invoke(cli.main, ["--serve"])
    assert done.exit_code == 0, done.output
    assert "My Page: http://127.0.0.1:8765/mypage/" in done.output
    assert "Point Navi: http://127.0.0.1:8765/navi/142018" in done.output
    assert stopped == ["http://127.0.0.1:8765"]
