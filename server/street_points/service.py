"""Shopping-street points migrated into a municipality's points.

A street that retires its own point card uploads its members' balances (member number,
balance), checked whole like a grant file. Each balance waits, unclaimed, until the member links
that number to their MyKey ID (the MyKey link flow: at a kiosk, typed or scanned from the old
card's barcode; confirmed by the street's staff if it confirms links). Then it is credited once
to the point code the street chose, with the expiry that code's rules give points credited that
day. A member already linked when the file arrives is credited at once.

**Once.** A balance's claim is a row keyed by the balance (``migration_claims``) and its transfer
has the client id ``srv/migrate-<balance id>``: linking again, after an unlink, or by another MyKey ID
credits nothing more.

**The issuer account is ``service:<street>``**, the street itself, not the municipality's
budget: the street collected what its points stand for, so its account going negative by what
its members claimed is what it owes the municipality, and the settlement statement shows it on
its own line beside the partners (``counterparty_kind`` ``service``). Unclaimed balances were
never issued, so lapsing (after the street's last claim day) moves nothing.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, insert, select

from mkp_core.dates import start_of_day
from mkp_core.errors import Conflict, MkpError, NotFound
from mkp_core.migration_file import MigrationFile, MigrationFileRefused, read_migration_file
from server import ledger
from server.db.client_ids import server_key
from server.db.engine import inserted_id
from server.db.idempotency import once
from server.ledger.tables import point_codes
from server.platform.mykey.service_links import when_link_active
from server.platform.operators.service import Operator
from server.platform.tables import service_links, services
from server.points.rules import rule_at
from server.street_points.tables import migration_balances, migration_batches, migration_claims

ACTIVE = "active"


@dataclass(frozen=True)
class ImportAsked:
    service: str
    data: bytes
    point_code: str | None
    claim_until: date
    dry_run: bool = False


def issuer(service_code: str) -> str:
    """The ledger account migrated points come from (module docstring)."""
    return f"service:{service_code}"


def import_file(
    conn: Connection, op: Operator, client_id: str, asked: ImportAsked, now: datetime | None = None
) -> dict[str, Any]:
    """Check a member-balance file whole, then (unless a dry run) keep its balances; the summary.

    The same file for the same street again changes nothing (``already_imported``)."""
    when = now or datetime.now(UTC)
    service = _service(conn, op, asked.service)

    def work() -> dict[str, Any]:
        found = read_migration_file(asked.data)
        prior = _batch_of(conn, asked.service, found.read.sha256)
        if prior is not None:
            return {**prior, "already_imported": True}
        code = _point_code(conn, service, asked.point_code)
        lapses_at = start_of_day(asked.claim_until + timedelta(days=1))
        if lapses_at <= when:
            raise MkpError("invalid_claim_until", f"the last claim day {asked.claim_until} has passed")
        _check(conn, found, asked.service)
        if asked.dry_run:
            return _summary(asked.service, code, found, lapses_at, None, claimed=0)
        return _keep(conn, op, asked.service, code, found, lapses_at, when)

    if asked.dry_run:
        return work()
    body = {
        "service": asked.service,
        "file_sha256": hashlib.sha256(asked.data).hexdigest(),
        "point_code": asked.point_code,
        "claim_until": asked.claim_until.isoformat(),
    }
    reply, _ = once(conn, client_id, "migration.import", body, work)
    return reply


def _service(conn: Connection, op: Operator, code: str) -> Any:
    row = conn.execute(select(services).where(services.c.code == code)).first()
    if row is None or not op.covers(row.municipality_code):
        raise NotFound("unknown_service", f"no service {code}")
    return row


def _point_code(conn: Connection, service: Any, wanted: str | None) -> str:
    code = wanted or service.municipality_code
    found = conn.execute(select(point_codes.c.municipality_code).where(point_codes.c.code == code)).first()
    if found is None:
        raise NotFound("unknown_point_code", f"point code {code} does not exist")
    if found[0] != service.municipality_code:
        raise MkpError(
            "foreign_point_code",
            f"{service.code} belongs to {service.municipality_code}: its members' points cannot become {code}",
        )
    return code


def _check(conn: Connection, found: MigrationFile, service_code: str) -> None:
    """The file's own problems, and member numbers this street has migrated already, in line order."""
    numbers = [r.member_number for r in found.rows]
    known: dict[str, bool] = {}
    for start in range(0, len(numbers), 500):
        part = numbers[start : start + 500]
        rows = conn.execute(
            select(migration_balances.c.member_number, migration_claims.c.balance_id)
            .outerjoin(migration_claims, migration_claims.c.balance_id == migration_balances.c.id)
            .where(
                migration_balances.c.service_code == service_code,
                migration_balances.c.member_number.in_(part),
            )
        )
        known.update((number, claim is not None) for number, claim in rows)
    for row in found.rows:
        if row.member_number in known:
            claimed = known[row.member_number]
            found.read.problem(
                row.line,
                "member_already_claimed" if claimed else "member_already_imported",
                f"member {row.member_number} of {service_code} was migrated by an earlier file"
                + (" and has claimed the balance" if claimed else ""),
            )
    if found.read.problem_count:
        found.read.problems.sort(key=lambda p: int(str(p["line"])))
        raise MigrationFileRefused(found.read.problems, found.read.problem_count)


