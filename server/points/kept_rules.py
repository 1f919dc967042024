"""What spends are judged by, kept per process per config version: places, agreements, rules.

Every spend read its place, the agreements in force where the place is, and the point code's rules
(three or four queries, a fifth of a spend's CPU) for what changes once in a while. All of them
change only in a transaction that bumps ``server.platform.config_versions`` (places are only ever
added; agreements and rule versions are recorded by functions that bump it), so a spend's
transaction reads that counter, one row, and takes the rest from what this process read at the
same version. A change made by any worker or host has bumped it: the next spend reads anew.

Rules also change with time alone (a version dated later): a code's versions are kept whole,
future ones too, and the one in force is picked at each spend's moment (``rules.in_force``).

A transaction that has bumped the counter itself reads its own change before it commits, and
may still roll back: it reads everything from the database and keeps nothing. One that read an
older version than the newest this process has seen (it began before a change) does the same.
"""

from __future__ import annotations

import threading
import weakref
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Engine

from server.platform import config_versions
from server.platform.places.service import get_place
from server.points import agreements, rules
from server.points.rules import Rule

#: Entries of each kind kept for the newest version; past this many that kind is emptied and refilled.
MAX_ENTRIES = 10_000


@dataclass
class Kept:
    """What was read at one config version (``version`` None: kept for one transaction only)."""

    version: int | None
    places: dict[str, dict[str, Any]] = field(default_factory=dict)
    agreed: dict[str, frozenset[tuple[str, str]]] = field(default_factory=dict)
    rule_versions: dict[str, tuple[Rule, ...]] = field(default_factory=dict)

    def place(self, conn: Connection, place_id: str) -> dict[str, Any]:
        """The place (``unknown_place`` is raised, not kept)."""
        found = self.places.get(place_id)
        if found is None:
            found = _bounded(self.places)[place_id] = get_place(conn, place_id)
        return found

    def agreements(self, conn: Connection, municipality: str) -> frozenset[tuple[str, str]]:
        """(points of, usable in) of the agreements in force that let points into ``municipality``."""
        found = self.agreed.get(municipality)
        if found is None:
            found = _bounded(self.agreed)[municipality] = frozenset(agreements.in_force(conn, municipality))
        return found

    def versions(self, conn: Connection, codes: list[str]) -> dict[str, tuple[Rule, ...]]:
        """Every version of each code's rules, oldest first."""
        missing = [c for c in codes if c not in self.rule_versions]
        if missing:
            _bounded(self.rule_versions).update(rules.versions_of(conn, missing))
        return {c: self.rule_versions[c] for c in codes}


def _bounded(entries: dict[str, Any]) -> dict[str, Any]:
    if len(entries) >= MAX_ENTRIES:
        entries.clear()
    return entries


class KeptRules:
    """The newest version's :class:`Kept` of each database this process serves (dict updates are
    atomic: threads that race fill the same entry with the same rows)."""

    def __init__(self) -> None:
        self._newest: weakref.WeakKeyDictionary[Engine, Kept] = weakref.WeakKeyDictionary()
        self._lock = threading.Lock()

    def for_transaction(self, conn: Connection, version: int | None = None) -> Kept:
        """What ``conn``'s transaction may take from memory: the kept entries of the version it
        reads, or (a transaction that bumped it, or reads an older one) an empty one of its own.
        ``version``: the one this transaction has read already (``config_versions.current_statement``)."""
        if config_versions.bumped_here(conn):
            return Kept(version=None)
        if version is None:
            version = config_versions.current(conn)
        with self._lock:
            newest = self._newest.get(conn.engine)
            if newest is None or newest.version is None or version > newest.version:
                newest = self._newest[conn.engine] = Kept(version)
            if version == newest.version:
                return newest
        return Kept(version=None)


#: This process's kept rules, per engine (a server has one; a test process makes many).
KEPT = KeptRules()
