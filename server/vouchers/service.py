"""Vouchers in the ledger: issue (points into the voucher liability), printed, void, reprint,
redeem once, expire. No HTTP here: the blueprints and the expiry sweep call these.

Where a voucher's points are, at each state:

* ``issued`` / ``printed``: in ``voucher:<municipality>`` (a liability account per point code),
  moved there from the resident's wallet (earliest-expiring lots first, the voucher expiring no
  later than the lots it took) or from the municipality's or a department's account (a batch);
* ``voided`` (the print failed, a reprint, an operator's decision, its key withdrawn): back where
  they came from, by a reversal of the issue transfer (a resident's points go back to the very
  lots they left);
* ``redeemed``: in the place's payee account (a voucher accepted offline: when the terminal's
  queue reaches the server, judged as of its scan; see ``redeem``'s ``used_at``);
* ``expired``: back to the municipality (``muni:<municipality>``), by the expiry sweep.

A voucher is valid only once it is ``printed``: the issuer prints, then says so; a print that
failed is voided at once, so nothing valid is left unprinted. Every state change is a
conditional UPDATE on the state it leaves (``WHERE status = 'printed'``): two terminals racing to
redeem one serial both run it, and exactly one changes a row (PostgreSQL re-reads the row after
the first commits; SQLite lets one writer in at a time). Every mutation is idempotent by the
caller's client id (:func:`server.db.idempotency.once`), and each voucher's transfers have client
ids made from its serial, so no voucher can move points twice.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, insert, select, update

from mkp_core import voucher as codec
from mkp_core.dates import last_valid_day
from mkp_core.errors import Conflict, Forbidden, MkpError, NotFound
from mkp_core.ids import point_code_municipality
from mkp_core.keyring import KeyRing
from server import ledger
from server.db.client_ids import server_key
from server.db.engine import chunked
from server.ledger.lots import moves_of
from server.ledger.tables import point_codes
from server.platform.municipalities.service import get_municipality
from server.platform.mykey.registry import MyKey
from server.platform.operators.service import Operator
from server.platform.places.service import get_place
from server.platform.tables import places
from server.points import agreements
from server.points import expiry as points_expiry
from server.points.rules import Rule, rule_at
from server.vouchers import keys
from server.vouchers.tables import voucher_phone_links, vouchers

ISSUED, PRINTED, REDEEMED, VOIDED, EXPIRED = "issued", "printed", "redeemed", "voided", "expired"
OPEN = (ISSUED, PRINTED)
MAX_BATCH = 1000
#: A voucher's life when the point code's rule gives its points none.
DEFAULT_DAYS = 180
KIND_NAMES = {
    "shop": "商店",
    "museum": "美術館・博物館",
    "library": "図書館",
    "office": "窓口",
    "facility": "施設",
    "transport": "交通機関",
}


class VouchersNotAllowed(Forbidden):
    """The point code's rules do not allow paper vouchers."""


def liability(point_code: str) -> str:
    """The account a point code's outstanding vouchers hold their points in."""
    return f"voucher:{point_code_municipality(point_code)}"


def municipality_account(point_code: str) -> str:
    """Where an expired voucher's points go: back to the municipality that issued the points."""
    return f"muni:{point_code_municipality(point_code)}"


@dataclass(frozen=True)
class Issue:
    """What to issue: ``count`` vouchers of ``amount`` points of ``point_code`` from ``source``.

    ``expires_at``: the first instant the vouchers are no longer good (the end of their last day,
    JST); None: as the rule would expire points credited now (else :data:`DEFAULT_DAYS`). A
    resident's vouchers never outlive the lots they took.
    """

    point_code: str
    amount: int
    count: int
    source: str
    batch: str
    expires_at: datetime | None = None


# --- reading ---------------------------------------------------------------------------------------


def _row(conn: Connection, serial: bytes) -> Any:
    row = conn.execute(select(vouchers).where(vouchers.c.serial == serial.hex())).first()
    if row is None:
        raise unknown_voucher(serial)
    return row


def unknown_voucher(serial: bytes) -> NotFound:
    """The refusal for a voucher that is not there (or not the caller's to see)."""
    return NotFound("unknown_voucher", f"no voucher {codec.format_serial(serial)}")


