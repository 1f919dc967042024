"""`mkp-admin voucher issue | reprint` where the printing libraries are not installed (the base
install, without mkp[agent]): one line naming what to install, exit 2, and nothing asked of the
server, so no voucher is issued that could not be printed.

Each run is its own Python process in which the library cannot be imported, as on such a machine.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from server.launcher import free_port

RUN_WITHOUT = (
    "import sys\n"
    "for name in sys.argv[1].split(','):\n"
    "    sys.modules[name] = None  # import fails: ModuleNotFoundError\n"
    "from mkp_admin.cli import main\n"
    "sys.argv[0] = 'mkp-admin'\n"
    "main(sys.argv[2:])\n"
)


def admin_without(missing: str, *args: str, tmp_path) -> subprocess.CompletedProcess:
    """mkp-admin ``args`` in a process where the modules ``missing`` cannot be imported; the server
    it names listens nowhere (a request would end in exit 3)."""
    env = {
        "MKP_SERVER": f"http://127.0.0.1:{free_port()}",
        "MKP_TOKEN": "mkp_op_x",
        "MKP_ADMIN_CONFIG": str(tmp_path / "none.toml"),
    }
    return subprocess.run(
        [sys.executable, "-c", RUN_WITHOUT, missing, *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **env},
        cwd=tmp_path,
    )


@pytest.mark.slow
@pytest.mark.parametrize(
    ("missing", "output", "named"),
    [
        ("escpos", ["--printer-at", "file:out.bin"], "escpos"),
        ("escpos", ["--pdf", "out.pdf"], "escpos"),
        ("PIL", ["--pdf", "out.pdf"], "PIL"),
        ("numpy", ["--pdf", "out.pdf"], "numpy"),
    ],
)
def test_issue_says_what_to_install_and_issues_nothing(tmp_path, missing, output, named):
    done = admin_without(
        missing, "voucher", "issue", "--point-code", "142018", "--amount", "500", *output, tmp_path=tmp_path
    )
    assert done.returncode == 2, done.stderr
    assert done.stderr == f"error: printing needs {named}: install mkp[agent] on this machine\n"
    assert done.stdout == ""


@pytest.mark.slow
def test_reprint_says_what_to_install(tmp_path):
    done = admin_without("escpos", "voucher", "reprint", "K1-000001", "--pdf", "out.pdf", tmp_path=tmp_path)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr == "error: printing needs escpos: install mkp[agent] on this machine\n"
