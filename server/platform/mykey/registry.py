"""The MyKey ID registry: IDs bound to card certificates, changed, renewed, suspended, resumed.

One certificate, one MyKey ID. The ID a holder sees may change (a limited number of times); the
row's number never does, and it names the holder's wallets in the ledger (``mykey:<number>``),
so a changed ID keeps its points. An ID someone changed away from stays reserved.

Only what identifies a certificate is stored (issuer, serial, SHA-256): never a name, never the
Individual Number. Suspensions, resumptions, renewals and ID changes are audited (who, when,
why); no use of an ID is ever recorded.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, bindparam, insert, select, update

from mkp_core import mykey_id as rules
from mkp_core.errors import Conflict, Forbidden, MkpError, NotFound
from mkp_core.ids import new_one_time_code, one_time_code_digest
from server.db.engine import chunked, db_datetime
from server.ledger.tables import mykeys
from server.platform.municipalities.service import get_municipality
from server.platform.mykey.cards import Card
from server.platform.tables import mykey_audit, mykey_certificates, mykey_renewal_codes, retired_mykey_ids

ACTIVE = "active"
SUSPENDED = "suspended"
CURRENT = "current"
REPLACED = "replaced"
REVOKED = "revoked"
WALLET_PREFIX = "mykey:"


@dataclass(frozen=True)
class MyKey:
    """A MyKey ID as the domain code passes it around."""

    number: int
    mykey_id: str
    status: str
    changes_left: int
    home_municipality: str | None
    created_at: datetime
    suspended_at: datetime | None
    suspend_reason: str | None

    @property
    def wallet(self) -> str:
        """The ledger owner of this holder's points (never changes, whatever the ID becomes)."""
        return f"{WALLET_PREFIX}{self.number}"

    def require_active(self) -> None:
        """Refuse with ``mykey_suspended`` unless the ID is active."""
        if self.status != ACTIVE:
            raise Forbidden(
                "mykey_suspended",
                f"MyKey ID {self.mykey_id} is suspended ({self.suspend_reason}): "
                "the holder must ask the municipal office to resume it",
            )


def from_row(row: Any) -> MyKey:
    """A ``mykeys`` row as a :class:`MyKey`."""
    return MyKey(
        number=row.id,
        mykey_id=row.mykey_id,
        status=row.status,
        changes_left=row.changes_left,
        home_municipality=row.home_municipality,
        created_at=row.created_at,
        suspended_at=row.suspended_at,
        suspend_reason=row.suspend_reason,
    )


# --- finding IDs ------------------------------------------------------------------------------


def find(conn: Connection, mykey_id: str) -> MyKey:
    """The MyKey ID typed as ``mykey_id`` (any case, look-alikes alike), or ``unknown_mykey``."""
    row = conn.execute(_BY_FOLDED, {"folded": rules.fold(mykey_id)}).first()
    if row is None:
        raise unknown_mykey(mykey_id)
    return from_row(row)


# Built once (every operator's act on a resident finds them): no statement built a request.
_BY_FOLDED = select(mykeys).where(mykeys.c.folded == bindparam("folded"))


def find_statement(mykey_id: str) -> tuple[str, list[Any]]:
    """:func:`find`'s query as the driver takes it, for a caller that sends it with its other reads
    in one round trip (``server.db.engine.fetch_together``); :func:`found` reads its rows."""
    return _FOUND, [rules.fold(mykey_id)]


def found(mykey_id: str, rows: list[tuple[Any, ...]]) -> MyKey:
    """The MyKey ID of :func:`find_statement`'s ``rows``, or ``unknown_mykey``, as :func:`find` says."""
    if not rows:
        raise unknown_mykey(mykey_id)
    number, shown, status, changes_left, home, created_at, suspended_at, reason = rows[0]
    created = db_datetime(created_at)
    assert created is not None  # NOT NULL
    return MyKey(
        int(number), shown, status, int(changes_left), home, created, db_datetime(suspended_at), reason
    )


_FOUND = (
    "SELECT id, mykey_id, status, changes_left, home_municipality, created_at, suspended_at, "
    "suspend_reason FROM mykeys WHERE folded = ?"
)


def unknown_mykey(mykey_id: str) -> NotFound:
    """The refusal for a MyKey ID typed as ``mykey_id`` that is not there (or not the caller's to see)."""
    return NotFound("unknown_mykey", f"no MyKey ID {mykey_id}")


