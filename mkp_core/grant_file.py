"""Grant CSV files as departments make them: UTF-8 or Shift_JIS (cp932), with a BOM or without.

Shared by ``mkp-admin`` (which checks a file on the operator's machine first, with a progress
bar, before sending it) and the server (which reads it again and decides). Pure: bytes in.

A file is read whole before anything is granted: every line that cannot be read is reported
with its line number and why (:class:`FileProblem`), so a department fixes them all in one go.
Columns are named in the header, in English or Japanese, in any order::

    municipality,mykey_id,amount,grant_kind,memo
    自治体コード,マイキーID,ポイント,付与種別,備考

``memo`` is optional. Amounts are whole numbers (full-width digits are read as digits); a
file's lines must all be in one encoding: a cp932 line in a UTF-8 file (a copy and paste from
another spreadsheet) is a ``mixed_encoding`` error naming the line, not mojibake.
"""

from __future__ import annotations

import _csv
import csv
import hashlib
import io
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from mkp_core.errors import MkpError

CsvReader = _csv.Reader

MAX_ROWS = 200_000
MAX_ERRORS = 1000  # reported in detail; the rest are counted

COLUMNS: dict[str, tuple[str, ...]] = {
    "municipality": ("municipality", "municipality_code", "自治体コード", "自治体"),
    "mykey_id": ("mykey_id", "mykey", "マイキーid", "マイキー"),
    "amount": ("amount", "points", "ポイント", "ポイント数", "付与ポイント"),
    "grant_kind": ("grant_kind", "kind", "付与種別", "種別"),
    "memo": ("memo", "note", "備考", "メモ"),
}
REQUIRED = ("municipality", "mykey_id", "amount", "grant_kind")


@dataclass(frozen=True)
class FileRow:
    """One data row as the file has it, its fields trimmed; ``amount`` already a whole number."""

    line: int
    row: int  # 1 for the first data row
    municipality: str
    mykey_id: str
    amount: int
    grant_kind: str
    memo: str | None


@dataclass
class GrantFile:
    """What was read: the file's SHA-256, its encoding, its rows, and every problem found."""

    sha256: str
    encoding: str
    rows: list[FileRow] = field(default_factory=list)
    problems: list[dict[str, object]] = field(default_factory=list)
    problem_count: int = 0

    def problem(self, line: int, code: str, message: str) -> None:
        self.problem_count += 1
        if len(self.problems) < MAX_ERRORS:
            self.problems.append({"line": line, "code": code, "message": message})


def read_grant_file(data: bytes, progress: Callable[[int], None] | None = None) -> GrantFile:
    """Decode and parse a grant file; problems are collected, never raised (the caller reports all)."""
    found = GrantFile(hashlib.sha256(data).hexdigest(), "")
    text = decode(data, found)
    if text is None:
        return found
    reader = csv.reader(io.StringIO(text, newline=""))
    header = read_header(reader, found)
    if header is None:
        return found
    for start, fields in data_rows(reader, found):
        if len(found.rows) >= MAX_ROWS:
            found.problem(start, "too_many_rows", f"a file may hold at most {MAX_ROWS} rows; split it")
            break
        _row(found, header, fields, start)
        if progress is not None and len(found.rows) % 5000 == 0:
            progress(len(found.rows))
    if not found.rows and not found.problem_count:
        found.problem(reader.line_num, "no_rows", "the file has a header and no rows")
    return found


# --- decoding ------------------------------------------------------------------------------------


def decode(data: bytes, found: GrantFile) -> str | None:
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        found.problem(1, "bad_encoding", "the file is UTF-16: save it as UTF-8 or Shift_JIS (cp932)")
        return None
    bom = data.startswith(b"\xef\xbb\xbf")
    body = data[3:] if bom else data
    encodings = {n + 1: _line_encoding(raw) for n, raw in enumerate(body.split(b"\n"))}
    unreadable = [n for n, enc in encodings.items() if enc is None]
    for n in unreadable:
        found.problem(n, "bad_encoding", "this line is neither UTF-8 nor Shift_JIS (cp932) text")
    if unreadable:
        return None
    used = {enc for enc in encodings.values() if enc is not None and enc != "ascii"}
    if bom:
        used.add("utf-8")
    if len(used) > 1:
        first = next(n for n, enc in encodings.items() if enc not in ("ascii", None))
        main = "utf-8" if bom else encodings[first]
        odd = next(n for n, enc in encodings.items() if enc not in ("ascii", main))
        found.problem(
            odd,
            "mixed_encoding",
            f"line {odd} is {encodings[odd]} but the file is {main}: save it in one encoding",
        )
        return None
    found.encoding = next(iter(used), "ascii")
    return body.decode("cp932" if found.encoding == "cp932" else "utf-8")


