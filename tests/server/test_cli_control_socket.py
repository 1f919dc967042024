"""Two `mkp-server run` on one host: gunicorn (25.1 and later) would give both the same control
socket (one path per user, ``$XDG_RUNTIME_DIR/gunicorn.ctl`` or ``~/.gunicorn/gunicorn.ctl``), the
second taking it over, so that `gunicornc` would stop or scale the wrong server. mkp does not use
it: every run switches it off."""

from __future__ import annotations

import pytest
import requests

from server.launcher import start_server

pytestmark = pytest.mark.slow


def test_two_servers_on_one_host_leave_no_shared_control_socket(tmp_path):
    home, runtime = tmp_path / "home", tmp_path / "run"
    home.mkdir()
    runtime.mkdir(mode=0o700)
    env = {"HOME": str(home), "XDG_RUNTIME_DIR": str(runtime)}
    servers = []
    try:
        for name in ("a", "b"):
            logs = tmp_path / name
            logs.mkdir()
            servers.append(start_server(f"sqlite:///{logs}/mkp.sqlite3", logs, extra_env=env))
        for server in servers:
            assert requests.get(server.url + "/healthz", timeout=5).status_code == 200
        made = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*.ctl"))
        assert made == []
    finally:
        for server in servers:
            server.stop()
    for server in servers:
        assert "control socket" not in server.log_path.read_text(errors="replace").lower()
