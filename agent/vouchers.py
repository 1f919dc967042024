"""Redeeming a paper voucher at this terminal: at the server, or offline into the counter's queue.

The voucher is checked here first with the trust list's voucher keys (signature, key not
withdrawn, dates), then against this terminal's own record of the serials it took: one queued
here and not yet synced is refused at once (``voucher_used``); one redeemed here is refused by
the server when it answers (saying when and where), by this terminal when it does not. The
redemption is written down before it is sent, so one whose answer was lost goes again with the
same client id (the server answers it with its first answer).

When the server cannot be reached, a voucher read from its QR code is accepted offline within
the terminal's offline limits (:meth:`OfflineLimits.check_voucher`: its points count like a
spend's) and queued as a signed entry of kind ``voucher`` (:func:`mkp_core.offline.seal_voucher`),
on disk before the answer "accepted offline, queued" is given; ``mkp-agent sync`` sends it and
the server redeems it once. A serial typed in cannot be checked offline (its signature is on the
QR code), so it waits for the server.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from agent import contact
from agent.counter.limits import OfflineLimits, OfflineRefused
from agent.home import Home, read_agent_toml
from agent.queue import QUEUED, REDEEMED, SENDING, VOID, OfflineQueue
from agent.terminal import Terminal
from mkp_core import offline
from mkp_core.client import ApiError, Unreachable
from mkp_core.errors import Conflict, Forbidden
from mkp_core.voucher import JST, Voucher, decode_voucher, format_serial, parse_serial, ring_of_trust_list

if TYPE_CHECKING:
    from drivers.scanner import FrameSource

REDEEM = "/v1/terminal/vouchers/redeem"


def read_voucher_text(source: FrameSource, timeout: float | None = None) -> str:
    """The text of the first code ``source`` shows (a voucher's, ``MKP...``, when it shows several);
    ``ScannerError`` if none is seen within ``timeout`` seconds. The source is closed after."""
    from drivers.scanner import scan

    with source:
        found = scan(source, timeout=timeout)
    texts = [d.text for d in found if d.text.startswith("MKP")]
    return texts[0] if texts else found[0].text


def voucher_camera(home: Home) -> Callable[[], FrameSource] | None:
    """How to open the camera agent.toml's ``[scanner] camera = N`` names; None if it names none
    (the terminal has no voucher scanner). The camera opens only when a voucher is scanned."""
    index = read_agent_toml(home).get("scanner", {}).get("camera")
    if index is None:
        return None

    def open_camera() -> FrameSource:
        from drivers.scanner import Camera

        return Camera(int(index))

    return open_camera


def _used_here(serial: str, before: tuple[str, str, int | None, datetime]) -> Conflict:
    """``voucher_used``, said by this terminal: it redeemed or queued the serial itself."""
    status, _, seq, when = before
    how = f"taken offline here (queue entry {seq}, not yet synced)" if status == QUEUED else "redeemed here"
    return Conflict(
        "voucher_used",
        f"voucher {format_serial(bytes.fromhex(serial))} was {how} on {when.astimezone(JST):%Y-%m-%d %H:%M} JST",
    )


def verify_here(terminal: Terminal, text: str, now: datetime) -> Voucher:
    """The voucher ``text`` carries, checked with the downloaded trust list alone."""
    return decode_voucher(text, ring_of_trust_list(terminal.trust_list()), now=now)


class VoucherDesk:
    """Vouchers shown at one terminal; ``clock`` stands in for the terminal's clock in tests."""

    def __init__(self, terminal: Terminal, clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.terminal = terminal
        self.clock = clock

    def redeem(self, text: str | None = None, serial: str | None = None) -> dict[str, Any]:
        """Redeem the scanned ``text`` (or a typed ``serial``); raises an ``MkpError`` if refused."""
        now = self.clock()
        voucher = verify_here(self.terminal, text, now) if text is not None else None
        key = voucher.serial.hex() if voucher else parse_serial(serial or "").hex()
        queue = OfflineQueue(self.terminal.home.root / "counter.sqlite3")
        try:
            return self._redeem(queue, key, voucher, text, serial, now)
        finally:
            queue.close()

    def _redeem(
        self,
        queue: OfflineQueue,
        key: str,
        voucher: Voucher | None,
        text: str | None,
        serial: str | None,
        now: datetime,
    ) -> dict[str, Any]:
        before = queue.voucher(key)
        if before is not None and before[0] == QUEUED and not queue.is_pending(before[2] or 0):
            before = (REDEEMED, *before[1:])  # synced: the server knows it now, and answers for it
        client_id = self._client_id(before, key)
        queue.voucher_sending(key, client_id)
        body = {"client_id": client_id, **({"voucher": text} if text is not None else {"serial": serial})}
        try:
            reply = self.terminal.client(timeout=5.0).request("POST", REDEEM, body)
        except ApiError:
            contact.contacted(self.terminal.home, self.clock())
            queue.voucher_done(key, REDEEMED if before and before[0] == REDEEMED else VOID)
            raise
        except Unreachable as e:
            if before is not None and before[0] == REDEEMED:
                queue.voucher_done(key, REDEEMED)
                raise _used_here(key, before) from None
            if voucher is None or text is None:
                queue.voucher_done(key, VOID)
                raise Unreachable(
                    f"{e.message}; a typed serial cannot be checked offline: scan its QR code"
                ) from None
            return self._take_offline(queue, voucher, text, client_id, now)
        contact.contacted(self.terminal.home, self.clock())
        queue.voucher_done(key, REDEEMED)
        return {"ok": True, "offline": False, **reply}

    def _client_id(self, before: tuple[str, str, int | None, datetime] | None, serial: str) -> str:
        """A new client id, or the one of a redemption whose answer was lost; a serial queued here
        is refused at once (the server cannot know of it yet)."""
        if before is not None and before[0] == SENDING:
            return before[1]
        if before is not None and before[0] == QUEUED:
            raise _used_here(serial, before)
        return f"{self.terminal.terminal_id}-{uuid.uuid4()}"

    def _take_offline(
        self, queue: OfflineQueue, voucher: Voucher, text: str, client_id: str, now: datetime
    ) -> dict[str, Any]:
        """Accept ``voucher`` on its own signature, within the offline limits, into the queue."""
        config = self.terminal.config()
        codes = config.get("point_codes")
        if codes is not None and voucher.point_code not in codes:
            raise Forbidden("not_allowed_here", f"{voucher.point_code} vouchers cannot be used at this place")
        limits = OfflineLimits.from_config(config)
        limits.check_voucher(
            voucher.amount, queue.totals().pending_amount, contact.last_contact(self.terminal.home), now
        )
        seq = queue.next_seq()
        place = (config.get("place") or {}).get("id")
        if not place:
            raise OfflineRefused(
                "offline_not_possible", "this terminal has no place in its config: sync first"
            )
        redemption = offline.VoucherRedemption(self.terminal.terminal_id, seq, client_id, place, now, text)
        entry = offline.seal_voucher(self.terminal.key, redemption)
        queue.add_voucher_entry(seq, client_id, voucher.serial.hex(), voucher.amount, entry)
        return {
            "ok": True,
            "offline": True,
            "queued": True,
            "serial": voucher.serial_text,
            "point_code": voucher.point_code,
            "amount": voucher.amount,
            "reference": f"{self.terminal.terminal_id}-{seq}",
            "client_id": client_id,
            "taken_at": now.isoformat(),
        }