def _line_encoding(raw: bytes) -> str | None:
    """ascii, utf-8 or cp932: what one line decodes as (UTF-8 first: cp932 rarely looks like it)."""
    if raw.isascii():
        return "ascii"
    for encoding in ("utf-8", "cp932"):
        try:
            raw.decode(encoding)
        except UnicodeDecodeError:
            continue
        return encoding
    return None


# --- parsing -------------------------------------------------------------------------------------


def data_rows(reader: CsvReader, found: GrantFile) -> Iterator[tuple[int, list[str]]]:
    """The rows after the header that are not blank, each with the line it starts on (a quoted
    field may span lines); a row CSV cannot read is a problem and ends them."""
    line = reader.line_num
    while True:
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as e:
            found.problem(reader.line_num, "bad_row", f"this row cannot be read as CSV: {e}")
            return
        start, line = line + 1, reader.line_num
        if any(f.strip() for f in fields):
            yield start, fields


def read_header(
    reader: Iterator[list[str]],
    found: GrantFile,
    columns: dict[str, tuple[str, ...]] = COLUMNS,
    required: tuple[str, ...] = REQUIRED,
) -> dict[str, int] | None:
    """The header row as column -> index, by any of each column's names (English or Japanese,
    full-width or not, any case); ``None`` once a problem is found. Member-balance files
    (``mkp_core.migration_file``) read theirs with their own ``columns``."""
    by_name = {alias: column for column, aliases in columns.items() for alias in aliases}
    try:
        names = next(reader)
    except StopIteration:
        found.problem(1, "empty_file", "the file is empty")
        return None
    except csv.Error as e:
        found.problem(1, "bad_row", f"the header cannot be read as CSV: {e}")
        return None
    header: dict[str, int] = {}
    for index, name in enumerate(names):
        column = by_name.get(unicodedata.normalize("NFKC", name).strip().lower())
        if column is None:
            found.problem(1, "unknown_column", f"column {name!r} is not one of {', '.join(columns)}")
        elif column in header:
            found.problem(1, "duplicate_column", f"column {column} is named twice")
        else:
            header[column] = index
    for column in required:
        if column not in header:
            found.problem(1, "missing_column", f"the header has no {column} column")
    return None if found.problem_count else header


def _row(found: GrantFile, header: dict[str, int], fields: list[str], line: int) -> None:
    if len(fields) != len(header):
        found.problem(line, "bad_row", f"this row has {len(fields)} fields, the header {len(header)}")
        return
    amount_text = _ascii(fields[header["amount"]].strip())
    if not amount_text.isascii() or not amount_text.isdigit() or int(amount_text) <= 0:
        found.problem(
            line,
            "invalid_amount",
            f"amount {fields[header['amount']].strip()!r} is not a whole number above 0",
        )
        return
    memo = fields[header["memo"]].strip() if "memo" in header else ""
    found.rows.append(
        FileRow(
            line=line,
            row=len(found.rows) + 1,
            municipality=_ascii(fields[header["municipality"]].strip()),
            mykey_id=fields[header["mykey_id"]].strip(),
            amount=int(amount_text),
            grant_kind=fields[header["grant_kind"]].strip(),
            memo=memo or None,
        )
    )


def _ascii(text: str) -> str:
    """Full-width digits as digits (NFKC), for the fields that are numbers."""
    return text if text.isascii() else unicodedata.normalize("NFKC", text)


class FileRefused(MkpError):
    """A grant file with problems: the first in the message, each one in ``details``."""

    def __init__(self, problems: list[dict[str, object]], count: int, what: str = "the file") -> None:
        first = problems[0]
        more = f" ({count} problems in all; nothing was granted)" if count > 1 else " (nothing was granted)"
        super().__init__(
            "invalid_grant_file", f"{what}: line {first['line']}: {first['message']}{more}", problems
        )
