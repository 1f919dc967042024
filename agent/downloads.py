"""Signed downloads of the terminal's config, trust list and CRL, fetched only when they changed.

Provisioning calls it once; ``mkp-agent run`` calls it on a timer, so a revoked card or a new
point code reaches the counter without anyone touching the terminal. Every request goes through
:class:`mkp_core.client.ApiClient`, signed with the terminal key; a refusal comes back as the
server's error ``code``, which callers act on (never on the message text).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agent.home import Home, read_json, write_atomic
from mkp_core.client import DEFAULT_TIMEOUT, ApiClient, ApiError, Unreachable
from mkp_core.signing import PrivateKey, TerminalAuth


@dataclass
class Download:
    """One file fetched from the server.

    ``status`` is 'new', 'unchanged', 'none' (the server has none yet: 404 ``no_crl``) or
    'failed'. ``code`` is the error code of a failed or absent download (``server_unreachable``,
    ``revoked_key``...), ``detail`` a line for people.
    """

    name: str
    status: str
    detail: str = ""
    data: Any = None
    code: str = ""

    @property
    def reason(self) -> str:
        """``code: detail`` for a refusal, else the detail alone: what a log line shows."""
        return f"{self.code}: {self.detail}" if self.code else self.detail


@dataclass
class Downloads:
    items: list[Download] = field(default_factory=list)

    def get(self, name: str) -> Download | None:
        return next((d for d in self.items if d.name == name), None)

    def failed_codes(self) -> set[str]:
        return {d.code for d in self.items if d.status == "failed"}


DOWNLOADS: tuple[tuple[str, str], ...] = (
    ("config", "/v1/terminal/config"),
    ("trust-list", "/v1/terminal/trust-list"),
    ("crl", "/v1/terminal/crl"),
)


def terminal_client(
    server: str,
    terminal_id: str,
    key: PrivateKey,
    clock: Callable[[], float] = time.time,
    timeout: float = DEFAULT_TIMEOUT,
) -> ApiClient:
    """A client whose every request is signed with the terminal key (RFC 9421).

    ``clock`` (seconds since the epoch) stands in for this computer's clock in tests.
    """
    return ApiClient(server, TerminalAuth(terminal_id, key, clock=clock), timeout=timeout)


def _target(home: Home, name: str) -> Path:
    return {"config": home.config, "trust-list": home.trust_list, "crl": home.crl}[name]


def refresh_downloads(client: ApiClient, home: Home) -> Downloads:
    """Fetch config, trust list and CRL into HOME; send stored ETags so unchanged files are not re-sent.

    Once the server cannot be reached, the files after it are not tried: they fail the same way.
    """
    etags: dict[str, str] = read_json(home.etags) or {}
    result = Downloads()
    unreachable: Unreachable | None = None
    for name, path in DOWNLOADS:
        target = _target(home, name)
        if unreachable is not None:
            result.items.append(Download(name, "failed", unreachable.message, code=unreachable.code))
            continue
        try:
            result.items.append(_fetch(client, name, path, target, etags))
        except Unreachable as e:
            unreachable = e
            result.items.append(Download(name, "failed", e.message, code=e.code))
        except ApiError as e:
            if (e.status, e.code) == (404, "no_crl"):
                target.unlink(missing_ok=True)
                etags.pop(name, None)
                result.items.append(Download(name, "none", e.message, code=e.code))
            else:
                result.items.append(Download(name, "failed", e.message, code=e.code))
    write_atomic(home.etags, json.dumps(etags, indent=2).encode())
    return result


def _fetch(client: ApiClient, name: str, path: str, target: Path, etags: dict[str, str]) -> Download:
    """One conditional GET: 304 keeps the file we have, 200 replaces it (and its ETag)."""
    headers = {"If-None-Match": etags[name]} if etags.get(name) and target.exists() else {}
    response = client.send("GET", path, headers=headers)
    if response.status_code == 304:
        return Download(name, "unchanged", "unchanged since the last download", read_json(target))
    try:
        data = response.json()
    except ValueError:
        return Download(name, "failed", f"{path}: the reply is not JSON", code="http_error")
    write_atomic(target, json.dumps(data, ensure_ascii=False, indent=2).encode())
    if response.headers.get("ETag"):
        etags[name] = response.headers["ETag"]
    return Download(name, "new", "downloaded", data)
