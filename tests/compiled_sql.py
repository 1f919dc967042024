"""One cache of compiled SQL for every engine of a test process (a pytest plugin, see tests/conftest.py).

SQLAlchemy keeps the SQL it compiled from each statement in a cache of the engine's own, keyed
by the engine's dialect object. A test makes its own engines (its database fixture's, its app's),
so each of its statements was compiled again: about a tenth of the fast set's CPU. Here every
engine of the process shares one cache, keyed by the dialect's *kind* instead (its class and
the settings compiled SQL can depend on: server version, paramstyle, limits, serializers), so a
statement is compiled once per dialect kind for the run. Two engines whose dialects differ in
any of those settings still compile apart; only the PostgreSQL schema a connection's search
path names (``default_schema_name``) is left out, as compiled SQL does not name it.
"""

from __future__ import annotations

import weakref
from collections.abc import Hashable
from typing import Any

from sqlalchemy.engine import Dialect, Engine
from sqlalchemy.util import LRUCache

#: Statements kept for the whole process (an engine keeps 500 by default; the server has more).
CAPACITY = 5000
#: Dialect attributes that differ between engines without changing the SQL they compile.
NOT_IN_SQL = frozenset({"default_schema_name"})


def _plain(value: Any) -> bool:
    if isinstance(value, tuple):
        return all(_plain(v) for v in value)
    return value is None or isinstance(value, str | int | float | bool)


def dialect_kind(dialect: Dialect) -> Hashable:
    """What the SQL a dialect compiles depends on: its class and its plain settings (those of its
    engine's arguments and of the server it met at its first connection)."""
    settings = sorted(
        (name, value) for name, value in vars(dialect).items() if name not in NOT_IN_SQL and _plain(value)
    )
    return type(dialect), tuple(settings)


class CompiledAcrossEngines(LRUCache[Any, Any]):
    """An engine's compiled cache whose keys name the dialect's kind, not the dialect object:
    SQLAlchemy's key is ``(dialect, statement's cache key, column keys, schema map, executemany)``."""

    def __init__(self, capacity: int) -> None:
        super().__init__(capacity)
        self._kinds: weakref.WeakKeyDictionary[Dialect, Hashable] = weakref.WeakKeyDictionary()

    def _key(self, key: tuple[Any, ...]) -> tuple[Any, ...]:
        dialect = key[0]
        kind = self._kinds.get(dialect)
        if kind is None:  # a dialect is asked for only once connected: its settings are known
            kind = self._kinds[dialect] = dialect_kind(dialect)
        return (kind, *key[1:])

    def get(self, key: Any, default: Any = None) -> Any:
        return super().get(self._key(key), default)

    def __getitem__(self, key: Any) -> Any:
        return super().__getitem__(self._key(key))

    def __setitem__(self, key: Any, value: Any) -> None:
        super().__setitem__(self._key(key), value)

    def __contains__(self, key: Any) -> bool:
        return self._key(key) in self._data

    def __delitem__(self, key: Any) -> None:
        super().__delitem__(self._key(key))


SHARED = CompiledAcrossEngines(CAPACITY)


def _share_compiled_sql() -> None:
    """Every engine (``make_engine``'s and the tests' own) uses :data:`SHARED` as its compiled
    cache; one made with ``query_cache_size=0`` keeps none, as before. (``Engine.__init__`` is left
    as it is: ``create_engine`` reads the arguments it takes from its signature.)"""

    def shared(engine: Engine) -> CompiledAcrossEngines | None:
        return None if engine.__dict__.get(_NO_CACHE) else SHARED

    def given(engine: Engine, cache: LRUCache[Any, Any] | None) -> None:
        engine.__dict__[_NO_CACHE] = cache is None

    Engine._compiled_cache = property(shared, given)  # type: ignore[assignment]


_NO_CACHE = "mkp_no_compiled_cache"
_share_compiled_sql()
