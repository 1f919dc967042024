"""What a logged-in resident sees and does on My Page, on the services every other way uses.

Why a module of its own, without Flask: each action here is one the card already does at a
terminal or at home; My Page only brings another proof, the resident's session
(:class:`~server.platform.authority.HolderSession`). So every action asks the authority with that proof
and then calls the same service (``server.points.resident_points``, the partner, MyKey and event
services) — no second path for points. What is read is read for this holder only: every query
names the holder's own wallet or MyKey row, so nothing of another resident can appear.

Client ids: a form carries one (made when the page is drawn); stored as ``s:<holder>/<id>``, the
session's own namespace (``server.client_ids``), so sending a form twice does it once.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, and_, select, union
from sqlalchemy.orm import aliased

from mkp_core.errors import Throttled
from server.db.client_ids import SEPARATOR
from server.db.idempotency import once
from server.ledger.tables import accounts, point_codes, transfers
from server.partners import links
from server.partners import registry as partner_registry
from server.partners import service as partner_service
from server.partners import throttle as coupon_throttle
from server.partners.tables import partner_links, partners
from server.platform import authority
from server.platform.authority import Action, HolderSession
from server.platform.mykey import registry, service_links, throttles
from server.platform.mykey.registry import MyKey
from server.points import resident_points
from server.points.balances import Held, held_by
from server.points.tables import events

HISTORY_PAGE = 20


@dataclass(frozen=True)
class Resident:
    """The holder a session logs in, and the session as the authority's proof."""

    holder: MyKey
    proof: HolderSession

    def key(self, client_id: str) -> str:
        """A form's client id in this resident's session namespace."""
        return f"s:{self.holder.number}{SEPARATOR}{client_id}"

    def allow(self, action: Action) -> authority.Allowed:
        return authority.authorize(action, self.proof, self.holder)


def resident(conn: Connection, subject: str, session_id: int) -> Resident:
    """The resident whose login names MyKey row ``subject``."""
    holder = registry.by_number(conn, int(subject))
    return Resident(holder, HolderSession(holder.number, str(session_id)))


# --- what the resident sees --------------------------------------------------------------------


def holdings(conn: Connection, r: Resident) -> list[Held]:
    """Per point code: the balance and its open lots, earliest-expiring first."""
    r.allow(Action.READ_BALANCES)
    return held_by(conn, [r.holder.wallet])[r.holder.wallet]


def conversions(conn: Connection, r: Resident) -> list[dict[str, Any]]:
    """Partner points on hold, each with the day it reaches the wallet."""
    r.allow(Action.READ_RECORD)
    return list(partner_service.pending(conn, r.holder)["conversions"])


def service_links_of(conn: Connection, r: Resident) -> list[dict[str, Any]]:
    r.allow(Action.READ_RECORD)
    return service_links.links_of(conn, r.holder)


def partner_links_of(conn: Connection, r: Resident) -> list[dict[str, Any]]:
    """The holder's partner member numbers: linked, or waiting for the partner with a link code."""
    r.allow(Action.READ_RECORD)
    rows = conn.execute(
        select(partner_links, partners.c.name)
        .join(partners, partners.c.id == partner_links.c.partner_id)
        .where(partner_links.c.mykey == r.holder.number)
        .order_by(partner_links.c.partner_id)
    )
    return [
        {
            "partner": row.partner_id,
            "name": row.name,
            "member": row.member,
            "status": row.status,
            "code_expires_at": row.code_expires_at if row.status == links.PENDING else None,
        }
        for row in rows
    ]


def active_partners(conn: Connection) -> list[dict[str, Any]]:
    rows = conn.execute(select(partners.c.id, partners.c.name).where(partners.c.status == "active"))
    return [{"id": p.id, "name": p.name} for p in rows.all()]


def history(
    conn: Connection, r: Resident, page: int = 1, size: int = HISTORY_PAGE
) -> tuple[list[dict[str, Any]], bool]:
    """One page (1 first) of the transfers that touch the wallet, newest first; and whether more follow."""
    r.allow(Action.READ_RECORD)
    rows = list(_history_rows(conn, r, offset=(page - 1) * size, limit=size + 1))
    return rows[:size], len(rows) > size


def history_csv(conn: Connection, r: Resident) -> str:
    """Every transfer that touches the wallet, as CSV (UTF-8 with BOM, for spreadsheet programs)."""
    r.allow(Action.READ_RECORD)
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(["id", "date", "kind", "point_code", "point_name", "amount", "counterpart"])
    for row in _history_rows(conn, r, offset=0, limit=None):
        texts = [_cell(row[name]) for name in ("kind", "point_code", "point_name", "counterpart")]
        writer.writerow([row["id"], row["at"].isoformat(), *texts[:3], row["amount"], texts[3]])
    return out.getvalue()