def by_number(conn: Connection, number: int) -> MyKey:
    row = conn.execute(select(mykeys).where(mykeys.c.id == number)).first()
    if row is None:
        raise NotFound("unknown_mykey", f"no MyKey ID number {number}")
    return from_row(row)


# Built once: the card-to-holder query runs on every lookup.
_HOLDER_OF_CERTIFICATE = (
    select(mykeys, mykey_certificates.c.status.label("certificate_status"))
    .join(mykey_certificates, mykey_certificates.c.mykey == mykeys.c.id)
    .where(mykey_certificates.c.sha256 == bindparam("sha256"))
)


def holder_of(conn: Connection, card: Card) -> MyKey:
    """The MyKey ID whose *current* certificate ``card`` is, or why there is none.

    A certificate a renewal replaced stops working at once (``certificate_replaced``).
    """
    return _holder_of_row(conn.execute(_HOLDER_OF_CERTIFICATE, {"sha256": card.sha256}).first())


def holders_of(conn: Connection, certificates: Iterable[str]) -> dict[str, MyKey | MkpError]:
    """:func:`holder_of` for many cards at once, by certificate SHA-256: the holder, or why there
    is none (a query a chunk: a terminal's sync checks hundreds of cards)."""
    wanted = sorted(set(certificates))
    rows: dict[str, Any] = {}
    for part in chunked(wanted):
        query = (
            select(
                mykeys, mykey_certificates.c.status.label("certificate_status"), mykey_certificates.c.sha256
            )
            .join(mykey_certificates, mykey_certificates.c.mykey == mykeys.c.id)
            .where(mykey_certificates.c.sha256.in_(part))
        )
        rows.update((row.sha256, row) for row in conn.execute(query))
    found: dict[str, MyKey | MkpError] = {}
    for sha256 in wanted:
        try:
            found[sha256] = _holder_of_row(rows.get(sha256))
        except MkpError as e:
            found[sha256] = e
    return found


def _holder_of_row(row: Any) -> MyKey:
    if row is None:
        raise NotFound("not_registered", "this card has no MyKey ID yet: register it first")
    if row.certificate_status == REPLACED:
        raise Forbidden(
            "certificate_replaced", "this card's certificate was replaced by a newer card: use the new card"
        )
    if row.certificate_status == REVOKED:
        raise Forbidden("certificate_revoked", "this card's certificate is revoked")
    return from_row(row)


def active_holder_of(conn: Connection, card: Card) -> MyKey:
    """:func:`holder_of`, refused with ``mykey_suspended`` unless the ID is active."""
    holder = holder_of(conn, card)
    holder.require_active()
    return holder


# --- registering and changing IDs --------------------------------------------------------------


def _taken(conn: Connection, folded: str) -> bool:
    live = conn.execute(select(mykeys.c.id).where(mykeys.c.folded == folded)).first()
    retired = conn.execute(
        select(retired_mykey_ids.c.folded).where(retired_mykey_ids.c.folded == folded)
    ).first()
    return live is not None or retired is not None


def _free_random_id(conn: Connection) -> str:
    for _ in range(20):  # 2^40 IDs: a clash is rare, twenty in a row never happens
        candidate = rules.new_mykey_id()
        if not _taken(conn, rules.fold(candidate)):
            return candidate
    raise MkpError("mykey_space_exhausted", "could not find a free MyKey ID; try again")


def register(
    conn: Connection,
    card: Card,
    chosen: str | None,
    home_municipality: str | None,
    changes: int,
    now: datetime | None = None,
) -> tuple[MyKey, bool]:
    """The MyKey ID of ``card``, made now if it has none: (ID, created).

    ``chosen``: the holder's own ID (checked and unique), else a random one. A card that has an
    ID gets it back, whatever was chosen.
    """
    now = now or datetime.now(UTC)
    known = conn.execute(
        select(mykey_certificates.c.sha256).where(mykey_certificates.c.sha256 == card.sha256)
    ).first()
    if known is not None:
        return holder_of(conn, card), False
    if home_municipality is not None:
        get_municipality(conn, home_municipality)
    if chosen is not None:
        rules.validate_chosen(chosen)
        if _taken(conn, rules.fold(chosen)):
            raise Conflict("mykey_taken", f"MyKey ID {chosen} is taken (in some spelling): choose another")
    mykey_id = chosen or _free_random_id(conn)
    number = conn.execute(
        insert(mykeys)
        .values(
            mykey_id=mykey_id,
            folded=rules.fold(mykey_id),
            status=ACTIVE,
            changes_left=changes,
            home_municipality=home_municipality,
            created_at=now,
        )
        .returning(mykeys.c.id)
    ).scalar_one()
    _bind(conn, number, card, now)
    return by_number(conn, number), True


