"""Grants from a department's budget to MyKey holders: one at a time, or a CSV file at once.

Every credit carries the expiry the point code's rule in force gives it. A file is checked whole
first: every bad row is reported with its line number and why, and nothing is granted; a dry
run stops there with the totals. Applying is one transaction: every row or none. Each row's
transfer has the client id ``csv-<file hash>-<row>``, and the file's hash is the batch's key, so
a second run of the same file changes nothing and says when it was applied.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, func, insert, select

from mkp_core import ids
from mkp_core import mykey_id as mykey_rules
from mkp_core.errors import Conflict, MkpError, NotFound
from mkp_core.grant_file import FileRefused, FileRow, GrantFile, read_grant_file
from server import ledger
from server.db.client_ids import server_key
from server.db.engine import executemany
from server.db.idempotency import once
from server.ledger.tables import transfers
from server.platform.mykey.registry import MyKey
from server.platform.operators.service import Operator
from server.points import holders
from server.points.departments.service import get_department, owner
from server.points.rules import rule_at
from server.points.tables import grant_batches, grants


@dataclass(frozen=True)
class GrantAsked:
    """One grant as an operator asks for it."""

    mykey_id: str
    amount: int
    grant_kind: str
    memo: str | None = None


def grant(
    conn: Connection,
    op: Operator,
    department_id: str,
    client_id: str,
    asked: GrantAsked,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Grant points from the department's budget to one holder (idempotent by ``client_id``)."""

    def work() -> dict[str, Any]:
        when = now or datetime.now(UTC)
        department = get_department(conn, department_id, op)
        holder = holders.find(conn, asked.mykey_id)
        kind = _kind(department, asked.grant_kind)
        _check_amount(kind, asked.amount)
        expires = rule_at(conn, department["point_code"], when).expires_at(when)
        memo = asked.memo or kind["name"]
        transfer = ledger.transfer(
            conn,
            ledger.TransferRequest(
                client_id,
                department["point_code"],
                owner(department_id),
                holder.wallet,
                asked.amount,
                "grant",
                memo,
                expires_at=expires,
            ),
            op.actor,
            when,
        )
        conn.execute(
            insert(grants).values(
                transfer_id=transfer.id, department_id=department_id, grant_kind=kind["code"]
            )
        )
        return {
            **transfer.to_dict(),
            "department": department_id,
            "grant_kind": kind["code"],
            "mykey_id": holder.mykey_id,
        }

    body = {**asdict(asked), "department": department_id, "operator": op.name}
    reply, _ = once(conn, client_id, "departments.grant", body, work)
    return reply


def _kind(department: dict[str, Any], code: str) -> dict[str, Any]:
    for kind in department["grant_kinds"]:
        if kind["code"] == code:
            return kind  # type: ignore[no-any-return]
    known = ", ".join(k["code"] for k in department["grant_kinds"]) or "none yet"
    raise NotFound("unknown_grant_kind", f"{department['id']} has no grant kind {code!r} (it has: {known})")


def _check_amount(kind: dict[str, Any], amount: int) -> None:
    if amount > ids.MAX_AMOUNT:
        raise MkpError("invalid_amount", f"amount must be a whole number from 1 to {ids.MAX_AMOUNT}")
    if kind["max_amount"] is not None and amount > kind["max_amount"]:
        raise MkpError(
            "above_maximum", f"a {kind['code']} grant gives at most {kind['max_amount']} points, not {amount}"
        )


# --- CSV batches -------------------------------------------------------------------------------


@dataclass
class _Checked:
    """A file whose every row passed: who gets what, and its totals."""

    file: GrantFile
    department: dict[str, Any]
    rows: list[tuple[FileRow, MyKey]]
    expires_at: datetime | None


