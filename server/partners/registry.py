"""Partner companies: who they are, their rate, how long their points are held, the key they sign with.

The partner's key pair is made where the partner keeps it (``mkp-admin partner add`` writes the
private key to a 0600 file on the operator's machine for hand-over, or takes the partner's own
public key): the server stores the public key only, so nothing stored here can sign for a partner.
Its requests are RFC 9421 signatures as a terminal's, with key id ``partner:<ID>`` and their own
tag (``signing.PARTNER_TAG``). Revocation counts on the very next request: the status is read on
each one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cryptography.exceptions import UnsupportedAlgorithm
from sqlalchemy import Connection, bindparam, exists, insert, select, update

from mkp_core import signing
from mkp_core.errors import Conflict, MkpError, NotFound
from server.partners.tables import partners, premium_campaigns
from server.platform.operators.service import Operator

ACTIVE = "active"
REVOKED = "revoked"
KEY_PREFIX = "partner:"


@dataclass(frozen=True)
class Partner:
    id: str
    name: str
    rate_from: int
    rate_to: int
    hold_days: int
    status: str
    public_key_pem: str
    created_at: datetime
    revoked_at: datetime | None
    #: Whether a campaign of the partner might pay a premium now (read with the partner by
    #: :func:`signed_by`); None: not read, ask.
    campaigns_open: bool | None = None

    @property
    def account(self) -> str:
        """The issuer account converted points come from: its balance is what the partner owes."""
        return f"partner:{self.id}"

    @property
    def key_id(self) -> str:
        return f"{KEY_PREFIX}{self.id}"

    def points_for(self, amount: int) -> int:
        """``amount`` partner points in municipal points, by the rate; only whole units of it.

        Integer arithmetic only: 10,000 miles at 1:1 are 10,000 points, 500 at 500:100 are 100;
        501 at 500:100 is refused, not rounded (the partner converts whole units)."""
        if amount % self.rate_from:
            raise MkpError(
                "amount_not_whole_units",
                f"{self.id} converts in units of {self.rate_from} points ({self.rate_from} -> "
                f"{self.rate_to}); {amount} is not a whole number of units",
            )
        return amount // self.rate_from * self.rate_to

    def view(self) -> dict[str, Any]:
        return {
            "partner_id": self.id,
            "name": self.name,
            "rate_from": self.rate_from,
            "rate_to": self.rate_to,
            "hold_days": self.hold_days,
            "status": self.status,
            "key_id": self.key_id,
            "created_at": self.created_at,
            "revoked_at": self.revoked_at,
        }


def _partner(row: Any, campaigns_open: bool | None = None) -> Partner:
    return Partner(
        id=row.id,
        name=row.name,
        rate_from=int(row.rate_from),
        rate_to=int(row.rate_to),
        hold_days=int(row.hold_days),
        status=row.status,
        public_key_pem=row.public_key_pem,
        created_at=row.created_at,
        revoked_at=row.revoked_at,
        campaigns_open=campaigns_open,
    )


def add(
    conn: Connection,
    op: Operator,
    partner_id: str,
    name: str,
    public_key_pem: str,
    rate: tuple[int, int] = (1, 1),
    hold_days: int = 14,
) -> Partner:
    """Register a partner with its public key (P-256, PEM). Central operators only."""
    op.require_central()
    try:
        signing.load_public_key(public_key_pem.encode())
    except (ValueError, UnsupportedAlgorithm):
        raise MkpError(
            "invalid_public_key", "the partner's key must be an ECDSA P-256 public key (PEM)"
        ) from None
    if conn.execute(select(partners.c.id).where(partners.c.id == partner_id)).first() is not None:
        raise Conflict("partner_exists", f"partner {partner_id} exists already")
    conn.execute(
        insert(partners).values(
            id=partner_id,
            name=name,
            rate_from=rate[0],
            rate_to=rate[1],
            hold_days=hold_days,
            public_key_pem=public_key_pem,
            status=ACTIVE,
            created_at=datetime.now(UTC),
        )
    )
    return get(conn, partner_id)


_PARTNER = select(partners).where(partners.c.id == bindparam("id"))
#: The partner, and whether any campaign of it has not ended and has budget left: a superset of
#: those running when its conversion is booked a moment later in the same transaction (budgets
#: only shrink; on SQLite no campaign can be added meanwhile, as this transaction is the writer).
_PARTNER_SIGNED = select(
    partners,
    exists()
    .where(
        premium_campaigns.c.partner_id == partners.c.id,
        premium_campaigns.c.ends_at > bindparam("now"),
        premium_campaigns.c.used < premium_campaigns.c.budget,
    )
    .label("campaigns_open"),
).where(partners.c.id == bindparam("id"))


def get(conn: Connection, partner_id: str) -> Partner:
    row = conn.execute(_PARTNER, {"id": partner_id}).first()
    if row is None:
        raise NotFound("unknown_partner", f"no partner {partner_id}")
    return _partner(row)


def active(conn: Connection, partner_id: str) -> Partner:
    """The partner, refused with ``partner_revoked`` once revoked."""
    partner = get(conn, partner_id)
    if partner.status != ACTIVE:
        raise Conflict("partner_revoked", f"partner {partner_id} has been revoked")
    return partner


def list_partners(conn: Connection) -> list[dict[str, Any]]:
    return [_partner(r).view() for r in conn.execute(select(partners).order_by(partners.c.id))]


def revoke(conn: Connection, op: Operator, partner_id: str) -> Partner:
    """Cut the partner's key off at once (its conversions already made stay, and are released)."""
    op.require_central()
    partner = get(conn, partner_id)
    if partner.status == ACTIVE:
        conn.execute(
            update(partners)
            .where(partners.c.id == partner_id)
            .values(status=REVOKED, revoked_at=datetime.now(UTC))
        )
    return get(conn, partner_id)


def key_row(conn: Connection, key_id: str, statement: Any = _PARTNER, **params: Any) -> Any:
    """The partner row (status, key) of a claimed key id, or the signature error to answer."""
    if not key_id.startswith(KEY_PREFIX):
        raise signing.UnknownKey(f"{key_id!r} is not a partner's key id (partner:<ID>)")
    row = conn.execute(statement, {"id": key_id[len(KEY_PREFIX) :], **params}).first()
    if row is None:
        raise signing.UnknownKey(f"no partner has key id {key_id!r}")
    if row.status != ACTIVE:
        raise signing.RevokedKey(f"partner key {key_id} has been revoked")
    return row


def signed_by(conn: Connection, key_id: str, public_key_pem: str) -> Partner:
    """The active partner whose key id is ``key_id`` and whose stored key is ``public_key_pem`` (the
    one a request was verified with, maybe from a cache), in ``conn``'s transaction: a revoked key
    is refused here (``revoked_key``) even if the signature was checked without the database; a key
    changed since is refused as the signature would have been (``bad_signature``). Read with it:
    whether a campaign of the partner may pay a premium (none: a conversion need not ask)."""
    row = key_row(conn, key_id, _PARTNER_SIGNED, now=datetime.now(UTC))
    if row.public_key_pem != public_key_pem:
        raise signing.BadSignature(f"signature does not verify with partner key {key_id}'s current key")
    return _partner(row, bool(row.campaigns_open))
