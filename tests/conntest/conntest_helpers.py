"""What the connection-test tests share besides fixtures: a place in 札幌市, simulated terminals,
checklists and report bodies (on sys.path beside tests/conntest/conftest.py)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from agent.checklist import CheckResult
from agent.conntest import report_body
from agent.downloads import terminal_client
from mkp_core.client import ApiClient
from mkp_core.signing import PrivateKey

SAPPORO_PLACE = "sapporo-library"


@dataclass
class SimTerminal:
    terminal_id: str
    key: PrivateKey
    place: str

    def client(self, url: str) -> ApiClient:
        return terminal_client(url, self.terminal_id, self.key)


def good_checks(**failed: str) -> list[CheckResult]:
    """A checklist where every check passed, except those named (check=code)."""
    names = ["Signed request", "Clock", "Revocation list (CRL)", "Card reader", "Printer", "Software"]
    wire = ["signed_request", "clock", "crl", "reader", "printer", "software"]
    out = []
    for name, key in zip(names, wire, strict=True):
        code = failed.get(key)
        out.append(
            CheckResult(name, code is None, True, f"{key} {'failed' if code else 'fine'}", code=code or "")
        )
    return out


def body(latency_ms: int = 20, **failed: str) -> dict[str, Any]:
    return report_body(
        good_checks(**failed),
        started_at=datetime.now(UTC),
        software_version="0.1.0",
        latency_ms=latency_ms,
        clock_offset_ms=0,
        crl_version="abc",
    )


def soon(seconds: float = 0) -> datetime:
    return datetime.now(UTC) + timedelta(seconds=seconds)
