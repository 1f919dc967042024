"""When a terminal's offline entries can have been taken: between its last contact with the
server before them and the sync, within the offline window.

A terminal's signature says which terminal took an entry, not when: its clock can be set back, or
its key made to sign any time. A voucher that expired five days ago was paid by backdating its
scan, and times in 1999 and 2099 were taken. So the server bounds an entry's tap time by what it
saw itself, the terminal's **contacts** (its heartbeats and syncs, at the server's clock):

* **Not before the last contact at which nothing waited in its queue.** A heartbeat reports the
  terminal's queue (``queue_pending``); the agent sends it after its queue's sync. At a heartbeat
  with nothing pending, every entry the terminal had was answered, so whatever it sends later was
  taken after that heartbeat. This is "the last contact before the entry", chosen so that a sync
  that failed half-way does not refuse the rest: heartbeats and syncs while entries still wait do
  not move it, and entries queued across several contacts stay good. A terminal that never
  reported an empty queue: its enrollment. (Counting the last contact before the sync instead
  would refuse those honest entries; counting the last contact before the entry's own claimed
  time would bound nothing, since the claim picks the contact.)
* **Not after the sync** that brings it.
* **Within the offline window** (``offline_max_hours``) after the latest contact at or before it:
  the agent takes offline entries only that long after its last contact.

Each bound has an allowance of :data:`ALLOWANCE` for the clocks (a signed request is refused
beyond five minutes of skew anyway). An entry outside them is refused with its own code and kept
as an exception, never paid.

The contacts kept (``terminal_contacts``) are those since the last clear one, one row per
:data:`ALLOWANCE` at most: a clear heartbeat replaces them all, so a terminal that is well has
one row; one that never reports an empty queue keeps :data:`KEPT` of them (an older one dropped
only makes the window stricter). Other signed requests (downloads, card lookups) are not counted: they would cost a write
each, and the agent heartbeats every pass of its loop.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Connection, delete, func, select

from mkp_core.errors import MkpError
from server.counter.tables import terminal_contacts
from server.db.engine import insert_ignoring_conflicts
from server.platform.tables import terminals

#: The clocks' allowance on every bound (and the spacing of the contacts kept).
ALLOWANCE = timedelta(minutes=5)
#: How long contacts while entries wait are kept (the last clear one is kept however old).
KEPT = timedelta(days=7)


class EntryTimeRefused(MkpError):
    """An offline entry whose tap time lies outside what the terminal's contacts allow."""


def record(conn: Connection, terminal_id: str, now: datetime, queue_clear: bool) -> None:
    """Keep a contact of the terminal; ``queue_clear``: it said nothing waits in its queue."""
    if queue_clear:
        conn.execute(delete(terminal_contacts).where(terminal_contacts.c.terminal_id == terminal_id))
    else:
        newest = conn.execute(
            select(func.max(terminal_contacts.c.at)).where(terminal_contacts.c.terminal_id == terminal_id)
        ).scalar()
        if newest is not None and _utc(newest) > now - ALLOWANCE:
            return  # one kept within the allowance already says as much
        conn.execute(
            delete(terminal_contacts).where(
                terminal_contacts.c.terminal_id == terminal_id,
                terminal_contacts.c.at < now - KEPT,
                terminal_contacts.c.queue_clear.is_(False),
            )
        )
    insert_ignoring_conflicts(
        conn, terminal_contacts, [{"terminal_id": terminal_id, "at": now, "queue_clear": queue_clear}]
    )


@dataclass(frozen=True)
class Bounds:
    """What a sync's entries' times are judged against (read once a sync)."""

    since: datetime  # the last contact at which the queue was clear, or the enrollment
    contacts: tuple[datetime, ...]  # since then, in order, ``since`` first
    now: datetime  # the sync
    window: timedelta  # offline_max_hours

    @classmethod
    def of(cls, conn: Connection, terminal_id: str, now: datetime, max_hours: int) -> Bounds:
        rows = conn.execute(
            select(terminal_contacts.c.at, terminal_contacts.c.queue_clear)
            .where(terminal_contacts.c.terminal_id == terminal_id)
            .order_by(terminal_contacts.c.at)
        ).all()
        clear = [_utc(r.at) for r in rows if r.queue_clear]
        if clear:
            since = clear[-1]
        else:
            enrolled = conn.execute(
                select(func.coalesce(terminals.c.enrolled_at, terminals.c.created_at)).where(
                    terminals.c.id == terminal_id
                )
            ).scalar()
            since = _utc(enrolled) if enrolled is not None else now
        later = sorted(_utc(r.at) for r in rows if _utc(r.at) > since)
        return cls(since, (since, *later), now, timedelta(hours=max_hours))

    def check(self, taken: datetime) -> None:
        """Refuse (:class:`EntryTimeRefused`) a tap time outside the bounds (module docstring)."""
        at = taken.astimezone(UTC)
        if at > self.now + ALLOWANCE:
            raise EntryTimeRefused(
                "taken_after_sync",
                f"the entry says it was taken at {_show(at)}, after this sync ({_show(self.now)}): "
                "the terminal's clock is wrong or the time was altered",
            )
        if at < self.since - ALLOWANCE:
            raise EntryTimeRefused(
                "taken_before_last_contact",
                f"the entry says it was taken at {_show(at)}, before the terminal's last contact with "
                f"the server with nothing queued ({_show(self.since)}): its time was set back",
            )
        last = self.contacts[max(0, bisect.bisect_right(self.contacts, at + ALLOWANCE) - 1)]
        if at > last + self.window + ALLOWANCE:
            raise EntryTimeRefused(
                "offline_too_long",
                f"the entry says it was taken at {_show(at)}, more than {self.window.total_seconds() / 3600:g} h "
                f"after the terminal's last contact with the server ({_show(last)})",
            )


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _show(value: datetime) -> str:
    return f"{value:%Y-%m-%d %H:%M:%S} UTC"
