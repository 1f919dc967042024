"""One cache of compiled page templates for every app of a test process (a pytest plugin, see
tests/conftest.py).

Jinja compiles a template to Python code once per environment, and each Flask app has its own
environment: every test makes its own app, so each page a test rendered was parsed and compiled
again (the same few dozen templates, 7 % of the fast set's CPU). Here every app's environment
shares one store of that code (Jinja's ``bytecode_cache`` hook), keyed by the template's name,
file and source, and by the environment's *kind*: its extensions and the settings compiled code
can depend on (delimiters, whitespace rules, newstyle gettext, autoescape, finalize,
policies). Two apps
whose environments differ in any of those compile apart. A code object is immutable; each
environment still runs it into a template of its own, with its own globals and filters.
"""

from __future__ import annotations

from collections.abc import Hashable
from types import CodeType
from typing import Any

from flask import Flask
from jinja2 import Environment
from jinja2.bccache import Bucket, BytecodeCache


def _plain(value: Any) -> Hashable:
    """A setting as it can be compared: plain values as they are, a callable by its name."""
    if value is None or isinstance(value, str | int | float | bool):
        return value
    function = getattr(value, "__func__", value)
    name = getattr(function, "__qualname__", type(value).__qualname__)
    return f"{getattr(function, '__module__', '')}.{name}"


def environment_kind(environment: Environment) -> Hashable:
    """What the code an environment compiles depends on: its extensions and its settings."""
    settings = sorted(
        (name, _plain(value))
        for name, value in vars(environment).items()
        if value is None or isinstance(value, str | int | float | bool) or name in ("autoescape", "finalize")
    )
    policies = sorted((name, _plain(value)) for name, value in environment.policies.items())
    return tuple(sorted(environment.extensions)), tuple(settings), tuple(policies)


class CompiledAcrossApps(BytecodeCache):
    """Compiled template code kept in memory for the process, shared by environments of one kind."""

    def __init__(self) -> None:
        self._code: dict[str, tuple[str, CodeType]] = {}

    def get_bucket(self, environment: Environment, name: str, filename: str | None, source: str) -> Bucket:
        key = self.get_cache_key(f"{environment_kind(environment)!r}\0{name}", filename)
        bucket = Bucket(environment, key, self.get_source_checksum(source))
        self.load_bytecode(bucket)
        return bucket

    def load_bytecode(self, bucket: Bucket) -> None:
        stored = self._code.get(bucket.key)
        if stored is not None and stored[0] == bucket.checksum:
            bucket.code = stored[1]

    def dump_bytecode(self, bucket: Bucket) -> None:
        if bucket.code is not None:
            self._code[bucket.key] = (bucket.checksum, bucket.code)


#: Every app's environment is made with these options (Flask copies ``jinja_options`` into it).
Flask.jinja_options = {**Flask.jinja_options, "bytecode_cache": CompiledAcrossApps()}
