"""When the server last answered this terminal: the offline limits count their hours from it.

Kept in the home folder (``contact.json``) so it survives restarts, and shared by everything on
the terminal that may work offline: the counter's card spends and the vouchers it accepts.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from agent.home import Home, read_json, write_atomic


def _file(home: Home) -> Path:
    return home.root / "contact.json"


def last_contact(home: Home) -> datetime | None:
    """When the server last answered (a refusal is an answer); before any call, the config download."""
    data = read_json(_file(home)) or {}
    if data.get("at"):
        return datetime.fromisoformat(data["at"])
    try:  # never called yet: the config download (provisioning, mkp-agent run) was the last contact
        return datetime.fromtimestamp(home.config.stat().st_mtime, UTC)
    except FileNotFoundError:
        return None


def contacted(home: Home, at: datetime) -> None:
    """The server answered at ``at``."""
    write_atomic(_file(home), json.dumps({"at": at.isoformat()}).encode())