def view(row: Any, place_name: str | None = None) -> dict[str, Any]:
    """A voucher as callers see it (never its signed text: that is printed, not shown again)."""
    return {
        "serial": codec.format_serial(bytes.fromhex(row.serial)),
        "point_code": row.point_code,
        "amount": int(row.amount),
        "status": row.status,
        "issued_at": row.issued_at,
        "expires_at": row.expires_at,
        "last_day": last_valid_day(row.expires_at).isoformat(),
        "key_id": row.key_id,
        "batch": row.batch,
        "printed_at": row.printed_at,
        "voided_at": row.voided_at,
        "void_reason": row.void_reason,
        "replaced_by": codec.format_serial(bytes.fromhex(row.replaced_by)) if row.replaced_by else None,
        "redeemed_at": row.redeemed_at,
        "redeemed_place": row.redeemed_place,
        "redeemed_place_name": place_name,
    }


def show(conn: Connection, serial_text: str, op: Operator | None = None) -> dict[str, Any]:
    """One voucher by its serial as printed (a scoped operator sees its municipality's only)."""
    serial = codec.parse_serial(serial_text)
    row = _row(conn, serial)
    if op is not None and not op.covers(point_code_municipality(row.point_code)):
        raise unknown_voucher(serial)
    return view(row, _place_name(conn, row.redeemed_place))


def _place_name(conn: Connection, place_id: str | None) -> str | None:
    if place_id is None:
        return None
    return conn.execute(select(places.c.name).where(places.c.id == place_id)).scalar()


def receipt_facts(conn: Connection, rule: Rule) -> dict[str, Any]:
    """What a voucher receipt prints besides the voucher: the municipality, the event's name, where."""
    muni = get_municipality(conn, rule.municipality)
    code = conn.execute(select(point_codes).where(point_codes.c.code == rule.point_code)).one()
    listed = [
        n
        for n in conn.execute(
            select(places.c.name).where(places.c.id.in_(rule.places)).order_by(places.c.name)
        )
        .scalars()
        .all()
    ]
    kinds = [f"{muni['name']}内の{KIND_NAMES.get(k, k)}" for k in rule.place_kinds]
    return {
        "municipality_name": muni["name"],
        "point_name": code.name if code.kind == "event" else "",
        "places": [*kinds, *listed] or [muni["name"]],
    }


# --- issuing ---------------------------------------------------------------------------------------


def _allowed_rule(conn: Connection, point_code: str, amount: int, now: datetime) -> Rule:
    rule = rule_at(conn, point_code, now)
    if not rule.vouchers:
        raise VouchersNotAllowed(
            "vouchers_not_allowed",
            f"{point_code}'s rules do not allow paper vouchers (mkp-admin rule set {point_code} --vouchers)",
        )
    rule.check_amount(amount)
    return rule


def _expiry(rule: Rule, last: datetime | None, now: datetime) -> datetime:
    if last is not None:
        if last <= now:
            raise MkpError(
                "invalid_expiry", f"vouchers cannot expire on {last_valid_day(last)}: that is past"
            )
        return last
    by_rule = rule.expires_at(now)
    return by_rule if by_rule is not None else now + timedelta(days=DEFAULT_DAYS)


