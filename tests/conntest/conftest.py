"""Fixtures for the connection test: the in-process platform (tests/conftest.py, SQLite and
PostgreSQL) with a second city, and terminals enrolled through the real enroll protocol."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from conntest_helpers import SAPPORO_PLACE, SimTerminal, body
from mkp_testing import PLACE, Platform, served_in_process, server_settings

from agent.conntest import report_path
from mkp_core.client import ApiClient
from mkp_core.signing import generate_terminal_key
from provisioning.enroll import make_csr
from server.app import create_app
from server.config import ServerConfig


@dataclass
class Town:
    """The platform with 横須賀市's museum and 札幌市's library, and its terminals."""

    platform: Platform
    url: str
    terminals: list[SimTerminal] = field(default_factory=list)

    @property
    def api(self) -> ApiClient:
        return self.platform.api

    def enroll(self, count: int = 1, place: str = PLACE) -> list[SimTerminal]:
        made = []
        for n in range(count):
            code = self.api.post(
                "/v1/terminals/enrollments",
                {"place": place, "name": f"counter {len(self.terminals) + n + 1}"},
            )["code"]
            key = generate_terminal_key()
            answer = ApiClient(self.url).request("POST", "/v1/enroll", {"code": code, "csr": make_csr(key)})
            made.append(SimTerminal(answer["terminal_id"], key, place))
        self.terminals += made
        return made

    def schedule(
        self, starts_at: datetime | None = None, window: int = 60, municipality: str | None = None
    ) -> dict:
        body: dict[str, Any] = {
            "starts_at": (starts_at or datetime.now(UTC)).isoformat(),
            "window_seconds": window,
        }
        if municipality:
            body["municipality"] = municipality
        return self.api.post("/v1/conntests", body)

    def schedule_in_the_past(self, ago: timedelta, window: int) -> dict:
        """A test whose window ended ``ago`` (scheduled, as it were, back then: the service takes ``now``)."""
        from server.conntest import service
        from server.db.engine import make_engine, write
        from server.platform.operators.service import Operator

        then = datetime.now(UTC) - ago - timedelta(seconds=window)
        engine = make_engine(self.platform.database_url)
        with write(engine) as conn:
            test = service.schedule(conn, Operator(1, "central", None), then, window, None, now=then)
        engine.dispose()
        return self.api.get(f"/v1/conntests/{test['id']}")["test"]

    def report(
        self, terminal: SimTerminal, test_id: int, data: dict | None = None, url: str | None = None
    ) -> Any:
        return terminal.client(url or self.url).request("POST", report_path(test_id), data or body())

    def status(self, test_id: int) -> dict:
        return self.api.get(f"/v1/conntests/{test_id}")

    @contextmanager
    def restarted(self) -> Iterator[str]:
        """A second server app on the same database (the first one's in-memory state is gone)."""
        p = self.platform
        app = create_app(
            ServerConfig(database_url=p.database_url, testing=True, **server_settings(p.tmp, p.ca))
        )
        try:
            with served_in_process(app) as url:
                yield url
        finally:
            app.extensions["mkp.engine"].dispose()


@pytest.fixture
def town(platform: Platform) -> Town:
    platform.api.post("/v1/municipalities", {"code": "011002"})
    platform.api.post(
        "/v1/places",
        {
            "place_id": SAPPORO_PLACE,
            "name": "札幌市中央図書館",
            "kind": "library",
            "municipality": "011002",
            "street": "中央区南22条西13丁目",
        },
    )
    return Town(platform, platform.url)
