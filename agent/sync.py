"""Signed downloads of the terminal's config, trust list and CRL, fetched only when they changed.

Provisioning calls it once; ``mkp-agent run`` calls it on a timer, so a revoked card or a new
point code reaches the counter without anyone touching the terminal.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from agent.home import Home, read_json, write_atomic
from mkp_core.signing import PrivateKey, TerminalAuth

TIMEOUT = 10.0


@dataclass
class Download:
    """One file fetched from the server: ``status`` is 'new', 'unchanged', 'none' (404) or 'failed'."""

    name: str
    status: str
    detail: str = ""
    data: Any = None


@dataclass
class Downloads:
    items: list[Download] = field(default_factory=list)

    def get(self, name: str) -> Download | None:
        return next((d for d in self.items if d.name == name), None)


DOWNLOADS: tuple[tuple[str, str], ...] = (
    ("config", "/v1/terminal/config"),
    ("trust-list", "/v1/terminal/trust-list"),
    ("crl", "/v1/terminal/crl"),
)


def signed_session(
    terminal_id: str, key: PrivateKey, clock: Callable[[], float] | None = None
) -> requests.Session:
    """A session whose every request is signed with the terminal key (RFC 9421)."""
    session = requests.Session()
    session.auth = TerminalAuth(terminal_id, key, clock=clock) if clock else TerminalAuth(terminal_id, key)
    return session


def _target(home: Home, name: str) -> Path:
    return {"config": home.config, "trust-list": home.trust_list, "crl": home.crl}[name]


def refresh_downloads(server: str, terminal_id: str, key: PrivateKey, home: Home) -> Downloads:
    """Fetch config, trust list and CRL into HOME; send stored ETags so unchanged files are not re-sent."""
    etags: dict[str, str] = read_json(home.etags) or {}
    session = signed_session(terminal_id, key)
    result = Downloads()
    base = server.rstrip("/")
    for name, path in DOWNLOADS:
        target = _target(home, name)
        headers = {}
        if etags.get(name) and target.exists():
            headers["If-None-Match"] = etags[name]
        try:
            response = session.get(base + path, headers=headers, timeout=TIMEOUT)
        except requests.RequestException as e:
            result.items.append(
                Download(name, "failed", f"cannot reach the server at {server}: {type(e).__name__}")
            )
            continue
        if response.status_code == 304:
            result.items.append(
                Download(name, "unchanged", "unchanged since the last download", read_json(target))
            )
            continue
        if response.status_code >= 400:
            code, message = _error_of(response)
            status = "none" if (response.status_code, code) == (404, "no_crl") else "failed"
            if status == "none":
                target.unlink(missing_ok=True)
                etags.pop(name, None)
            result.items.append(Download(name, status, f"{code}: {message}"))
            continue
        try:
            data = response.json()
        except ValueError:
            result.items.append(Download(name, "failed", f"HTTP {response.status_code}: not JSON"))
            continue
        write_atomic(target, json.dumps(data, ensure_ascii=False, indent=2).encode())
        if response.headers.get("ETag"):
            etags[name] = response.headers["ETag"]
        result.items.append(Download(name, "new", "downloaded", data))
    write_atomic(home.etags, json.dumps(etags, indent=2).encode())
    return result


def _error_of(response: requests.Response) -> tuple[str, str]:
    try:
        error = response.json()["error"]
        return str(error["code"]), str(error["message"])
    except (ValueError, KeyError, TypeError):
        return "http_error", f"HTTP {response.status_code}"