def _bind(conn: Connection, number: int, card: Card, now: datetime) -> None:
    conn.execute(
        insert(mykey_certificates).values(
            sha256=card.sha256,
            mykey=number,
            issuer_fingerprint=card.issuer_fingerprint,
            serial=card.serial,
            not_after=card.not_after,
            status=CURRENT,
            bound_at=now,
        )
    )


def change_id(conn: Connection, holder: MyKey, new_id: str, now: datetime | None = None) -> MyKey:
    """Give ``holder`` their own ID instead (while changes are left); the old one stays reserved."""
    now = now or datetime.now(UTC)
    holder.require_active()
    rules.validate_chosen(new_id)
    if holder.changes_left <= 0:
        raise Forbidden("no_changes_left", f"MyKey ID {holder.mykey_id} cannot be changed again")
    old, new = rules.fold(holder.mykey_id), rules.fold(new_id)
    if new != old and _taken(conn, new):
        raise Conflict("mykey_taken", f"MyKey ID {new_id} is taken (in some spelling): choose another")
    conn.execute(
        update(mykeys)
        .where(mykeys.c.id == holder.number)
        .values(mykey_id=new_id, folded=new, changes_left=holder.changes_left - 1)
    )
    if new != old:
        conn.execute(insert(retired_mykey_ids).values(folded=old, mykey=holder.number, retired_at=now))
    audit(conn, holder.number, "change-id", "holder", f"{holder.mykey_id} -> {new_id}", now)
    return by_number(conn, holder.number)


def set_home(conn: Connection, holder: MyKey, municipality: str | None) -> MyKey:
    """The municipality converted points go to when the holder names none."""
    if municipality is not None:
        get_municipality(conn, municipality)
    conn.execute(update(mykeys).where(mykeys.c.id == holder.number).values(home_municipality=municipality))
    return by_number(conn, holder.number)


# --- suspension ----------------------------------------------------------------------------------


def suspend(
    conn: Connection, holder: MyKey, actor: str, reason: str, now: datetime | None = None
) -> tuple[MyKey, bool]:
    """Suspend at once (a lost card, a revoked certificate): (ID, changed). Twice is harmless."""
    now = now or datetime.now(UTC)
    if holder.status == SUSPENDED:
        return holder, False
    conn.execute(
        update(mykeys)
        .where(mykeys.c.id == holder.number)
        .values(status=SUSPENDED, suspended_at=now, suspend_reason=reason[:32])
    )
    audit(conn, holder.number, "suspend", actor, reason, now)
    return by_number(conn, holder.number), True


def resume(
    conn: Connection, holder: MyKey, actor: str, reason: str | None, now: datetime | None = None
) -> MyKey:
    """Undo a suspension after the operator checked identity; not while the certificate is revoked."""
    now = now or datetime.now(UTC)
    if holder.status == ACTIVE:
        return holder
    current = current_certificate(conn, holder)
    if current is None or current["status"] != CURRENT:
        raise Conflict(
            "certificate_revoked",
            f"MyKey ID {holder.mykey_id}'s certificate is revoked: renew it with the new card first "
            f"(mkp-admin mykey renewal-code {holder.mykey_id})",
        )
    conn.execute(
        update(mykeys)
        .where(mykeys.c.id == holder.number)
        .values(status=ACTIVE, suspended_at=None, suspend_reason=None)
    )
    audit(conn, holder.number, "resume", actor, reason, now)
    return by_number(conn, holder.number)


def audit(conn: Connection, number: int, action: str, actor: str, reason: str | None, now: datetime) -> None:
    conn.execute(
        insert(mykey_audit).values(
            mykey=number, action=action, actor=actor[:80], reason=(reason or None) and reason[:200], at=now
        )
    )


def audit_log(conn: Connection, holder: MyKey) -> list[dict[str, Any]]:
    rows = conn.execute(
        select(mykey_audit).where(mykey_audit.c.mykey == holder.number).order_by(mykey_audit.c.id)
    )
    return [{"action": r.action, "actor": r.actor, "reason": r.reason, "at": r.at} for r in rows]