def issue(
    conn: Connection,
    request: Issue,
    secrets_dir: str | Path,
    actor: str,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Issue ``request.count`` vouchers (state ``issued``): their points move into the liability
    account, one transfer each; the reply carries each voucher's signed text, to be printed."""
    now = now or datetime.now(UTC)
    stamp = now.replace(microsecond=0)  # what the voucher carries: whole seconds
    if not 1 <= request.count <= MAX_BATCH:
        raise MkpError("invalid_count", f"issue 1 to {MAX_BATCH} vouchers at a time, not {request.count}")
    rule = _allowed_rule(conn, request.point_code, request.amount, now)
    expires = _expiry(rule, request.expires_at, now)
    key = keys.signing_key(conn, secrets_dir, actor, now)
    stamp = max(stamp, key.valid_from)  # a key rotated in meanwhile: never claim to predate it
    serials = [codec.new_serial() for _ in range(request.count)]
    made = ledger.create_transfers(
        conn,
        [
            ledger.TransferRequest(
                server_key(f"vch-{s.hex()}"),
                request.point_code,
                request.source,
                liability(request.point_code),
                request.amount,
                "voucher",
                f"voucher {codec.format_serial(s)}",
            )
            for s in serials
        ],
        actor,
        now,
    )
    refused = next((r for r in made if isinstance(r, MkpError)), None)
    if refused is not None:
        raise refused  # the caller's transaction rolls every voucher of the batch back
    transfers = [t for t in made if isinstance(t, ledger.Transfer)]
    out = []
    rows = []
    for serial, transfer in zip(serials, transfers, strict=True):
        until = min(expires, _lots_expiry(conn, transfer) or expires).replace(microsecond=0)
        voucher = codec.Voucher(serial, request.point_code, request.amount, stamp, until, key.key_id)
        rows.append(
            {
                "serial": serial.hex(),
                "point_code": request.point_code,
                "amount": request.amount,
                "issued_at": stamp,
                "expires_at": until,
                "key_id": key.key_id,
                "status": ISSUED,
                "batch": request.batch,
                "source": request.source,
                "issue_transfer_id": transfer.id,
                "created_by": actor,
            }
        )
        out.append(
            {
                "serial": voucher.serial_text,
                "text": codec.encode_voucher(voucher, key.private_key),
                "amount": request.amount,
                "point_code": request.point_code,
                "issued_at": stamp,
                "expires_at": until,
                "last_day": voucher.last_valid_day.isoformat(),
                "transfer_id": transfer.id,
            }
        )
    conn.execute(insert(vouchers), rows)
    return {
        "batch": request.batch,
        "point_code": request.point_code,
        "amount": request.amount,
        "count": request.count,
        "total": request.amount * request.count,
        "source": request.source,
        "key_id": key.key_id,
        **receipt_facts(conn, rule),
        "vouchers": out,
    }


def without_texts(reply: dict[str, Any]) -> dict[str, Any]:
    """What a retry of an issue gets: the vouchers without their signed texts.

    A voucher's text is as good as the paper, so it is printed once and never stored; a retry
    (the same client id) is told what was issued, and ``replayed``, so nothing is printed twice
    (a lost voucher is reprinted under a new serial instead).
    """
    return {**reply, "replayed": True, "vouchers": [{**v, "text": None} for v in reply["vouchers"]]}


def _lots_expiry(conn: Connection, transfer: ledger.Transfer) -> datetime | None:
    """The earliest expiry of the wallet lots a resident's voucher took (None: none expire)."""
    if not transfer.debit.startswith("mykey:"):
        return None
    expiries = [when for when, amount in moves_of(conn, transfer.id) if amount > 0 and when is not None]
    return min(expiries) if expiries else None


def source_for_batch(conn: Connection, op: Operator, point_code: str, department: str | None) -> str:
    """The account a batch is paid from: the department's (of this point code), else the municipality's."""
    municipality = point_code_municipality(point_code)
    op.require_scope(municipality)
    if department is None:
        return municipality_account(point_code)
    from server.points.departments.service import get_department, owner

    dept = get_department(conn, department, op)
    if dept["point_code"] != point_code:
        raise MkpError(
            "wrong_point_code",
            f"department {department} grants {dept['point_code']} points, not {point_code}",
        )
    return owner(department)


def issue_for_holder(
    conn: Connection,
    holder: MyKey,
    point_code: str,
    amount: int,
    client_id: str,
    secrets_dir: str | Path,
    actor: str,
    now: datetime | None = None,
) -> dict[str, Any]:
    """A resident turns ``amount`` of their points into one voucher (at a street-office terminal)."""
    holder.require_active()
    request = Issue(point_code, amount, 1, holder.wallet, client_id)
    return issue(conn, request, secrets_dir, actor, now)


# --- printed, void, reprint ---------------------------------------------------------------------------


def _serial_rows(conn: Connection, serial_texts: Sequence[str], op: Operator | None) -> list[Any]:
    serials = [codec.parse_serial(s) for s in serial_texts]
    if len(set(serials)) != len(serials):
        raise MkpError("duplicate_serial", "a serial is listed twice")
    found: dict[str, Any] = {}
    for part in chunked([s.hex() for s in serials]):
        found.update((r.serial, r) for r in conn.execute(select(vouchers).where(vouchers.c.serial.in_(part))))
    rows = []
    for s in serials:
        row = found.get(s.hex())
        if row is None or (op is not None and not op.covers(point_code_municipality(row.point_code))):
            raise unknown_voucher(s)
        rows.append(row)
    return rows


def mark_printed(
    conn: Connection, serial_texts: Sequence[str], op: Operator | None, now: datetime | None = None
) -> dict[str, Any]:
    """The printer took these vouchers: from now on they can be redeemed.

    Said again (a confirmation whose answer was lost, sent at the next sync), it changes nothing
    and answers the same, also for a voucher used since (it was printed). A voucher voided before
    its confirmation arrived (the expiry sweep, an operator) is refused with ``voucher_voided``:
    its paper is not valid and its points went back."""
    now = now or datetime.now(UTC)
    rows = _serial_rows(conn, serial_texts, op)
    for row in rows:
        if row.status == VOIDED:
            raise Conflict(
                "voucher_voided",
                f"voucher {codec.format_serial(bytes.fromhex(row.serial))} was voided ({row.void_reason}) "
                "before its print was confirmed: the paper is not valid, its points went back",
            )
        if row.status not in (*OPEN, REDEEMED):
            raise Conflict(
                f"voucher_{row.status}",
                f"voucher {codec.format_serial(bytes.fromhex(row.serial))} is {row.status}: it cannot be printed",
            )
    todo = [r.serial for r in rows if r.status == ISSUED]
    for part in chunked(todo):
        conn.execute(
            update(vouchers)
            .where(vouchers.c.serial.in_(part), vouchers.c.status == ISSUED)
            .values(status=PRINTED, printed_at=now)
        )
    return {"printed": len(rows), "serials": list(serial_texts)}


def _void_row(conn: Connection, row: Any, reason: str, actor: str, now: datetime) -> ledger.Transfer:
    serial_text = codec.format_serial(bytes.fromhex(row.serial))
    changed = conn.execute(
        update(vouchers)
        .where(vouchers.c.serial == row.serial, vouchers.c.status.in_(OPEN))
        .values(status=VOIDED, voided_at=now, void_reason=reason)
    ).rowcount
    if changed != 1:
        _refuse_closed(conn, bytes.fromhex(row.serial))
    back = ledger.reverse(
        conn,
        int(row.issue_transfer_id),
        f"vvd-{row.serial}",
        actor,
        f"voucher {serial_text} voided: {reason}",
        now,
    )
    conn.execute(update(vouchers).where(vouchers.c.serial == row.serial).values(closing_transfer_id=back.id))
    return back


def void(
    conn: Connection,
    serial_texts: Sequence[str],
    reason: str,
    op: Operator | None,
    actor: str,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Void vouchers not yet redeemed: their points go back where they came from (voided twice: once)."""
    now = now or datetime.now(UTC)
    rows = _serial_rows(conn, serial_texts, op)
    returned = 0
    for row in rows:
        if row.status == VOIDED:
            continue
        _void_row(conn, row, reason, actor, now)
        returned += int(row.amount)
    return {"voided": len(rows), "points_returned": returned, "serials": list(serial_texts)}


#: Why a withdrawn key's unused vouchers were voided: they may be reprinted (once) all the same.
KEY_WITHDRAWN = "key_withdrawn"


def void_unused_of_key(
    conn: Connection, key_id: str, actor: str, now: datetime | None = None
) -> dict[str, Any]:
    """Void every unused voucher of a withdrawn key: their points go back where they came from
    (a batch's to the municipality or department, a resident's to their lots); the serials listed
    are the ones to reprint for whoever brings the old paper (``reprint`` takes them).

    Only for a withdrawn key (``voucher_key_not_withdrawn``): a retired key's vouchers stay good.
    Run again, it finds nothing more to void.
    """
    now = now or datetime.now(UTC)
    if not keys.is_withdrawn(conn, key_id):
        raise Conflict(
            "voucher_key_not_withdrawn",
            f"voucher key {key_id} is not withdrawn: its vouchers are good (mkp-admin voucher key withdraw first)",
        )
    rows = conn.execute(
        select(vouchers)
        .where(vouchers.c.key_id == key_id, vouchers.c.status.in_(OPEN))
        .order_by(vouchers.c.serial)
    ).all()
    for row in rows:
        _void_row(conn, row, KEY_WITHDRAWN, actor, now)
    return {
        "key_id": key_id,
        "voided": len(rows),
        "points_returned": sum(int(r.amount) for r in rows),
        "serials": [codec.format_serial(bytes.fromhex(r.serial)) for r in rows],
    }


def _void_before_reprint(conn: Connection, row: Any) -> bool:
    """True for an open voucher (void it first); False for one voided with its withdrawn key and
    not reprinted yet (its points went back already); anything else is refused."""
    if row.status in OPEN:
        return True
    if row.status == VOIDED and row.void_reason == KEY_WITHDRAWN and row.replaced_by is None:
        return False
    _refuse_closed(conn, bytes.fromhex(row.serial))
    return False  # not reached: _refuse_closed raises


def reprint(
    conn: Connection,
    serial_text: str,
    op: Operator | None,
    secrets_dir: str | Path,
    actor: str,
    now: datetime | None = None,
) -> dict[str, Any]:
    """A lost voucher: its serial is voided first, then a new voucher of the same points is issued
    (state ``issued``: print it, then mark it printed). Both or neither. A voucher voided with its
    withdrawn key (its points already went back) is reprinted once: the new one is paid from
    the same source again."""
    now = now or datetime.now(UTC)
    (row,) = _serial_rows(conn, [serial_text], op)
    if _void_before_reprint(conn, row):
        _void_row(conn, row, "reprint", actor, now)
    request = Issue(row.point_code, int(row.amount), 1, row.source, row.batch or "", row.expires_at)
    reply = issue(conn, request, secrets_dir, actor, now)
    new = codec.parse_serial(reply["vouchers"][0]["serial"]).hex()
    replaced = conn.execute(
        update(vouchers)
        .where(vouchers.c.serial == row.serial, vouchers.c.replaced_by.is_(None))
        .values(replaced_by=new)
    ).rowcount
    if replaced != 1:  # reprinted meanwhile by someone else: this one is rolled back whole
        raise Conflict("voucher_voided", f"voucher {serial_text} was reprinted meanwhile")
    return {**reply, "replaces": codec.format_serial(bytes.fromhex(row.serial))}


def _refuse_closed(conn: Connection, serial: bytes) -> None:
    """Raise why the voucher ``serial`` can no longer change (used: when and where)."""
    row = _row(conn, serial)
    text = codec.format_serial(serial)
    if row.status == REDEEMED:
        where = _place_name(conn, row.redeemed_place) or row.redeemed_place
        at = row.redeemed_at.astimezone(codec.JST)
        raise Conflict(
            "voucher_used",
            f"voucher {text} was used on {at:%Y-%m-%d %H:%M} JST at {where} ({row.redeemed_place})",
            details=[
                {"redeemed_at": row.redeemed_at.isoformat(), "place": row.redeemed_place, "place_name": where}
            ],
        )
    if row.status == VOIDED:
        raise Conflict("voucher_voided", f"voucher {text} was voided ({row.void_reason}): it is not valid")
    if row.status == EXPIRED:
        raise Conflict("voucher_expired", f"voucher {text} expired on {last_valid_day(row.expires_at)}")
    if row.status == ISSUED:
        raise Conflict("voucher_not_printed", f"voucher {text} was never printed: it is not valid yet")
    raise Conflict("voucher_changed", f"voucher {text} changed meanwhile: try again")


# --- redeeming ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Redemption:
    """A voucher shown at a place: its scanned text, or its serial typed in (a phone page)."""

    place: str
    by: str  # terminal:<id> or phone:<place>
    text: str | None = None
    serial: str | None = None


def redeem(
    conn: Connection,
    request: Redemption,
    ring: KeyRing,
    actor: str,
    now: datetime | None = None,
    used_at: datetime | None = None,
) -> dict[str, Any]:
    """Mark the voucher used, once, and credit the place from the liability; see the module docstring.

    ``used_at``: when the voucher was shown, if not now (accepted offline, sent at the terminal's
    sync): its dates and the code's rules are judged at that moment, and that is when it was
    used; the place is credited now. A voucher good when it was shown offline is paid even if it
    has expired since, from the municipality's account if the sweep already took it back.
    """
    now = now or datetime.now(UTC)
    at = used_at or now
    serial = _verified_serial(conn, request, ring, at)
    row = _row(conn, serial)
    source = _paid_from(conn, row, serial, at, shown_offline=used_at is not None)
    if ring.is_withdrawn(row.key_id):
        raise codec.VoucherKeyWithdrawn(
            f"voucher key {row.key_id} was withdrawn: its vouchers are not accepted"
        )
    place = get_place(conn, request.place)
    rule = rule_at(conn, row.point_code, at)
    if not rule.allows(place, agreements.in_force(conn, place["municipality"])):
        raise Forbidden(
            "not_allowed_here", f"{row.point_code} vouchers cannot be used at {place['name']} ({place['id']})"
        )
    changed = conn.execute(
        update(vouchers)
        .where(vouchers.c.serial == row.serial, vouchers.c.status == row.status)
        .values(status=REDEEMED, redeemed_at=at, redeemed_place=place["id"], redeemed_by=request.by)
    ).rowcount
    if changed != 1:  # another place was quicker
        _refuse_closed(conn, serial)
    transfer = ledger.transfer(
        conn,
        ledger.TransferRequest(
            server_key(f"vrd-{row.serial}"),
            row.point_code,
            source,
            f"payee:{place['id']}",
            int(row.amount),
            "redeem",
            f"voucher {codec.format_serial(serial)}",
        ),
        actor,
        now,
    )
    conn.execute(
        update(vouchers).where(vouchers.c.serial == row.serial).values(closing_transfer_id=transfer.id)
    )
    return {
        "serial": codec.format_serial(serial),
        "point_code": row.point_code,
        "amount": int(row.amount),
        "place": place["id"],
        "place_name": place["name"],
        "redeemed_at": at,
        "transfer_id": transfer.id,
    }


def _paid_from(conn: Connection, row: Any, serial: bytes, at: datetime, shown_offline: bool) -> str:
    """The account a voucher shown at ``at`` is paid from, or why it cannot be used."""
    if shown_offline and row.status == EXPIRED and at < row.expires_at:
        return municipality_account(row.point_code)  # shown offline in time; swept back before the sync
    if row.status != PRINTED:
        _refuse_closed(conn, serial)
    if at >= row.expires_at:
        raise codec.VoucherExpired(
            f"voucher {codec.format_serial(serial)} expired on {last_valid_day(row.expires_at)}"
        )
    return liability(row.point_code)


def _verified_serial(conn: Connection, request: Redemption, ring: KeyRing, now: datetime) -> bytes:
    """The serial of a scanned voucher whose signature verifies, or of a typed serial."""
    if (request.text is None) == (request.serial is None):
        raise MkpError("voucher_or_serial", "give the scanned voucher text or the serial, not both")
    if request.serial is not None:
        return codec.parse_serial(request.serial)
    assert request.text is not None
    try:
        voucher = codec.decode_voucher(request.text, ring, now=now)
    except codec.VoucherExpired as e:
        # a voucher that was used before it expired says so: where and when matters more
        if e.voucher is not None:
            row = conn.execute(select(vouchers).where(vouchers.c.serial == e.voucher.serial.hex())).first()
            if row is not None and row.status == REDEEMED:
                _refuse_closed(conn, e.voucher.serial)
        raise
    row = _row(conn, voucher.serial)
    stored = (row.point_code, int(row.amount), row.key_id, row.expires_at)
    if stored != (voucher.point_code, voucher.amount, voucher.key_id, voucher.expires):
        raise Conflict("voucher_mismatch", f"voucher {voucher.serial_text} does not match the one issued")
    return voucher.serial


# --- expiry ------------------------------------------------------------------------------------------


def expire(
    conn: Connection,
    as_of: datetime,
    actor: str,
    municipality: str | None = None,
    now: datetime | None = None,
) -> list[dict[str, Any]]:
    """Unused vouchers past their date: their points go back to the municipality. Per point code.

    A voucher still ``issued`` (its print never confirmed, so never valid) is voided instead:
    its points go back where they came from (a resident's to their lots). Each voucher is taken
    by a conditional UPDATE ... RETURNING, so one a shop redeems at that moment is either
    redeemed or expired, never both.
    """
    now = now or datetime.now(UTC)
    due = vouchers.c.expires_at <= as_of
    if municipality is not None:
        codes = select(point_codes.c.code).where(point_codes.c.municipality_code == municipality)
        due = due & vouchers.c.point_code.in_(codes)
    per_code: dict[str, dict[str, Any]] = {}
    for row in conn.execute(select(vouchers).where(due, vouchers.c.status == ISSUED)).all():
        _void_row(conn, row, "never_printed", actor, now)
        _entry(per_code, row.point_code)["never_printed"] += 1
    taken = conn.execute(
        update(vouchers)
        .where(due, vouchers.c.status == PRINTED)
        .values(status=EXPIRED)
        .returning(vouchers.c.serial, vouchers.c.point_code, vouchers.c.amount)
    ).all()
    taken = sorted(taken, key=lambda r: r.serial)
    made = ledger.create_transfers(
        conn,
        [
            ledger.TransferRequest(
                server_key(f"vex-{r.serial}"),
                r.point_code,
                liability(r.point_code),
                municipality_account(r.point_code),
                int(r.amount),
                "expire",
                f"voucher {codec.format_serial(bytes.fromhex(r.serial))} expired",
            )
            for r in taken
        ],
        actor,
        now,
    )
    for r, t in zip(taken, made, strict=True):
        if isinstance(t, MkpError):
            raise t
        conn.execute(update(vouchers).where(vouchers.c.serial == r.serial).values(closing_transfer_id=t.id))
        entry = _entry(per_code, r.point_code)
        entry["vouchers"] += 1
        entry["points"] += int(r.amount)
    return [per_code[c] for c in sorted(per_code)]


def _entry(per_code: dict[str, dict[str, Any]], point_code: str) -> dict[str, Any]:
    return per_code.setdefault(
        point_code,
        {
            "point_code": point_code,
            "returned_to": municipality_account(point_code),
            "vouchers": 0,
            "points": 0,
            "never_printed": 0,
        },
    )


# --- phone links (a shop without a terminal) -------------------------------------------------------------


def hash_token(token: str) -> str:
    """How a phone link's token is kept: its SHA-256 (the link itself is shown once)."""
    return hashlib.sha256(token.encode()).hexdigest()


def create_phone_link(
    conn: Connection, op: Operator, place_id: str, now: datetime | None = None
) -> dict[str, Any]:
    """A new link for ``place_id``'s phone page; the token is shown once, only its hash is kept."""
    place = get_place(conn, place_id, op)
    token = "mkp_vp_" + secrets.token_urlsafe(24)
    conn.execute(
        insert(voucher_phone_links).values(
            token_hash=hash_token(token),
            place_id=place["id"],
            created_by=op.actor,
            created_at=now or datetime.now(UTC),
        )
    )
    return {
        "place": place["id"],
        "place_name": place["name"],
        "token": token,
        "path": f"/vouchers/phone/{token}",
    }


def revoke_phone_links(
    conn: Connection, op: Operator, place_id: str, now: datetime | None = None
) -> dict[str, Any]:
    """Every phone link of ``place_id`` stops working at once (a phone lost, a shop that left)."""
    place = get_place(conn, place_id, op)
    revoked = conn.execute(
        update(voucher_phone_links)
        .where(voucher_phone_links.c.place_id == place["id"], voucher_phone_links.c.revoked_at.is_(None))
        .values(revoked_at=now or datetime.now(UTC))
    ).rowcount
    return {"place": place["id"], "place_name": place["name"], "revoked": int(revoked)}


def phone_link_without_token(reply: dict[str, Any]) -> dict[str, Any]:
    """What a retry of the link's creation gets: no token (it was shown once)."""
    return {**reply, "token": None, "path": None}


def place_of_token(conn: Connection, token: str | None) -> dict[str, Any]:
    """The place a phone link's token is for; ``unknown_link`` for no token, a wrong or revoked one."""
    if not token or len(token) > 100:
        raise Forbidden(
            "unknown_link", "this link is not valid: ask the shopping-street office for a new one"
        )
    row = conn.execute(
        select(voucher_phone_links).where(voucher_phone_links.c.token_hash == hash_token(token))
    ).first()
    if row is None or row.revoked_at is not None:
        raise Forbidden(
            "unknown_link", "this link is not valid: ask the shopping-street office for a new one"
        )
    return get_place(conn, row.place_id)


def created_by(conn: Connection, serial_text: str) -> str:
    """Who issued the voucher (``terminal:<id>`` for a resident's at a street office)."""
    return str(_row(conn, codec.parse_serial(serial_text)).created_by)


# Vouchers past their date go back to their municipality in the points' expiry sweep.
points_expiry.also_expire("vouchers", expire)