def _cell(text: str) -> str:
    """A text cell a spreadsheet will not run as a formula (a point code's name is an operator's text)."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _history_rows(conn: Connection, r: Resident, offset: int, limit: int | None) -> Iterator[dict[str, Any]]:
    """The wallet's transfers, newest first: its accounts' ids first (one a point code), then the
    transfers on either side of them, each side through its own index (``ix_transfers_debit`` and
    ``ix_transfers_credit``: account, id), so a page reads the wallet's rows, not the ledger's."""
    debit, credit = aliased(accounts), aliased(accounts)
    wallet = r.holder.wallet
    mine = select(accounts.c.id).where(accounts.c.owner == wallet)
    touching = union(
        select(transfers.c.id).where(transfers.c.debit_account_id.in_(mine)),
        select(transfers.c.id).where(transfers.c.credit_account_id.in_(mine)),
    ).subquery()
    page = select(touching.c.id).order_by(touching.c.id.desc()).offset(offset)
    if limit is not None:
        page = page.limit(limit)
    query = (
        select(
            transfers.c.id,
            transfers.c.kind,
            transfers.c.point_code,
            point_codes.c.name,
            transfers.c.amount,
            transfers.c.created_at,
            debit.c.owner.label("debit_owner"),
            credit.c.owner.label("credit_owner"),
        )
        .join(debit, debit.c.id == transfers.c.debit_account_id)
        .join(credit, credit.c.id == transfers.c.credit_account_id)
        .join(point_codes, point_codes.c.code == transfers.c.point_code)
        .where(transfers.c.id.in_(page))
        .order_by(transfers.c.id.desc())
    )
    for row in conn.execute(query):
        out = row.debit_owner == wallet
        yield {
            "id": row.id,
            "at": row.created_at,
            "kind": row.kind,
            "point_code": row.point_code,
            "point_name": row.name,
            "amount": -int(row.amount) if out else int(row.amount),
            "counterpart": _counterpart(row.credit_owner if out else row.debit_owner),
        }


def _counterpart(owner: str) -> str:
    """Whom the points went to or came from, without naming another resident."""
    if owner.startswith(registry.WALLET_PREFIX):
        return "holder"
    return owner.split(":", 1)[0]


def supportable_events(conn: Connection, r: Resident, held: list[Held]) -> list[dict[str, Any]]:
    """Open events whose point code the holder holds points of."""
    codes = [h.point_code for h in held if h.balance > 0]
    if not codes:
        return []
    rows = conn.execute(
        select(events.c.point_code, point_codes.c.name)
        .join(point_codes, point_codes.c.code == events.c.point_code)
        .where(and_(events.c.point_code.in_(codes), events.c.status == "open"))
        .order_by(events.c.point_code)
    )
    return [{"point_code": e.point_code, "name": e.name} for e in rows]


# --- what the resident does --------------------------------------------------------------------


def change_id(conn: Connection, r: Resident, new_id: str, tries_per_hour: int, now: datetime) -> MyKey:
    """Change the MyKey ID (while changes are left); tries count per holder, as with the card."""
    r.allow(Action.MYKEY_ID_CHANGE)

    def refusal(wait: int) -> Throttled:
        return Throttled("too_many_id_changes", "Too many MyKey ID change tries. Try again later.", wait)

    throttles.take(conn, f"mykey-id:{r.holder.number}", tries_per_hour, timedelta(hours=1), now, refusal)
    return registry.change_id(conn, r.holder, new_id, now)


def unlink_service(conn: Connection, r: Resident, service: str) -> dict[str, Any]:
    r.holder.require_active()
    r.allow(Action.SERVICE_LINK)
    return service_links.unlink(conn, r.holder, service)


def request_partner_link(conn: Connection, r: Resident, partner: str, member: str) -> dict[str, Any]:
    """Ask to link a partner member number: the answer's ``link_code`` is shown once."""
    r.holder.require_active()
    r.allow(Action.PARTNER_LINK)
    return links.request_link(conn, r.holder, partner_registry.active(conn, partner), member)


def redeem_coupon(
    conn: Connection, r: Resident, client_id: str, body: dict[str, Any], now: datetime
) -> dict[str, Any] | coupon_throttle.WrongCode:
    """Redeem ``body["code"]`` into ``body["destination"]``: wrong codes count against the holder
    as at home and at terminals; a wrong code is *returned* so the caller commits the count."""
    r.holder.require_active()
    r.allow(Action.COUPON_REDEEM)

    def redeem() -> dict[str, Any]:
        reply, _status = once(
            conn,
            r.key(client_id),
            "coupon.redeem:session",
            body,
            lambda: partner_service.redeem_coupon(conn, r.holder, body["code"], body["destination"], now),
        )
        return reply

    return coupon_throttle.refusal_kept(redeem)


def set_home(conn: Connection, r: Resident, municipality: str | None) -> dict[str, Any]:
    r.holder.require_active()
    r.allow(Action.HOME_MUNICIPALITY)
    return partner_service.set_home(conn, r.holder, municipality)


def support(
    conn: Connection,
    r: Resident,
    client_id: str,
    point_code: str,
    amount: int,
    nickname: str | None,
    now: datetime,
) -> dict[str, Any]:
    return resident_points.support(
        conn, r.holder, r.proof, r.key(client_id), point_code, amount, nickname, now
    )


def claim(conn: Connection, r: Resident, client_id: str, reward: str, now: datetime) -> dict[str, Any]:
    return resident_points.claim(conn, r.holder, r.proof, r.key(client_id), reward, now)


def suspend(conn: Connection, r: Resident, now: datetime) -> MyKey:
    """Suspend the MyKey ID at once (a lost card): only the town hall can resume it."""
    r.allow(Action.SUSPEND)
    holder, _changed = registry.suspend(conn, r.holder, "holder:session", "lost card (My Page)", now)
    return holder