def _keep(
    conn: Connection,
    op: Operator,
    service_code: str,
    code: str,
    found: MigrationFile,
    lapses_at: datetime,
    now: datetime,
) -> dict[str, Any]:
    batch_id = inserted_id(
        conn.execute(
            insert(migration_batches).values(
                service_code=service_code,
                file_sha256=found.read.sha256,
                point_code=code,
                lapses_at=lapses_at,
                members=len(found.rows),
                points=found.points,
                created_by=op.actor,
                created_at=now,
            )
        )
    )
    conn.execute(
        insert(migration_balances),
        [
            {
                "batch_id": batch_id,
                "service_code": service_code,
                "member_number": r.member_number,
                "balance": r.balance,
                "line": r.line,
            }
            for r in found.rows
        ],
    )
    linked = conn.execute(
        select(service_links.c.mykey, service_links.c.local_id).where(
            service_links.c.service_code == service_code, service_links.c.status == ACTIVE
        )
    ).all()
    members = {r.member_number for r in found.rows}
    claimed = sum(
        1
        for mykey, local_id in linked
        if local_id in members and claim(conn, mykey, service_code, local_id, now)
    )
    return _summary(service_code, code, found, lapses_at, int(batch_id), claimed)


def _summary(
    service_code: str,
    code: str,
    found: MigrationFile,
    lapses_at: datetime,
    batch_id: int | None,
    claimed: int,
) -> dict[str, Any]:
    return {
        "service": service_code,
        "point_code": code,
        "file_sha256": found.read.sha256,
        "encoding": found.read.encoding,
        "members": len(found.rows),
        "points": found.points,
        "zero_balances": found.zero,
        "lapses_at": lapses_at,
        "batch_id": batch_id,
        "imported": batch_id is not None,
        "already_imported": False,
        "claimed_at_import": claimed,
    }


def _batch_of(conn: Connection, service_code: str, sha256: str) -> dict[str, Any] | None:
    row = conn.execute(
        select(migration_batches).where(
            migration_batches.c.service_code == service_code, migration_batches.c.file_sha256 == sha256
        )
    ).first()
    if row is None:
        return None
    return {
        "service": service_code,
        "point_code": row.point_code,
        "file_sha256": sha256,
        "encoding": None,
        "members": row.members,
        "points": int(row.points),
        "zero_balances": 0,
        "lapses_at": row.lapses_at,
        "batch_id": row.id,
        "imported": True,
        "claimed_at_import": 0,
    }


# --- claims ----------------------------------------------------------------------------------------


def claim(
    conn: Connection, mykey: int, service_code: str, member_number: str, now: datetime | None = None
) -> bool:
    """Credit ``member_number``'s migrated balance to MyKey row ``mykey`` once; True if it was
    credited now. Called when a link to the street becomes active. Nothing to claim (no balance,
    claimed already, lapsed, the code's points no longer issued) leaves the link as it is."""
    when = now or datetime.now(UTC)
    row = conn.execute(
        select(migration_balances, migration_batches.c.point_code, migration_batches.c.lapses_at)
        .join(migration_batches, migration_batches.c.id == migration_balances.c.batch_id)
        .where(
            migration_balances.c.service_code == service_code,
            migration_balances.c.member_number == member_number,
        )
    ).first()
    if row is None or row.lapses_at <= when:
        return False
    if conn.execute(
        select(migration_claims.c.balance_id).where(migration_claims.c.balance_id == row.id)
    ).first():
        return False
    try:
        with conn.begin_nested():
            expires = rule_at(conn, row.point_code, when).expires_at(when)
            request = ledger.TransferRequest(
                server_key(f"migrate-{row.id:08d}"),
                row.point_code,
                issuer(service_code),
                f"mykey:{mykey}",
                int(row.balance),
                "migrate",
                f"{service_code} member {member_number}",
                expires_at=expires,
            )
            made = ledger.transfer(conn, request, f"migration:{service_code}", when)
            conn.execute(
                insert(migration_claims).values(
                    balance_id=row.id, mykey=mykey, transfer_id=made.id, claimed_at=when
                )
            )
    except Conflict:
        return False  # e.g. the code's fixed last day has passed: the balance stays unclaimed
    return True


# --- the report -------------------------------------------------------------------------------------


def report(conn: Connection, op: Operator, service_code: str, now: datetime | None = None) -> dict[str, Any]:
    """Per street: members and points imported, claimed, waiting and lapsed; the waiting ones listed."""
    when = now or datetime.now(UTC)
    service = _service(conn, op, service_code)
    rows = conn.execute(
        select(
            migration_balances.c.member_number,
            migration_balances.c.balance,
            migration_batches.c.point_code,
            migration_batches.c.lapses_at,
            migration_claims.c.claimed_at,
        )
        .join(migration_batches, migration_batches.c.id == migration_balances.c.batch_id)
        .outerjoin(migration_claims, migration_claims.c.balance_id == migration_balances.c.id)
        .where(migration_balances.c.service_code == service_code)
        .order_by(migration_balances.c.member_number)
    ).all()
    totals = {state: {"members": 0, "points": 0} for state in ("claimed", "waiting", "lapsed")}
    waiting = []
    for r in rows:
        state = "claimed" if r.claimed_at is not None else "lapsed" if r.lapses_at <= when else "waiting"
        totals[state]["members"] += 1
        totals[state]["points"] += int(r.balance)
        if state != "claimed":
            waiting.append(
                {
                    "member_number": r.member_number,
                    "balance": int(r.balance),
                    "point_code": r.point_code,
                    "lapses_at": r.lapses_at,
                    "state": state,
                }
            )
    return {"service": service.code, "service_name": service.name, **totals, "unclaimed": waiting}


# A member's old balance is credited when their link to the street becomes active (at linking,
# or when the street's staff confirm it), in the link's transaction.
when_link_active(claim)
