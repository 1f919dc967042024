"""JSON in and out: ISO 8601 dates in replies; request bodies plain UTF-8 JSON objects of sane depth.

Flask parses request bodies with the app's JSON provider, so the rules live here: a body in
UTF-16 or UTF-32 (which ``json.loads`` would guess), a body nested thousands deep (a
``RecursionError`` and a 500 before), and a JSON string holding JSON (which flask-openapi3 would
parse a second time) are refused with a 422 and a code, before any model sees them.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Any

from flask.json.provider import DefaultJSONProvider

from mkp_core.errors import MkpError

#: Deepest nesting of arrays and objects a request body may have (ours need 3).
MAX_JSON_DEPTH = 32


class InvalidJson(MkpError):
    """A request body that is not UTF-8 JSON we can read (not a ValueError: Flask must not hide it)."""

    def __init__(self, message: str) -> None:
        super().__init__("invalid_json", message)


class JSONProvider(DefaultJSONProvider):
    """ISO 8601 dates in every reply (Flask's default is the HTTP date format); request bodies
    must be UTF-8 JSON of sane depth, and a JSON object itself, not a string holding JSON."""

    @staticmethod
    def default(o: Any) -> Any:
        if isinstance(o, datetime | date):
            return o.isoformat()
        return DefaultJSONProvider.default(o)

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        if isinstance(s, bytes | bytearray):
            try:
                s = bytes(s).decode("utf-8")  # json.loads would guess UTF-16 and UTF-32 too
            except UnicodeDecodeError:
                raise InvalidJson("the request body must be JSON in UTF-8") from None
        try:
            value = json.loads(s, **kwargs)
        except RecursionError:
            raise InvalidJson(f"the request body is nested deeper than {MAX_JSON_DEPTH} levels") from None
        except ValueError as e:
            raise InvalidJson(f"the request body is not valid JSON: {e}") from None
        if isinstance(value, str):
            raise MkpError(
                "invalid_body", "the request body must be a JSON object, not a string (JSON encoded twice?)"
            )
        if _may_be_deep(s) and _depth(value) > MAX_JSON_DEPTH:
            raise InvalidJson(f"the request body is nested deeper than {MAX_JSON_DEPTH} levels")
        return value


def _may_be_deep(text: str) -> bool:
    """Whether a body could nest deeper than allowed: a value nests no deeper than its count of
    ``{`` and ``[`` (those in strings counted too), so a body with few of them needs no walk; two
    scans in C instead of a walk of every value in Python, on every request body."""
    return text.count("{") + text.count("[") > MAX_JSON_DEPTH


def _depth(value: Any) -> int:
    """How deeply arrays and objects nest in a parsed JSON value (iterative: no recursion limit)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        if children is None:
            continue
        deepest = max(deepest, level)
        if level <= MAX_JSON_DEPTH:
            stack.extend((child, level + 1) for child in children)
    return deepest
