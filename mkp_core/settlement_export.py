"""A month's settlement statements as files an accountant loads: CSV (UTF-8), CSV in Shift_JIS
(cp932) with CRLF line ends (what Japanese accounting software reads), and JSON.

One row per statement line, after one header row. A name Shift_JIS cannot hold (a rare kanji
such as 𠮷, an emoji) is refused with its row and column rather than replaced: accounting data
is never silently altered; export it as UTF-8 instead.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from typing import Any

from mkp_core.errors import MkpError

FORMATS = ("csv", "csv-sjis", "json")
COLUMNS = (
    "period",
    "municipality_code",
    "municipality_name",
    "point_code",
    "point_code_name",
    "counterparty_kind",
    "counterparty_id",
    "counterparty_name",
    "debits",
    "credits",
    "points",
    "transfers",
    "closed",
)


def rows(statements: dict[str, Any]) -> Iterator[list[str | int]]:
    """The CSV rows (without the header) of a ``/v1/settlement/statements`` reply."""
    for s in statements["statements"]:
        for line in s["lines"]:
            yield [
                s["period"],
                s["municipality"],
                s["municipality_name"],
                line["point_code"],
                line["point_code_name"],
                line["counterparty_kind"],
                line["counterparty_id"],
                line["counterparty_name"],
                line["debits"],
                line["credits"],
                line["points"],
                line["transfers"],
                "closed" if s["closed"] else "open",
            ]


def export(statements: dict[str, Any], fmt: str) -> bytes:
    """The statements as the bytes of a file of format ``fmt`` (one of :data:`FORMATS`)."""
    if fmt == "json":
        return (json.dumps(statements, ensure_ascii=False, indent=2) + "\n").encode("utf-8")
    if fmt not in FORMATS:
        raise MkpError("invalid_format", f"format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    sjis = fmt == "csv-sjis"
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\r\n" if sjis else "\n")
    writer.writerow(COLUMNS)
    for number, row in enumerate(rows(statements), start=2):
        if sjis:
            _require_shift_jis(row, number)
        writer.writerow(row)
    return out.getvalue().encode("cp932" if sjis else "utf-8")


def _require_shift_jis(row: list[str | int], number: int) -> None:
    for column, value in zip(COLUMNS, row, strict=True):
        if not isinstance(value, str):
            continue
        try:
            value.encode("cp932")
        except UnicodeEncodeError as e:
            bad = value[e.start]
            raise MkpError(
                "not_shift_jis",
                f"row {number}, {column} {value!r}: {bad!r} (U+{ord(bad):04X}) has no Shift_JIS (cp932) "
                "code; export with --format csv (UTF-8) instead",
            ) from None
