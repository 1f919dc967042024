"""Fixtures for provisioning: a real server with a test JPKI CA and its CRL, an operator, a place.

Commands run the way a technician or an operator runs them: the installed console scripts in
subprocesses, talking HTTP to a server process.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import Encoding

from drivers.card.virtual.ca import TestCA
from mkp_core.client import ApiClient, BearerToken
from server.launcher import ServerProcess, run_server_command, start_server

BIN = Path(sys.executable).parent
PLACE = "yokosuka-museum"


def run(name: str, *args: str, env: dict[str, str] | None = None, timeout: float = 90) -> subprocess.CompletedProcess:
    """Run a console script of this virtualenv; stdout and stderr as text."""
    exe = str(BIN / name) if (BIN / name).exists() else name
    return subprocess.run([exe, *args], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})  # fmt: skip


@dataclass
class Live:
    """A running server on its own database, with 横須賀市, a museum and a current CRL."""

    server: ServerProcess
    database_url: str
    token: str
    tmp: Path
    ca: TestCA

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def api(self) -> ApiClient:
        return ApiClient(self.url, BearerToken(self.token))

    @property
    def admin_env(self) -> dict[str, str]:
        return {"MKP_SERVER": self.url, "MKP_TOKEN": self.token, "MKP_ADMIN_CONFIG": str(self.tmp / "none.toml")}

    def new_code(self, name: str = "counter 1", **extra: object) -> dict:
        return self.api.post("/v1/terminals/enrollments", {"place": PLACE, "name": name, **extra})

    def admin(self, *args: str) -> subprocess.CompletedProcess:
        return run("mkp-admin", *args, env=self.admin_env)

    def provision(self, home: Path, *args: str, code: str | None = None, server: str | None = None,
                  printer: bool = True) -> subprocess.CompletedProcess:  # fmt: skip
        """mkp-provision against this server with a file printer; extra ``args`` go last."""
        argv = ["--home", str(home), "--server", server or self.url]
        if code:
            argv += ["--code", code]
        if printer:
            argv += ["--printer", "epson-tm-t88vi", "--printer-at", f"file:{home.parent / 'receipt.bin'}"]
        return run("mkp-provision", *argv, *args)


@pytest.fixture
def live(database_url: str, tmp_path: Path) -> Iterator[Live]:
    ca = TestCA.init(tmp_path / "jpki-ca")
    server = start_server(database_url, tmp_path, extra_env={
        "MKP_JPKI_ANCHOR_FILES": str(ca.cert_path), "MKP_TERMINAL_CA_DIR": str(tmp_path / "terminal-ca")})  # fmt: skip
    try:
        token = run_server_command("create-operator", "central", env=server.env)
        env = Live(server, database_url, token, tmp_path, ca)
        api = env.api
        api.post("/v1/municipalities", {"code": "142018"})
        api.post("/v1/places", {"place_id": PLACE, "name": "横須賀美術館", "kind": "museum", "municipality": "142018"})
        api.post("/v1/crls", {"crl": ca.issue_crl().public_bytes(Encoding.PEM).decode()})
        yield env
    finally:
        server.stop()


# --- card reader ---------------------------------------------------------------------------------

VPCD_LOCK = Path(os.environ.get("MKP_VPCD_LOCK", "/tmp/mkp-vpcd.lock"))


def _readers() -> list[str] | None:
    from drivers.card.pcsc import PcscBackend
    from drivers.card.reader import CardError

    try:
        return PcscBackend().readers()
    except CardError:
        return None


@pytest.fixture
def virtual_reader() -> Iterator[str | None]:
    """The vpcd virtual reader's name, with pcscd started for the test if needed; None if unavailable.

    A pcscd started here is stopped at the end, under the same lock the card tests take, so
    neither pulls the daemon from under the other.
    """
    if shutil.which("pcscd") is None:
        yield None
        return
    with VPCD_LOCK.open("a") as lock:
        deadline = time.monotonic() + 240
        while True:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    pytest.fail(f"another test session holds {VPCD_LOCK} for over 4 minutes")
                time.sleep(0.2)
        proc = None
        if _readers() is None:
            proc = subprocess.Popen(["pcscd", "-f"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                    stdin=subprocess.DEVNULL)  # fmt: skip
            end = time.monotonic() + 10
            while not _readers() and time.monotonic() < end:
                time.sleep(0.05)
        names = [n for n in _readers() or [] if n.startswith("Virtual PCD")]
        try:
            yield names[0] if names else None
        finally:
            if proc is not None:
                proc.terminate()
                proc.wait(10)
            fcntl.flock(lock, fcntl.LOCK_UN)
