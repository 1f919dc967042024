"""The throwaway PostgreSQL server a test session starts when MKP_TEST_POSTGRES_URL is not set:
one server for the whole session (shared by its xdist workers), on a unix socket only, and gone
with its folder when the session ends. Each case runs pytest on a tiny test file in a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
TESTS = Path(__file__).parent

TINY_TESTS = """
import json, os
from pathlib import Path

import pytest
from sqlalchemy import create_engine


@pytest.mark.parametrize("n", range(4))
def test_server(postgres_admin_url, n):
    engine = create_engine(postgres_admin_url.replace("postgresql://", "postgresql+psycopg://"))
    with engine.connect() as conn:
        seen = {name: conn.exec_driver_sql(f"SHOW {name}").scalar()
                for name in ("data_directory", "listen_addresses", "unix_socket_directories")}
    engine.dispose()
    seen["postmaster"] = int((Path(seen["data_directory"]) / "postmaster.pid").read_text().split()[0])
    seen["worker"] = os.environ.get("PYTEST_XDIST_WORKER", "main")
    (Path(os.environ["SEEN"]) / f"{seen['worker']}-{n}.json").write_text(json.dumps(seen))
"""


def _alive(pid: int) -> bool:
    """Is ``pid`` a running process (not gone, and not a zombie its new parent has yet to reap)?"""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "\nState:\tZ" not in status


def test_one_server_per_session_on_a_socket_and_gone_at_the_end(tmp_path: Path) -> None:
    (tmp_path / "test_tiny.py").write_text(TINY_TESTS)
    (tmp_path / "pytest.ini").write_text("[pytest]\n")  # not the project's addopts
    seen_dir = tmp_path / "seen"
    seen_dir.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("MKP_TEST_POSTGRES_URL", "PYTEST_XDIST_WORKER")}
    env["SEEN"] = str(seen_dir)
    env["PYTHONPATH"] = os.pathsep.join(p for p in [str(TESTS), env.get("PYTHONPATH")] if p)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "throwaway_postgres",
            "-n",
            "2",
            "-q",
            "-p",
            "no:cacheprovider",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,  # two workers starting on a busy machine
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "4 passed" in done.stdout

    seen = [json.loads(p.read_text()) for p in seen_dir.iterdir()]
    assert len(seen) == 4
    assert {s["worker"] for s in seen} == {"gw0", "gw1"}
    # one server for the whole session, whichever worker asked first
    assert len({(s["data_directory"], s["postmaster"]) for s in seen}) == 1
    server = seen[0]
    assert server["listen_addresses"] == ""  # no TCP port
    assert Path(server["unix_socket_directories"]) == Path(server["data_directory"]).parent
    # and nothing of it is left: no process, no folder
    assert not _alive(server["postmaster"])
    assert not Path(server["unix_socket_directories"]).exists()
