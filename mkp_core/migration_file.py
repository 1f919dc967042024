"""A shopping street's member balances, as it exports them when it retires its own point card.

Read like a grant file (``mkp_core.grant_file``: UTF-8 or Shift_JIS/cp932, with or without a
BOM, one encoding per file), whole, before anything is imported: every line that cannot be
taken is reported with its line number and why. Columns, in English or Japanese, any order::

    member_number,balance
    会員番号,残高

A member number is a MyKey service ID (letters, digits, '.', '_', '-'; full-width ones are read
as half-width), at most 32; a balance a whole number of 0 or more (a member with 0 is left out). A member number twice
in one file is refused, both lines named.
"""

from __future__ import annotations

import csv
import hashlib
import io
import unicodedata
from dataclasses import dataclass, field

from mkp_core.errors import MkpError
from mkp_core.grant_file import GrantFile, data_rows, decode, read_header
from mkp_core.ids import LOCAL_SERVICE_ID_RE, MAX_AMOUNT

MAX_ROWS = 200_000
COLUMNS: dict[str, tuple[str, ...]] = {
    "member_number": ("member_number", "member", "card_number", "会員番号", "会員id", "カード番号"),
    "balance": ("balance", "points", "残高", "ポイント", "ポイント残高"),
}
#: A member number is what the member will link as their ID at the street (a MyKey service ID).
MEMBER_RE = LOCAL_SERVICE_ID_RE


@dataclass(frozen=True)
class MemberRow:
    line: int
    member_number: str
    balance: int


@dataclass
class MigrationFile:
    """What was read: the file's SHA-256 and encoding (in ``read``), its rows, every problem."""

    read: GrantFile
    rows: list[MemberRow] = field(default_factory=list)
    zero: int = 0  # members with nothing to migrate, left out

    @property
    def points(self) -> int:
        return sum(r.balance for r in self.rows)


def read_migration_file(data: bytes) -> MigrationFile:
    """Decode and parse a member-balance file; problems collected in ``found.read``, never raised."""
    found = MigrationFile(GrantFile(_sha256(data), ""))
    text = decode(data, found.read)
    if text is None:
        return found
    reader = csv.reader(io.StringIO(text, newline=""))
    header = read_header(reader, found.read, COLUMNS, tuple(COLUMNS))
    if header is None:
        return found
    seen: dict[str, int] = {}
    for start, fields in data_rows(reader, found.read):
        if len(found.rows) >= MAX_ROWS:
            found.read.problem(start, "too_many_rows", f"a file may hold at most {MAX_ROWS} rows; split it")
            break
        _row(found, header, fields, start, seen)
    if not found.rows and not found.read.problem_count:
        found.read.problem(reader.line_num, "no_rows", "the file has no member with a balance")
    return found


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _row(
    found: MigrationFile, header: dict[str, int], fields: list[str], line: int, seen: dict[str, int]
) -> None:
    problem = found.read.problem
    if len(fields) != len(header):
        problem(line, "bad_row", f"this row has {len(fields)} fields, the header {len(header)}")
        return
    member = unicodedata.normalize("NFKC", fields[header["member_number"]]).strip()
    balance_text = unicodedata.normalize("NFKC", fields[header["balance"]]).strip().replace(",", "")
    if not MEMBER_RE.fullmatch(member):
        problem(
            line,
            "invalid_member_number",
            f"member number {member!r} is not letters, digits, '.', '_' and '-' (1-32)",
        )
        return
    if balance_text.startswith("-") and balance_text[1:].isdigit():
        problem(line, "negative_balance", f"member {member} has a negative balance {balance_text}")
        return
    if not balance_text.isascii() or not balance_text.isdigit() or int(balance_text) > MAX_AMOUNT:
        problem(
            line, "invalid_balance", f"balance {balance_text!r} is not a whole number from 0 to {MAX_AMOUNT}"
        )
        return
    if member in seen:
        problem(line, "duplicate_member", f"member {member} is on line {seen[member]} already")
        return
    seen[member] = line
    if int(balance_text) == 0:
        found.zero += 1
        return
    found.rows.append(MemberRow(line, member, int(balance_text)))


class MigrationFileRefused(MkpError):
    """A member-balance file with problems: the first in the message, each one in ``details``."""

    def __init__(self, problems: list[dict[str, object]], count: int) -> None:
        first = problems[0]
        more = f" ({count} problems in all; nothing was imported)" if count > 1 else " (nothing was imported)"
        super().__init__(
            "invalid_migration_file", f"line {first['line']}: {first['message']}{more}", problems
        )
