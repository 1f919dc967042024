"""Fixtures for provisioning: the platform a terminal enrolls on, in-process, and the card reader.

``platform`` is the real server app on its own database, reached through an in-process transport;
mkp-provision, mkp-admin and mkp-agent run in-process through click. ``live_server`` (tests/conftest.py)
is the same with real processes, for the tests where a process is the point.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial
from pathlib import Path

import pytest
from mkp_testing import Platform, migrate, served_in_process, server_settings

from drivers.card.virtual.ca import TestCA
from drivers.card.virtual.pcscd import PcscDaemon
from drivers.card.virtual.vpcd import reader_name
from mkp_core.client import unmount_transport
from server.app import create_app
from server.config import ServerConfig
from server.db.engine import make_engine, write
from server.operators.service import create_operator


@pytest.fixture
def platform(database_url: str, tmp_path: Path) -> Iterator[Platform]:
    """The server app with 横須賀市, a museum and a current CRL of a test JPKI CA; a central operator."""
    ca = TestCA.init(tmp_path / "jpki-ca")
    engine = make_engine(database_url)
    migrate(engine)
    with write(engine) as conn:
        token = create_operator(conn, "central")
    engine.dispose()
    app = create_app(ServerConfig(database_url=database_url, testing=True, **server_settings(tmp_path, ca)))
    try:
        with served_in_process(app) as url:
            stop = partial(unmount_transport, url)  # nothing answers at the URL any more
            yield Platform(
                url, token, database_url, tmp_path, ca, in_process=True, stop_server=stop
            ).furnish()
    finally:
        app.extensions["mkp.engine"].dispose()


@pytest.fixture
def virtual_reader(pcscd: PcscDaemon, vpcd_lock: None) -> str:
    """The vpcd virtual reader's name, with pcscd running (the shared fixtures start it if needed)."""
    return reader_name(0)
