"""Two terminals scan one voucher at the same moment, as processes, against `mkp-server run` with
two gunicorn workers: exactly one `mkp-agent voucher redeem` is accepted, the other is told
`voucher_used` (on PostgreSQL the workers really run side by side). Slow: it starts processes."""

from __future__ import annotations

import json
import subprocess
import threading

import pytest
from mkp_testing import BIN, platform_process

from drivers.printer.render import render
from drivers.profiles import load_printer_profile

pytestmark = pytest.mark.slow


def test_two_terminals_at_once_one_redemption(database_url, tmp_path):
    with platform_process(database_url, tmp_path, workers=2) as platform:
        platform.api.post("/v1/point-codes/142018/rules", {"vouchers": True})
        homes = []
        for n in range(2):
            home = tmp_path / f"t{n}" / "home"
            done = platform.provision(home, code=platform.new_code(f"counter {n}")["code"])
            assert (home / "agent.toml").exists(), done.stdout + done.stderr
            homes.append(home)
        out = tmp_path / "v.bin"
        issued = platform.admin(
            "voucher", "issue", "--point-code", "142018", "--amount", "500", "--printer-at", f"file:{out}"
        )
        assert issued.returncode == 0, issued.stderr
        png = tmp_path / "v.png"
        render(load_printer_profile("epson-tm-t88vi"), out.read_bytes()).image.save(png)
        gate = threading.Barrier(2)
        answers: list = [None, None]

        def scan(i: int) -> None:
            gate.wait()
            answers[i] = subprocess.run(
                [
                    str(BIN / "mkp-agent"),
                    "voucher",
                    "redeem",
                    "--home",
                    str(homes[i]),
                    "--image",
                    str(png),
                    "--json",
                ],
                capture_output=True,
                text=True,
                timeout=120,
            )

        threads = [threading.Thread(target=scan, args=(i,)) for i in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(150)
        codes = sorted(a.returncode for a in answers)
        assert codes == [0, 1], [(a.stdout, a.stderr) for a in answers]
        loser = next(a for a in answers if a.returncode == 1)
        assert json.loads(loser.stdout)["error"] == "voucher_used"
        report = platform.api.get("/v1/ledger/verify")
        assert report["ok"], report["breaches"]