def batch(
    conn: Connection,
    op: Operator,
    department_id: str,
    client_id: str,
    data: bytes,
    filename: str | None,
    dry_run: bool,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Check a grant file whole, then (unless ``dry_run``) apply it in this transaction; the summary.

    A file applied before is not applied again: the summary of its first run comes back, with
    ``already_applied``. A file with problems raises :class:`~mkp_core.grant_file.FileRefused`.
    """
    when = now or datetime.now(UTC)

    def work() -> dict[str, Any]:
        department = get_department(conn, department_id, op)
        found = read_grant_file(data)
        applied = _applied_batch(conn, found.sha256, department_id)
        if applied is not None:
            return applied
        checked = _check(conn, found, department, when)
        if dry_run:
            return _summary(checked, applied=False, batch_id=None, at=None)
        return _apply(conn, op, checked, filename, when)

    if dry_run:  # changes nothing: no idempotency record either
        return work()
    body = {
        "department": department_id,
        "file_sha256": hashlib.sha256(data).hexdigest(),
        "filename": filename,
    }
    reply, _ = once(conn, client_id, "departments.grant-batch", body, work)
    return reply


def _check(conn: Connection, found: GrantFile, department: dict[str, Any], now: datetime) -> _Checked:
    """Every row against the department, the holders, the grant kinds and the budget; the rows a
    file's reading refused are reported with the rest, in line order."""
    expires = rule_at(conn, department["point_code"], now).expires_at(now)
    known = holders.find_many(conn, [row.mykey_id for row in found.rows])
    kinds = {k["code"]: k for k in department["grant_kinds"]}
    seen: dict[tuple[Any, ...], int] = {}
    rows: list[tuple[FileRow, MyKey]] = []
    left = department["left"]
    checked_codes: dict[str, tuple[str, str] | None] = {}
    for row in found.rows:
        holder = _check_row(found, row, department, known, kinds, seen, checked_codes)
        if holder is None:
            continue
        rows.append((row, holder))
        left -= row.amount
        if left < 0 and left + row.amount >= 0:
            found.problem(
                row.line,
                "over_budget",
                f"{department['id']}'s budget runs out here "
                f"({department['left']} points were left; the file asks for more)",
            )
    if found.problem_count:
        found.problems.sort(key=lambda p: int(str(p["line"])))
        raise FileRefused(found.problems, found.problem_count)
    return _Checked(found, department, rows, expires)


def _check_row(
    found: GrantFile,
    row: FileRow,
    department: dict[str, Any],
    known: dict[str, MyKey],
    kinds: dict[str, dict[str, Any]],
    seen: dict[tuple[Any, ...], int],
    checked_codes: dict[str, tuple[str, str] | None],
) -> MyKey | None:
    """The row's holder, or None after reporting what is wrong with it."""
    problem = _row_problem(row, department, known, kinds, checked_codes)
    if problem is None:
        key = (row.municipality, known[row.mykey_id].number, row.amount, row.grant_kind, row.memo)
        first = seen.setdefault(key, row.line)
        if first != row.line:
            problem = ("duplicate_row", f"this row repeats line {first}")
    if problem is not None:
        found.problem(row.line, problem[0], problem[1])
        return None
    return known[row.mykey_id]


def _row_problem(
    row: FileRow,
    department: dict[str, Any],
    known: dict[str, MyKey],
    kinds: dict[str, dict[str, Any]],
    checked_codes: dict[str, tuple[str, str] | None],
) -> tuple[str, str] | None:
    if row.municipality not in checked_codes:  # a file names one municipality, thousands of times
        checked_codes[row.municipality] = _code_problem(row.municipality)
    problem = checked_codes[row.municipality]
    if problem is not None:
        return problem
    if row.mykey_id not in known:
        try:
            mykey_rules.validate_format(row.mykey_id)
        except MkpError as e:
            return e.code, e.message
    if row.municipality != department["municipality"]:
        return "municipality_mismatch", (
            f"municipality {row.municipality} is not {department['id']}'s ({department['municipality']})"
        )
    if row.mykey_id not in known:
        return "unknown_mykey", f"no MyKey ID {row.mykey_id}"
    kind = kinds.get(row.grant_kind)
    if kind is None:
        return "unknown_grant_kind", f"{department['id']} has no grant kind {row.grant_kind!r}"
    try:
        _check_amount(kind, row.amount)
    except MkpError as e:
        return e.code, e.message
    return None


def _code_problem(code: str) -> tuple[str, str] | None:
    try:
        ids.validate_municipality_code(code)
    except MkpError as e:
        return e.code, e.message
    return None


def _apply(
    conn: Connection, op: Operator, checked: _Checked, filename: str | None, now: datetime
) -> dict[str, Any]:
    department, found = checked.department, checked.file
    batch_id = conn.execute(
        insert(grant_batches)
        .values(
            file_sha256=found.sha256,
            department_id=department["id"],
            filename=filename,
            rows=len(checked.rows),
            holders=len({holder.number for _, holder in checked.rows}),
            points=sum(row.amount for row, _ in checked.rows),
            actor=op.actor,
            created_at=now,
        )
        .returning(grant_batches.c.id)
    ).scalar_one()
    kinds = {k["code"]: k["name"] for k in department["grant_kinds"]}
    requests = [
        ledger.TransferRequest(
            server_key(f"csv-{found.sha256[:32]}-{row.row}"),
            department["point_code"],
            owner(department["id"]),
            holder.wallet,
            row.amount,
            "grant",
            row.memo or kinds[row.grant_kind],
            expires_at=checked.expires_at,
        )
        for row, holder in checked.rows
    ]
    results = ledger.create_transfers(conn, requests, op.actor, now)
    refused = next((r for r in results if isinstance(r, MkpError)), None)
    if refused is not None:
        raise refused  # the budget moved since the check (another grant): nothing is applied
    executemany(
        conn,
        "INSERT INTO grants (transfer_id, department_id, grant_kind, batch_id, line) VALUES (?, ?, ?, ?, ?)",
        [
            (result.id, department["id"], row.grant_kind, batch_id, row.line)
            for (row, _), result in zip(checked.rows, results, strict=True)
            if isinstance(result, ledger.Transfer)
        ],
    )
    return _summary(checked, applied=True, batch_id=batch_id, at=now)


def _summary(checked: _Checked, applied: bool, batch_id: int | None, at: datetime | None) -> dict[str, Any]:
    department = checked.department
    by_kind: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for row, _ in checked.rows:
        by_kind[row.grant_kind][0] += 1
        by_kind[row.grant_kind][1] += row.amount
    points = sum(row.amount for row, _ in checked.rows)
    return {
        "department": department["id"],
        "point_code": department["point_code"],
        "file_sha256": checked.file.sha256,
        "encoding": checked.file.encoding,
        "rows": len(checked.rows),
        "holders": len({holder.number for _, holder in checked.rows}),
        "points": points,
        "by_kind": _kinds_view(department, by_kind),
        "budget_left_before": department["left"],
        "budget_left_after": department["left"] - points,
        "expires_at": checked.expires_at,
        "applied": applied,
        "already_applied": False,
        "batch_id": batch_id,
        "applied_at": at,
    }


def _kinds_view(department: dict[str, Any], by_kind: dict[str, list[int]]) -> list[dict[str, Any]]:
    names = {k["code"]: k["name"] for k in department["grant_kinds"]}
    return [
        {"grant_kind": code, "name": names.get(code, code), "rows": n, "points": p}
        for code, (n, p) in sorted(by_kind.items())
    ]


def _applied_batch(conn: Connection, sha256: str, department_id: str) -> dict[str, Any] | None:
    """The summary of the first run of a file applied before (refused for another department)."""
    row = conn.execute(select(grant_batches).where(grant_batches.c.file_sha256 == sha256)).first()
    if row is None:
        return None
    if row.department_id != department_id:
        raise Conflict(
            "file_applied_elsewhere",
            f"this file was applied for {row.department_id} on {row.created_at:%Y-%m-%d}: it cannot be applied again",
        )
    department = get_department(conn, department_id)
    per_kind = conn.execute(
        select(grants.c.grant_kind, func.count(), func.sum(transfers.c.amount))
        .select_from(grants.join(transfers, transfers.c.id == grants.c.transfer_id))
        .where(grants.c.batch_id == row.id)
        .group_by(grants.c.grant_kind)
    ).all()
    by_kind = {kind: [int(n), int(p)] for kind, n, p in per_kind}
    return {
        "department": department_id,
        "point_code": department["point_code"],
        "file_sha256": sha256,
        "encoding": None,
        "rows": row.rows,
        "holders": row.holders,
        "points": int(row.points),
        "by_kind": _kinds_view(department, by_kind),
        "budget_left_before": None,
        "budget_left_after": department["left"],
        "expires_at": None,
        "applied": True,
        "already_applied": True,
        "batch_id": row.id,
        "applied_at": row.created_at,
    }
