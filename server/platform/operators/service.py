"""Operator tokens: random, shown once, stored only as a SHA-256 hash; optionally scoped.

A token scoped to a municipality can act only there; an unscoped one is the central operator.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, bindparam, insert, select, update
from sqlalchemy.exc import IntegrityError

from mkp_core.errors import Conflict, Forbidden, MkpError, NotFound, Unauthorized
from mkp_core.ids import validate_municipality_code
from server.db.engine import require_at_commit
from server.platform.tables import municipalities, operators

TOKEN_PREFIX = "mkp_op_"


@dataclass(frozen=True)
class Operator:
    id: int
    name: str
    municipality: str | None

    @property
    def actor(self) -> str:
        return f"operator:{self.name}"

    def require_scope(self, municipality_code: str) -> None:
        """Refuse unless this operator may act for ``municipality_code``."""
        if self.municipality is not None and self.municipality != municipality_code:
            raise Forbidden(
                "out_of_scope",
                f"operator {self.name} may act only for municipality {self.municipality}, not {municipality_code}",
            )

    def covers(self, municipality_code: str | None) -> bool:
        """True if this operator may act for ``municipality_code`` (the central one: for any).

        An object of another municipality is refused as if it did not exist (``unknown_...``), so
        the answer says nothing about other towns (see server/platform/authority.py)."""
        return self.municipality is None or self.municipality == municipality_code

    def require_central(self) -> None:
        if self.municipality is not None:
            raise Forbidden("central_operator_only", "only an unscoped (central) operator may do this")


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_operator(conn: Connection, name: str, municipality: str | None = None) -> str:
    """Create an operator and return its token (the only time it is ever shown)."""
    name = name.strip()
    if not name or len(name) > 64 or not name.isprintable():
        raise MkpError("invalid_operator_name", "operator name must be 1-64 printable characters")
    if municipality is not None:
        validate_municipality_code(municipality)
        if (
            conn.execute(select(municipalities.c.code).where(municipalities.c.code == municipality)).first()
            is None
        ):
            raise NotFound("unknown_municipality", f"municipality {municipality} has not been added")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    try:
        with conn.begin_nested():
            conn.execute(
                insert(operators).values(
                    name=name,
                    token_hash=hash_token(token),
                    municipality_code=municipality,
                    created_at=datetime.now(UTC),
                )
            )
    except IntegrityError:
        raise Conflict("operator_exists", f"an operator named {name!r} exists already") from None
    return token


def revoke_operator(conn: Connection, name: str) -> bool:
    """Revoke an operator's token at once; False if it was revoked already."""
    row = conn.execute(select(operators.c.id, operators.c.revoked_at).where(operators.c.name == name)).first()
    if row is None:
        raise NotFound("unknown_operator", f"no operator named {name!r}")
    if row.revoked_at is not None:
        return False
    conn.execute(update(operators).where(operators.c.id == row.id).values(revoked_at=datetime.now(UTC)))
    return True


def list_operators(conn: Connection) -> list[dict[str, Any]]:
    rows = conn.execute(select(operators).order_by(operators.c.name))
    return [
        {
            "name": r.name,
            "municipality": r.municipality_code,
            "created_at": r.created_at,
            "revoked": r.revoked_at is not None,
        }
        for r in rows
    ]


def authenticate(conn: Connection, token: str | None) -> Operator:
    """The operator a bearer token belongs to, or ``Unauthorized``."""
    return operator_by_hash(conn, token_hash(token))


def token_hash(token: str | None) -> str:
    """The stored form of a bearer token that may be an operator's, or ``Unauthorized`` for one
    that cannot be (missing, another prefix, too long): refused without reading anything."""
    if not token or not token.startswith(TOKEN_PREFIX) or len(token) > 128:
        raise Unauthorized("unauthorized", "a valid operator token is required (Authorization: Bearer ...)")
    return hash_token(token)


def operator_by_hash(conn: Connection, digest: str) -> Operator:
    """The operator whose token has this hash and is not revoked, or ``Unauthorized``."""
    row = conn.execute(_BY_HASH, {"token_hash": digest}).first()
    if row is None:
        raise not_recognised()
    return Operator(row.id, row.name, row.municipality_code)


def confirm(conn: Connection, operator: Operator, digest: str) -> None:
    """Raise ``Unauthorized`` (as :func:`authenticate` would now) unless ``operator`` still has the
    token of this hash, not revoked: a token a server process remembers is confirmed so, in a
    transaction the request opens anyway (``server.platform.operators.auth``)."""
    if conn.execute(_STILL_VALID, {"id": operator.id, "token_hash": digest}).first() is None:
        raise not_recognised()


def confirm_at_commit(
    conn: Connection, operator: Operator, digest: str, refused: Callable[[], Exception]
) -> None:
    """:func:`confirm` as the last word of ``conn``'s write transaction: it commits only if the
    token still holds then; else it is rolled back and ``refused()`` raised (an ``Unauthorized``).
    On PostgreSQL the check costs no round trip of its own (``require_at_commit``)."""
    require_at_commit(conn, _STILL_VALID_SQL, (operator.id, digest), refused)


def not_recognised() -> Unauthorized:
    """The refusal of a token that is not (or no longer) an operator's."""
    return Unauthorized("unauthorized", "operator token not recognised or revoked")


# Built once: SQLAlchemy finds them compiled, without building and hashing new statements a request.
_BY_HASH = select(operators.c.id, operators.c.name, operators.c.municipality_code).where(
    operators.c.token_hash == bindparam("token_hash"), operators.c.revoked_at.is_(None)
)
#: :data:`_STILL_VALID` as the driver takes it (``require_at_commit``).
_STILL_VALID_SQL = "SELECT id FROM operators WHERE id = ? AND token_hash = ? AND revoked_at IS NULL"
_STILL_VALID = select(operators.c.id).where(
    operators.c.id == bindparam("id"),
    operators.c.token_hash == bindparam("token_hash"),
    operators.c.revoked_at.is_(None),
)
