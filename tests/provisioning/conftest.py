"""Fixtures for provisioning: a real server with a test JPKI CA and its CRL, an operator, a place.

Commands run the way a technician or an operator runs them: the installed console scripts in
subprocesses, talking HTTP to a server process.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import Encoding
from mkp_testing import cli as run

from drivers.card.virtual.ca import TestCA
from drivers.card.virtual.pcscd import PcscDaemon
from drivers.card.virtual.vpcd import reader_name
from mkp_core.client import ApiClient, BearerToken
from server.launcher import ServerProcess, run_server_command, start_server

PLACE = "yokosuka-museum"


@pytest.fixture
def cli() -> Callable[..., subprocess.CompletedProcess]:
    """``cli("mkp-provision", *args, env=...)``: run a console script as a user would."""
    return run


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
        return {
            "MKP_SERVER": self.url,
            "MKP_TOKEN": self.token,
            "MKP_ADMIN_CONFIG": str(self.tmp / "none.toml"),
        }

    def new_code(self, name: str = "counter 1", **extra: object) -> dict:
        return self.api.post("/v1/terminals/enrollments", {"place": PLACE, "name": name, **extra})

    def admin(self, *args: str) -> subprocess.CompletedProcess:
        return run("mkp-admin", *args, env=self.admin_env)

    def provision(
        self, home: Path, *args: str, code: str | None = None, server: str | None = None, printer: bool = True
    ) -> subprocess.CompletedProcess:
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
    server = start_server(
        database_url,
        tmp_path,
        extra_env={
            "MKP_JPKI_ANCHOR_FILES": str(ca.cert_path),
            "MKP_TERMINAL_CA_DIR": str(tmp_path / "terminal-ca"),
        },
    )
    try:
        token = run_server_command("create-operator", "central", env=server.env)
        env = Live(server, database_url, token, tmp_path, ca)
        api = env.api
        api.post("/v1/municipalities", {"code": "142018"})
        api.post(
            "/v1/places",
            {"place_id": PLACE, "name": "横須賀美術館", "kind": "museum", "municipality": "142018"},
        )
        api.post("/v1/crls", {"crl": ca.issue_crl().public_bytes(Encoding.PEM).decode()})
        yield env
    finally:
        server.stop()


# --- card reader ---------------------------------------------------------------------------------


@pytest.fixture
def virtual_reader(pcscd: PcscDaemon, vpcd_lock: None) -> str:
    """The vpcd virtual reader's name, with pcscd running (the shared fixtures start it if needed)."""
    return reader_name(0)
