"""Terminals: one-time enrollment codes, enrollment by CSR, revocation, config.

A code is shown once, stored only as a hash, bound to its terminal (and so its place),
expires, and works once: sending it again with the same key returns the same terminal, so
the technician can re-run provisioning safely.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import Connection, Row, bindparam, insert, select, update

from mkp_core.errors import Conflict, NotFound
from mkp_core.ids import new_one_time_code, one_time_code_digest
from mkp_core.signing import key_fingerprint
from server.platform.operators.service import Operator
from server.platform.places.service import get_place
from server.platform.tables import places, terminals
from server.points import agreements, price_lists, rules
from server.terminals.ca import TerminalCA, parse_csr
from server.terminals.tables import enrollment_codes


def hash_code(code: str) -> str:
    """Codes are stored only as this hash (of the 16 characters, whatever grouping was typed)."""
    return one_time_code_digest(code)


# --- terminals --------------------------------------------------------------------------------


def create_enrollment(
    conn: Connection, op: Operator, place_id: str, name: str, ttl_hours: int
) -> dict[str, Any]:
    """A pending terminal at ``place_id`` and its one-time code (returned only here)."""
    get_place(conn, place_id, op)
    terminal_id = "t" + secrets.token_hex(6)
    code = new_one_time_code()
    now = datetime.now(UTC)
    expires = now + timedelta(hours=ttl_hours)
    conn.execute(
        insert(terminals).values(
            id=terminal_id, place_id=place_id, name=name, status="pending", created_at=now
        )
    )
    conn.execute(
        insert(enrollment_codes).values(
            code_hash=hash_code(code), terminal_id=terminal_id, expires_at=expires
        )
    )
    return {
        "code": code,
        "code_shown_before": False,
        "terminal_id": terminal_id,
        "place": place_id,
        "name": name,
        "expires_at": expires,
    }


def enrollment_without_code(reply: dict[str, Any]) -> dict[str, Any]:
    """An enrollment reply as it may be stored and replayed: the code was shown once and is gone."""
    return {**reply, "code": None, "code_shown_before": True}


def enroll(
    conn: Connection, ca: TerminalCA, code: str, csr_pem: str, now: datetime | None = None
) -> dict[str, Any]:
    """Bind a terminal's key to its pending record with the one-time code; certify the key."""
    now = now or datetime.now(UTC)
    csr = parse_csr(csr_pem)
    public_pem = csr.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    public_key = csr.public_key()
    assert isinstance(public_key, ec.EllipticCurvePublicKey)  # parse_csr takes no other key
    fingerprint = key_fingerprint(public_key)
    code_hash = hash_code(code)
    # Claim the code first: one statement for the usual case (known, unused, not expired). Of
    # simultaneous enrollments only one updates the row (the others wait for it on PostgreSQL,
    # then find used_at set and match no row), and any that claims nothing learns why below.
    claimed = conn.execute(_CLAIM, {"claimed_hash": code_hash, "now": now}).first()
    if claimed is None:
        return _unclaimed(conn, code_hash, fingerprint, ca, now)
    terminal_id = claimed.terminal_id
    certificate = ca.issue(csr, terminal_id).public_bytes(serialization.Encoding.PEM).decode()
    activated = conn.execute(
        update(terminals)
        .where(terminals.c.id == terminal_id, terminals.c.status == "pending")
        .values(
            status="active",
            public_key_pem=public_pem.decode(),
            key_fingerprint=fingerprint,
            certificate_pem=certificate,
            enrolled_at=now,
        )
    )
    if activated.rowcount != 1:  # the claim is rolled back with this refusal
        raise Conflict("terminal_revoked", "the terminal for this code was revoked")
    return {
        "terminal_id": terminal_id,
        "certificate": certificate,
        "ca_certificate": ca.certificate_pem,
        "server_time": now,
    }


_CLAIM = (
    update(enrollment_codes)
    .where(
        enrollment_codes.c.code_hash == bindparam("claimed_hash"),
        enrollment_codes.c.used_at.is_(None),
        enrollment_codes.c.expires_at > bindparam("now"),
    )
    .values(used_at=bindparam("now"))
    .returning(enrollment_codes.c.terminal_id)
)