def current_certificate(conn: Connection, holder: MyKey) -> dict[str, Any] | None:
    """The certificate the ID works with now (``current``, or ``revoked`` by the sweep)."""
    row = conn.execute(
        select(mykey_certificates)
        .where(mykey_certificates.c.mykey == holder.number, mykey_certificates.c.status != REPLACED)
        .order_by(mykey_certificates.c.bound_at.desc())
        .limit(1)
    ).first()
    if row is None:
        return None
    return {
        "sha256": row.sha256,
        "issuer_fingerprint": row.issuer_fingerprint,
        "serial": row.serial,
        "not_after": row.not_after,
        "status": row.status,
    }


# --- renewal -------------------------------------------------------------------------------------


def issue_renewal_code(
    conn: Connection, holder: MyKey, actor: str, ttl: timedelta, now: datetime | None = None
) -> dict[str, Any]:
    """A one-time code that lets a new card take over ``holder`` (shown once, stored as a hash)."""
    now = now or datetime.now(UTC)
    code = new_one_time_code()
    expires = now + ttl
    conn.execute(
        insert(mykey_renewal_codes).values(
            code_hash=one_time_code_digest(code, "renewal code"),
            mykey=holder.number,
            expires_at=expires,
            created_by=actor[:80],
            created_at=now,
        )
    )
    audit(conn, holder.number, "renewal-code", actor, None, now)
    return {"code": code, "code_shown_before": False, "mykey_id": holder.mykey_id, "expires_at": expires}


def renewal_code_without_code(reply: dict[str, Any]) -> dict[str, Any]:
    """A renewal-code reply as it may be stored and replayed: the code was shown once."""
    return {**reply, "code": None, "code_shown_before": True}


def holder_of_renewal_code(conn: Connection, code: str, now: datetime) -> MyKey:
    """The MyKey ID a renewal code was issued for; the code is used up with the caller's transaction."""
    digest = one_time_code_digest(code, "renewal code")
    row = conn.execute(select(mykey_renewal_codes).where(mykey_renewal_codes.c.code_hash == digest)).first()
    if row is None:
        raise NotFound("unknown_code", "this renewal code is not known: check it, or ask for a new one")
    if row.used_at is not None:
        raise Conflict(
            "code_used", "this renewal code was used already: ask the municipal office for a new one"
        )
    if row.expires_at <= now:
        raise Conflict(
            "code_expired", "this renewal code has expired: ask the municipal office for a new one"
        )
    claimed = conn.execute(
        update(mykey_renewal_codes)
        .where(mykey_renewal_codes.c.code_hash == digest, mykey_renewal_codes.c.used_at.is_(None))
        .values(used_at=now)
    )
    if claimed.rowcount != 1:
        raise Conflict("code_used", "this renewal code was used already")
    return by_number(conn, row.mykey)


def renew(conn: Connection, holder: MyKey, new_card: Card, actor: str, now: datetime | None = None) -> MyKey:
    """Move ``holder`` to ``new_card``'s certificate; the old one stops working at once."""
    now = now or datetime.now(UTC)
    if new_card.expired:
        raise MkpError("certificate_expired", "the new card's certificate has expired")
    bound = conn.execute(
        select(mykey_certificates.c.mykey).where(mykey_certificates.c.sha256 == new_card.sha256)
    ).first()
    if bound is not None:
        if bound.mykey == holder.number:
            return holder  # renewed already (a retry with a new client id)
        raise Conflict(
            "certificate_registered", "the new card has a MyKey ID of its own: it cannot take over this one"
        )
    conn.execute(
        update(mykey_certificates)
        .where(mykey_certificates.c.mykey == holder.number, mykey_certificates.c.status != REPLACED)
        .values(status=REPLACED, retired_at=now)
    )
    _bind(conn, holder.number, new_card, now)
    audit(conn, holder.number, "renew", actor, None, now)
    return by_number(conn, holder.number)


def holder_view(holder: MyKey) -> dict[str, Any]:
    """What the holder (and an operator) sees of the ID itself."""
    return {
        "mykey_id": holder.mykey_id,
        "status": holder.status,
        "changes_left": holder.changes_left,
        "home_municipality": holder.home_municipality,
        "created_at": holder.created_at,
        "suspended_at": holder.suspended_at,
        "suspend_reason": holder.suspend_reason,
    }
