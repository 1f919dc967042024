"""Start a real server process on a free port and wait until it answers (demo, tests, benches)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import requests

#: How long a started server may take to answer /healthz while its process runs (one that exits
#: is reported at once). Its workers import the app and open the database; on a machine busy with
#: other work that took over 30 s, so a wait that short failed healthy starts.
START_SECONDS = 90


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def server_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "server.cli", *args]


def run_server_command(*args: str, env: dict[str, str] | None = None) -> str:
    """Run an `mkp-server` subcommand; its stdout, or RuntimeError with its error line."""
    done = subprocess.run(server_command(*args), capture_output=True, text=True, env=env, timeout=120)
    if done.returncode != 0:
        raise RuntimeError(f"mkp-server {args[0]} failed: {done.stderr.strip() or done.stdout.strip()}")
    return done.stdout.strip()


class ServerHandle(Protocol):
    """What :class:`ServerProcess` needs of the process that serves: a ``subprocess.Popen``, or
    anything that answers the same (the tests start ``mkp-server run`` from a preloaded fork)."""

    @property
    def pid(self) -> int: ...

    def poll(self) -> int | None: ...

    def terminate(self) -> None: ...

    def kill(self) -> None: ...

    def wait(self, timeout: float | None = None) -> int: ...


@dataclass
class ServerProcess:
    url: str
    process: ServerHandle
    log_path: Path
    env: dict[str, str] = field(default_factory=dict)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def server_env(database_url: str, log_dir: Path, extra_env: dict[str, str] | None = None) -> dict[str, str]:
    """The environment `mkp-server init` and `run` get from :func:`start_server`: this process's,
    with the terminal CA, secrets and release folders under ``log_dir`` unless the caller names
    them (the defaults are relative to the working directory: a checkout's var/)."""
    return {
        "MKP_TERMINAL_CA_DIR": str(Path(log_dir) / "terminal-ca"),
        "MKP_SECRETS_DIR": str(Path(log_dir) / "secrets"),
        "MKP_RELEASE_DIR": str(Path(log_dir) / "releases"),
        **os.environ,
        **(extra_env or {}),
        "MKP_DATABASE_URL": database_url,
    }


def run_command(port: int, workers: int, threads: int) -> list[str]:
    """`mkp-server run`'s arguments (after the program's name) to listen on ``port`` of this host."""
    return ["run", "--bind", f"127.0.0.1:{port}", "--workers", str(workers), "--threads", str(threads)]


def start_server(
    database_url: str,
    log_dir: Path,
    workers: int = 1,
    threads: int = 4,
    extra_env: dict[str, str] | None = None,
    port: int | None = None,
) -> ServerProcess:
    """`mkp-server init` then `mkp-server run` on a free port; returns once /healthz answers.

    The terminal CA and the release folder go under ``log_dir`` unless the caller names them
    (see :func:`server_env`). ``port``: where to listen (default: a free one); the same port
    again brings a stopped server back at its address.
    """
    env = server_env(database_url, log_dir, extra_env)
    run_server_command("init", env=env)
    port = port or free_port()
    log_path = Path(log_dir) / f"server-{port}.log"
    log = log_path.open("wb")
    process = subprocess.Popen(
        server_command(*run_command(port, workers, threads)), env=env, stdout=log, stderr=subprocess.STDOUT
    )
    log.close()
    return answering(ServerProcess(f"http://127.0.0.1:{port}", process, log_path, env))


def answering(server: ServerProcess) -> ServerProcess:
    """``server`` once its /healthz answers 200; RuntimeError (the server stopped) if its process
    exits first (at once, with the log's end) or it does not answer within START_SECONDS."""
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            log = server.log_path.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"server exited at start-up: {log}")
        try:
            if requests.get(server.url + "/healthz", timeout=1).status_code == 200:
                return server
        except requests.RequestException:
            pass
        time.sleep(0.05)
    server.stop()
    raise RuntimeError(f"server did not answer within {START_SECONDS} s; log: {server.log_path}")