def _unclaimed(
    conn: Connection, code_hash: str, fingerprint: str, ca: TerminalCA, now: datetime
) -> dict[str, Any]:
    """A code that could not be claimed: unknown, used (a re-run with the same key is answered
    again), or expired."""
    row = conn.execute(select(enrollment_codes).where(enrollment_codes.c.code_hash == code_hash)).first()
    if row is None:
        raise NotFound("unknown_code", "this enrollment code is not known: check it, or ask for a new one")
    if row.used_at is not None:
        return _used_code(conn, row.terminal_id, fingerprint, ca, now)
    raise Conflict("code_expired", "this enrollment code has expired: ask the operator for a new one")


def _used_code(
    conn: Connection, terminal_id: str, fingerprint: str, ca: TerminalCA, now: datetime
) -> dict[str, Any]:
    """A used code: the same key again is a re-run of the same provisioning; any other is refused."""
    terminal = conn.execute(select(terminals).where(terminals.c.id == terminal_id)).one()
    if terminal.key_fingerprint == fingerprint and terminal.status == "active":
        return _enrolled(terminal, ca, now)
    raise Conflict("code_used", "this enrollment code was used already: ask the operator for a new one")


def _enrolled(terminal: Row[Any], ca: TerminalCA, now: datetime) -> dict[str, Any]:
    return {
        "terminal_id": terminal.id,
        "certificate": terminal.certificate_pem,
        "ca_certificate": ca.certificate_pem,
        "server_time": now,
    }


def get_terminal(conn: Connection, terminal_id: str, op: Operator | None = None) -> dict[str, Any]:
    row = conn.execute(
        select(terminals, places.c.municipality_code)
        .join(places, places.c.id == terminals.c.place_id)
        .where(terminals.c.id == terminal_id)
    ).first()
    if row is None or (op is not None and not op.covers(row.municipality_code)):
        raise NotFound("unknown_terminal", f"no terminal {terminal_id}")
    return _terminal(row)


def list_terminals(conn: Connection, op: Operator, place_id: str | None = None) -> list[dict[str, Any]]:
    query = select(terminals, places.c.municipality_code).join(places, places.c.id == terminals.c.place_id)
    if op.municipality:
        query = query.where(places.c.municipality_code == op.municipality)
    if place_id:
        query = query.where(terminals.c.place_id == place_id)
    return [_terminal(r) for r in conn.execute(query.order_by(terminals.c.created_at, terminals.c.id))]


def revoke_terminal(conn: Connection, op: Operator, terminal_id: str, reason: str | None) -> dict[str, Any]:
    """Cut a terminal off: its very next request is refused."""
    current = get_terminal(conn, terminal_id, op)
    if current["status"] == "revoked":
        return current
    conn.execute(
        update(terminals)
        .where(terminals.c.id == terminal_id)
        .values(status="revoked", revoked_at=datetime.now(UTC), revoke_reason=reason)
    )
    return get_terminal(conn, terminal_id)


def _terminal(row: Row[Any]) -> dict[str, Any]:
    return {
        "id": row.id,
        "name": row.name,
        "place": row.place_id,
        "status": row.status,
        "created_at": row.created_at,
        "enrolled_at": row.enrolled_at,
        "revoked_at": row.revoked_at,
        "revoke_reason": row.revoke_reason,
        "key_fingerprint": row.key_fingerprint,
    }


def terminal_config(
    conn: Connection, terminal_id: str, offline: dict[str, int], now: datetime | None = None
) -> dict[str, Any]:
    """What a terminal needs to work: its place, the point codes its rules accept there now
    (agreements and listed places included), offline limits."""
    t = get_terminal(conn, terminal_id)
    return {
        "terminal_id": terminal_id,
        "name": t["name"],
        **place_config(conn, t["place"], now or datetime.now(UTC))[0],
        "offline": offline,
    }


def place_config(conn: Connection, place_id: str, at: datetime) -> tuple[dict[str, Any], datetime | None]:
    """The part of a terminal's config its place decides, as at ``at``: the place, the point codes
    accepted there, its price list; and until when that holds without any write (None: until one).
    Every write it depends on bumps ``server.platform.config_versions``."""
    place = get_place(conn, place_id)
    agreed = agreements.in_force(conn, place["municipality"])
    codes, until = rules.codes_spendable_until(conn, place, agreed, at)
    return {
        "place": {k: place[k] for k in ("id", "name", "kind", "municipality", "street", "service")},
        "point_codes": list(codes),
        "price_list": price_lists.items(conn, place["id"])["items"],
    }, until
