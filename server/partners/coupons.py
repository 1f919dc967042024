"""Coupon codes: single-use codes a partner hands out, worth so many municipal points each.

A batch is made on the partner's (or an operator's) request; its codes are shown once, in that
answer, and stored only as SHA-256 hashes (``mkp_core.coupon``: 80 random bits and a check
character). A holder redeems a code with their card; the points then go through holding as an
online conversion does (``server.partners.holding``), premiums included.

Refusals are distinct, in this order: ``too_many_attempts`` (this source got too many codes wrong
lately), ``invalid_coupon_code`` (not even a code's shape), ``coupon_typo`` (the check character
does not fit: one character mistyped, or two swapped), ``coupon_unknown`` (well formed, never
issued: a guess), ``coupon_cancelled``, ``coupon_expired``, ``coupon_used``. The throttle
(``server.partners.throttle``) counts the wrong ones (shape, typo, unknown) per holder, at home and
at every terminal alike: ``MAX_FAILURES`` in ``WINDOW``, then every try of theirs is refused until
the window ends.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, insert, select, update

from mkp_core import coupon
from mkp_core.errors import Conflict, MkpError, NotFound
from server.db.engine import chunked, executemany, inserted_id
from server.partners.registry import Partner
from server.partners.tables import coupon_batches, coupons
from server.partners.throttle import MAX_FAILURES, WINDOW, WrongCode

__all__ = ["MAX_FAILURES", "WINDOW", "WrongCode"]  # the throttle's, named where coupons are

ISSUED = "issued"
REDEEMED = "redeemed"
CANCELLED = "cancelled"
DEFAULT_VALIDITY = timedelta(days=365)


@dataclass(frozen=True)
class Redeemable:
    code_hash: str
    batch_id: int
    partner_id: str
    points: int


def _batch_view(row: Any, codes: list[str] | None = None) -> dict[str, Any]:
    return {
        "batch_id": row.id,
        "partner": row.partner_id,
        "points": int(row.points),
        "count": int(row.count),
        "expires_at": row.expires_at,
        "cancelled_at": row.cancelled_at,
        "created_at": row.created_at,
        "codes": codes,
    }


def issue_batch(
    conn: Connection,
    partner: Partner,
    count: int,
    points: int,
    actor: str,
    expires_at: datetime | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """``count`` new codes worth ``points`` each; the reply holds the codes (pretty), once."""
    now = now or datetime.now(UTC)
    expires_at = expires_at or now + DEFAULT_VALIDITY
    if expires_at <= now:
        raise MkpError("invalid_date", "coupon codes must expire after they are made")
    result = conn.execute(
        insert(coupon_batches).values(
            partner_id=partner.id,
            points=points,
            count=count,
            expires_at=expires_at,
            created_by=actor,
            created_at=now,
        )
    )
    batch_id = inserted_id(result)
    codes = coupon.new_codes(count)
    for part in chunked(codes, 5000):
        executemany(
            conn,
            "INSERT INTO coupons (code_hash, batch_id, status) VALUES (?, ?, ?)",
            [(coupon.digest(c), batch_id, ISSUED) for c in part],
        )
    row = conn.execute(select(coupon_batches).where(coupon_batches.c.id == batch_id)).one()
    return _batch_view(row, [coupon.pretty(c) for c in codes])


def without_codes(reply: dict[str, Any]) -> dict[str, Any]:
    """What is stored for a retry: the batch, not its codes (they are shown once)."""
    return {**reply, "codes": None}


def cancel_batch(conn: Connection, batch_id: int, now: datetime | None = None) -> dict[str, Any]:
    """Cancel every code of a batch not redeemed yet."""
    row = conn.execute(select(coupon_batches).where(coupon_batches.c.id == batch_id)).first()
    if row is None:
        raise NotFound("unknown_batch", f"no coupon batch {batch_id}")
    if row.cancelled_at is None:
        now = now or datetime.now(UTC)
        conn.execute(update(coupon_batches).where(coupon_batches.c.id == batch_id).values(cancelled_at=now))
        conn.execute(
            update(coupons)
            .where(coupons.c.batch_id == batch_id, coupons.c.status == ISSUED)
            .values(status=CANCELLED)
        )
        row = conn.execute(select(coupon_batches).where(coupon_batches.c.id == batch_id)).one()
    return _batch_view(row)


def cancel_code(conn: Connection, typed: str) -> dict[str, Any]:
    """Cancel one code (lost, stolen); a redeemed one cannot be (its points are converted)."""
    found = _find(conn, _normalised(typed))
    if found.status == REDEEMED:
        raise Conflict("coupon_used", "this coupon code was redeemed already")
    conn.execute(update(coupons).where(coupons.c.code_hash == found.code_hash).values(status=CANCELLED))
    return {"status": CANCELLED}


def _normalised(typed: str) -> str:
    try:
        code = coupon.normalise(typed)
    except coupon.CouponFormatError as e:
        raise WrongCode("invalid_coupon_code", str(e)) from None
    if not coupon.check_ok(code):
        raise WrongCode(
            "coupon_typo",
            "this code has a typo: its check character does not fit (a character mistyped or two swapped)",
        )
    return code


def _find(conn: Connection, code: str) -> Any:
    row = conn.execute(
        select(
            coupons.c.code_hash,
            coupons.c.status,
            coupon_batches.c.id.label("batch_id"),
            coupon_batches.c.partner_id,
            coupon_batches.c.points,
            coupon_batches.c.expires_at,
        )
        .join(coupon_batches, coupon_batches.c.id == coupons.c.batch_id)
        .where(coupons.c.code_hash == coupon.digest(code))
    ).first()
    if row is None:
        raise WrongCode("coupon_unknown", "no such coupon code was issued")
    return row


def claim(conn: Connection, typed: str, now: datetime | None = None) -> Redeemable:
    """Take a code for redemption (marked redeemed in the caller's transaction), or refuse it
    (:class:`WrongCode` for what the throttle counts: the caller judges it under the throttle)."""
    now = now or datetime.now(UTC)
    row = _find(conn, _normalised(typed))
    if row.status == CANCELLED:
        raise Conflict("coupon_cancelled", "this coupon code was cancelled by its issuer")
    if row.status == REDEEMED:
        raise Conflict("coupon_used", "this coupon code was redeemed already")
    if row.expires_at <= now:
        raise Conflict("coupon_expired", f"this coupon code expired at {row.expires_at:%Y-%m-%d %H:%M} UTC")
    done = conn.execute(
        update(coupons)
        .where(coupons.c.code_hash == row.code_hash, coupons.c.status == ISSUED)
        .values(status=REDEEMED, redeemed_at=now)
    )
    if done.rowcount != 1:  # redeemed a moment ago by a request that raced this one
        raise Conflict("coupon_used", "this coupon code was redeemed already")
    return Redeemable(row.code_hash, int(row.batch_id), row.partner_id, int(row.points))
