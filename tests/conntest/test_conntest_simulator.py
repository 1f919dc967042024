"""bench/conntest.py at a small scale, in the fast set: 50 simulated terminals, each enrolled with
its own key, over real HTTP (the app behind werkzeug's server in a thread of this process), on
both databases; nothing a terminal was given a receipt for is missing from the server's count."""

from __future__ import annotations

import asyncio
import importlib.util
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from mkp_testing import server_settings
from werkzeug.serving import make_server

from server.app import create_app
from server.config import ServerConfig

BENCH = Path(__file__).resolve().parents[2] / "bench" / "conntest.py"


def simulator():
    spec = importlib.util.spec_from_file_location("mkp_bench_conntest", BENCH)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def http_server(platform) -> Iterator[str]:
    app = create_app(
        ServerConfig(
            database_url=platform.database_url, testing=True, **server_settings(platform.tmp, platform.ca)
        )
    )
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(10)
        app.extensions["mkp.engine"].dispose()


def test_fifty_simulated_terminals_none_lost(platform, http_server):
    lines: list[str] = []
    figures = asyncio.run(
        simulator().simulate(
            http_server,
            platform.token,
            50,
            2,
            lead=3,
            silent=0.04,
            failing=0.04,
            concurrency=16,
            connections=32,
            database_url=platform.database_url,
            out=lines.append,
        )
    )
    text = "\n".join(lines)
    assert figures["errors"] == [], text
    assert figures["lost"] == 0 and figures["kept"] == figures["expected"] == 48, text
    assert figures["silent_listed"], text  # the two silent terminals are the report's never-reported
    assert {(f["check"], f["code"], f["count"]) for f in figures["status"]["failures"]} == {
        ("reader", "no_reader", 2)
    }
    for figure in ("enroll:", "announcement:", "window:", "report (signed):", "report:"):
        assert figure in text
