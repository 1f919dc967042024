"""The main job: `mkp-demo` runs the whole system end to end and exits 0."""

import json
import subprocess
import sys


def test_demo_runs_end_to_end():
    done = subprocess.run([sys.executable, "-m", "demo.cli", "--json"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    summary = json.loads(done.stdout)
    assert summary["ok"] is True
    assert all(step["ok"] for step in summary["steps"])
    assert any("balance 700" in step["detail"] for step in summary["steps"])
