"""Helpers every test folder shares (on sys.path through setup.cfg's pytest `pythonpath`)."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import requests
from click.testing import CliRunner, Result
from requests.adapters import BaseAdapter
from requests.structures import CaseInsensitiveDict
from werkzeug.test import Client

from drivers.card.virtual.vpcd import reader_name
from mkp_core import client as mkp_client

BIN = Path(sys.executable).parent
READER0 = reader_name(0)
READER1 = reader_name(1)


def cli(
    name: str, *args: str, env: dict[str, str] | None = None, timeout: float = 90
) -> subprocess.CompletedProcess:
    """Run one of this virtualenv's console scripts the way a user does; stdout and stderr as text."""
    exe = BIN / name
    return subprocess.run(
        [str(exe) if exe.exists() else name, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


def invoke(command: Any, *args: str, env: dict[str, str] | None = None, input: str | None = None) -> Result:
    """Run a click command in this process as a user would run it: ``result.exit_code``, ``.stdout``, ``.stderr``.

    Exceptions a command lets escape are re-raised, so a traceback is a test failure, not an exit code.
    """
    return CliRunner().invoke(command, list(args), env=env, input=input, catch_exceptions=False)


def run_in_process(
    command: Any, *args: str, env: dict[str, str] | None = None, input: str | None = None
) -> subprocess.CompletedProcess:
    """:func:`invoke`, answered in the shape of :func:`cli` (``returncode``, ``stdout``, ``stderr``)."""
    result = invoke(command, *args, env=env, input=input)
    return subprocess.CompletedProcess(
        [getattr(command, "name", "cli"), *args], result.exit_code, result.stdout, result.stderr
    )


class WsgiTransport(BaseAdapter):
    """A requests transport that hands each request to a WSGI app in this process.

    The app is the real server (``create_app``); only the socket is left out. The request goes
    through werkzeug's test client with its exact target (``RAW_URI``), headers and body bytes, so
    bearer tokens and RFC 9421 signatures are checked as they would be over the network.
    requests-wsgi-adapter did this once but is unmaintained since 2019; this is its small core.
    """

    def __init__(self, app: Any) -> None:
        super().__init__()
        self.client = Client(app)

    def send(self, request: requests.PreparedRequest, stream: bool = False, **_: Any) -> requests.Response:
        scheme, _, rest = str(request.url).partition("://")
        host, _, _ = rest.partition("/")
        body = request.body or b""
        answer = self.client.open(
            path=request.path_url,
            base_url=f"{scheme}://{host}",
            method=str(request.method),
            headers=list(request.headers.items()),
            data=body.encode() if isinstance(body, str) else body,
        )
        response = requests.Response()
        response.status_code = answer.status_code
        response.reason = answer.status.partition(" ")[2]
        response.headers = CaseInsensitiveDict(answer.headers)
        response._content = answer.get_data()
        response._content_consumed = True
        response.encoding = requests.utils.get_encoding_from_headers(response.headers)
        response.url = str(request.url)
        response.request = request
        response.connection = self
        return response

    def close(self) -> None:
        pass


@contextmanager
def served_in_process(app: Any) -> Iterator[str]:
    """A base URL whose requests, from any session mkp makes, reach ``app`` in this process."""
    url = f"http://mkp-{uuid.uuid4().hex[:8]}.test"
    mkp_client.mount_transport(url, WsgiTransport(app))
    try:
        yield url
    finally:
        mkp_client.unmount_transport(url)
