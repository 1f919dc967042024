"""A terminal's config download, its place's part kept per (place, config version) in the process.

In the nationwide connection test every terminal downloads its config; computing a place's part
(its accepted point codes, agreements, listed places, price list) took about ten queries. What it
is computed from changes only in a transaction that bumps ``server.platform.config_versions``,
so a download reads the terminal and that version in one query, and computes the place's part
only when this process has none for the version (a change by another worker or host has bumped
it: the next download recomputes). The rules in force also change with time alone: an entry
ends at the next ``effective_from`` of a version that may apply to its place (agreements have no
future boundary: they start and end when recorded). The connection test announcement is
per terminal and read each time.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, select

from mkp_core.errors import NotFound
from server.platform import config_versions
from server.platform.tables import terminals
from server.terminals import service

#: Places kept per process (a server serves many; one entry is a few hundred bytes).
MAX_PLACES = 4096

_TERMINAL_AND_VERSION = select(
    terminals.c.name, terminals.c.place_id, config_versions.version_column().label("version")
).where(terminals.c.id == bindparam("terminal"))


@dataclass(frozen=True)
class _Entry:
    content: dict[str, Any]
    until: datetime | None  # the next rule version's effective_from: recomputed from then


class PlaceConfigs:
    """The place's part of terminals' configs, per (place, version), least recently used dropped
    past ``size``; a newer version seen drops every older entry (none can be asked for again but
    by a download that read the version just before the change: it recomputes)."""

    def __init__(self, size: int = MAX_PLACES) -> None:
        self.size = size
        self._entries: OrderedDict[tuple[str, int], _Entry] = OrderedDict()
        self._newest = 0
        self._lock = threading.Lock()

    def get(self, conn: Connection, place_id: str, version: int, now: datetime) -> dict[str, Any]:
        """The place's part as at ``now`` (``version``: read in ``conn``'s transaction before)."""
        key = (place_id, version)
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and (entry.until is None or now < entry.until):
                self._entries.move_to_end(key)
                return entry.content
        content, until = service.place_config(conn, place_id, now)
        with self._lock:
            if version > self._newest:
                self._newest = version
                for stale in [k for k in self._entries if k[1] < version]:
                    del self._entries[stale]
            self._entries[key] = _Entry(content, until)
            self._entries.move_to_end(key)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)
        return content

    def __len__(self) -> int:
        return len(self._entries)


def terminal_config(
    conn: Connection, cache: PlaceConfigs, terminal_id: str, offline: dict[str, int], now: datetime
) -> dict[str, Any]:
    """What :func:`server.terminals.service.terminal_config` answers, the place's part from ``cache``."""
    row = conn.execute(_TERMINAL_AND_VERSION, {"terminal": terminal_id}).first()
    if row is None:
        raise NotFound("unknown_terminal", f"no terminal {terminal_id}")
    return {
        "terminal_id": terminal_id,
        "name": row.name,
        **cache.get(conn, row.place_id, int(row.version or 0), now),
        "offline": offline,
    }
