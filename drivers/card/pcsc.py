"""PC/SC readers through pyscard and pcscd: the reader backend used in shops and in tests.

A thin adapter: it turns PC/SC return codes into the errors of :mod:`drivers.card.reader` and
pyscard's ``CardMonitor`` into card events. pyscard's monitor thread dies when pcscd stops;
:class:`PcscCardWatch` supervises it and builds a new one once pcscd is back, so a kiosk keeps
seeing cards across a pcscd restart.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from smartcard import scard
from smartcard.Card import Card
from smartcard.CardMonitoring import CardMonitor, CardMonitoringThread, CardObserver

from drivers.card.reader import (
    CardChannel,
    CardEvent,
    CardRemovedError,
    CardWatch,
    NoCardError,
    NoReaderError,
    PcscdNotRunningError,
    ReaderBackend,
    ReaderError,
)


def _u32(hr: int) -> int:
    return hr & 0xFFFFFFFF


_SERVICE_DOWN = {_u32(scard.SCARD_E_NO_SERVICE), _u32(scard.SCARD_E_SERVICE_STOPPED)}
_NO_CARD = {_u32(scard.SCARD_E_NO_SMARTCARD), _u32(scard.SCARD_W_REMOVED_CARD)}
_CARD_GONE = {
    _u32(scard.SCARD_W_REMOVED_CARD),
    _u32(scard.SCARD_E_NO_SMARTCARD),
    _u32(scard.SCARD_W_RESET_CARD),
    _u32(scard.SCARD_W_UNPOWERED_CARD),
    _u32(scard.SCARD_W_UNRESPONSIVE_CARD),
    _u32(scard.SCARD_E_READER_UNAVAILABLE),
    _u32(scard.SCARD_E_INVALID_HANDLE),
    _u32(scard.SCARD_F_COMM_ERROR),
    _u32(scard.SCARD_E_NOT_TRANSACTED),
}
PCSCD_DOWN_MESSAGE = "the PC/SC service (pcscd) is not running; start it (systemctl start pcscd.socket)"


def _msg(hr: int) -> str:
    return f"{scard.SCardGetErrorMessage(hr)} (0x{_u32(hr):08X})"


def _establish() -> int:
    ctx: int  # pyscard ships no types: a PC/SC context handle is an int
    hr, ctx = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
    if _u32(hr) in _SERVICE_DOWN:
        raise PcscdNotRunningError(PCSCD_DOWN_MESSAGE)
    if hr != scard.SCARD_S_SUCCESS:
        raise ReaderError(f"cannot reach the PC/SC service: {_msg(hr)}")
    return ctx


def _list_readers(ctx: int) -> list[str]:
    hr, names = scard.SCardListReaders(ctx, [])
    if _u32(hr) == _u32(scard.SCARD_E_NO_READERS_AVAILABLE):
        return []
    if _u32(hr) in _SERVICE_DOWN:
        raise PcscdNotRunningError(PCSCD_DOWN_MESSAGE)
    if hr != scard.SCARD_S_SUCCESS:
        raise ReaderError(f"cannot list card readers: {_msg(hr)}")
    return list(names)


class PcscChannel(CardChannel):
    """A connected card in a PC/SC reader."""

    def __init__(self, ctx: int, handle: int, protocol: int, reader: str, atr: bytes) -> None:
        self._ctx: int | None = ctx
        self._handle: int | None = handle
        self._pci = scard.SCARD_PCI_T0 if protocol == scard.SCARD_PROTOCOL_T0 else scard.SCARD_PCI_T1
        self.reader = reader
        self.atr = atr

    def _raw(self, apdu: bytes) -> tuple[bytes, int]:
        if self._handle is None:
            raise CardRemovedError("the card connection is closed")
        hr, resp = scard.SCardTransmit(self._handle, self._pci, list(apdu))
        if hr != scard.SCARD_S_SUCCESS:
            if _u32(hr) in _CARD_GONE:
                raise CardRemovedError(f"the card was removed from {self.reader}")
            if _u32(hr) in _SERVICE_DOWN:
                raise PcscdNotRunningError(PCSCD_DOWN_MESSAGE)
            raise ReaderError(f"card communication failed: {_msg(hr)}")
        resp = bytes(resp)
        if len(resp) < 2:
            # what a reader reports when the card went away in the middle of a command
            raise CardRemovedError(f"the card stopped answering: it was removed from {self.reader}")
        return resp[:-2], int.from_bytes(resp[-2:], "big")

    def transmit(self, apdu: bytes) -> tuple[bytes, int]:
        """Send an APDU; GET RESPONSE (61xx) and wrong-Le retries (6Cxx) are handled here."""
        data, sw = self._raw(apdu)
        if sw >> 8 == 0x6C and len(apdu) >= 5:
            data, sw = self._raw(apdu[:-1] + bytes([sw & 0xFF]))
        out = bytearray(data)
        while sw >> 8 == 0x61:
            data, sw = self._raw(bytes([0x00, 0xC0, 0x00, 0x00, sw & 0xFF]))
            out += data
        return bytes(out), sw

    def close(self) -> None:
        """Disconnect and reset the card, so a verified PIN never outlives this session."""
        handle, self._handle = self._handle, None
        if handle is not None:
            scard.SCardDisconnect(handle, scard.SCARD_RESET_CARD)
        if self._ctx is not None:
            scard.SCardReleaseContext(self._ctx)
            self._ctx = None


class PcscBackend(ReaderBackend):
    """Readers known to pcscd."""

    def readers(self) -> list[str]:
        """Reader names; raises :class:`PcscdNotRunningError` if pcscd is down."""
        ctx = _establish()
        try:
            return _list_readers(ctx)
        finally:
            scard.SCardReleaseContext(ctx)

    def connect(self, reader: str | None = None) -> CardChannel:
        """Connect to the card in ``reader`` (exact name or a unique part of it), else the first card."""
        ctx = _establish()
        try:
            names = _list_readers(ctx)
            if not names:
                raise NoReaderError("no card reader is connected")
            if reader is not None:
                matches = [n for n in names if n == reader] or [n for n in names if reader in n]
                if not matches:
                    raise NoReaderError(f"no reader named {reader!r} (readers: {', '.join(names)})")
                candidates = matches[:1]
            else:
                candidates = names
            hr, states = scard.SCardGetStatusChange(
                ctx, 0, [(n, scard.SCARD_STATE_UNAWARE) for n in candidates]
            )
            if _u32(hr) in _SERVICE_DOWN:
                raise PcscdNotRunningError(PCSCD_DOWN_MESSAGE)
            present = [
                name
                for name, state, _atr in (states if hr == scard.SCARD_S_SUCCESS else [])
                if state & scard.SCARD_STATE_PRESENT
            ]
            if not present:
                where = candidates[0] if reader is not None else "any reader"
                raise NoCardError(f"no card in {where}")
            name = present[0]
            hr, handle, protocol = scard.SCardConnect(
                ctx, name, scard.SCARD_SHARE_SHARED, scard.SCARD_PROTOCOL_T0 | scard.SCARD_PROTOCOL_T1
            )
            if _u32(hr) in _NO_CARD:
                raise NoCardError(f"no card in {name}")
            if _u32(hr) in _SERVICE_DOWN:
                raise PcscdNotRunningError(PCSCD_DOWN_MESSAGE)
            if hr != scard.SCARD_S_SUCCESS:
                raise ReaderError(f"cannot connect to the card in {name}: {_msg(hr)}")
            hr, _reader, _state, _proto, atr = scard.SCardStatus(handle)
            if hr != scard.SCARD_S_SUCCESS:
                scard.SCardDisconnect(handle, scard.SCARD_LEAVE_CARD)
                raise CardRemovedError(f"the card was removed from {name}")
            return PcscChannel(ctx, handle, protocol, name, bytes(atr))
        except BaseException:
            scard.SCardReleaseContext(ctx)
            raise

    def watch(self, callback: Callable[[CardEvent], None]) -> CardWatch:
        """Deliver insert/remove events from pyscard's CardMonitor, surviving pcscd restarts."""
        return PcscCardWatch(callback)


def _reset_pyscard_monitor() -> None:
    """Drop pyscard's CardMonitor singletons so that the next CardMonitor() starts afresh.

    pyscard keeps one monitor per process and never rebuilds it once its thread has died
    (which it does when pcscd goes away).
    """
    with CardMonitoringThread.lock:
        thread = CardMonitoringThread.instance
        if thread is not None:
            thread.stop()
            request = getattr(getattr(thread, "cardrequest", None), "pcsccardrequest", None)
            if request is not None and not thread.is_alive():
                # its PC/SC context died with the old pcscd; releasing it later would only raise
                request.hcontext = None
        CardMonitoringThread.instance = None
    with CardMonitor.lock:
        CardMonitor.instance = None


# pyscard ships no types, so its classes are Any to mypy; this is the one subclass of one.
class _Observer(CardObserver):  # type: ignore[misc]
    def __init__(self, watch: PcscCardWatch) -> None:
        self._watch = watch

    def update(self, observable: object, handlers: tuple[list[Card], list[Card]]) -> None:
        added, removed = handlers
        self._watch._deliver(added, removed)


class PcscCardWatch(CardWatch):
    """Card events from pyscard's CardMonitor, with a supervisor that re-creates the monitor.

    The supervisor checks every ``interval`` seconds that pyscard's monitor thread is alive. When
    it has died (pcscd stopped), cards known to be present are reported removed, and a new
    monitor is built as soon as pcscd answers again.
    """

    def __init__(self, callback: Callable[[CardEvent], None], interval: float = 0.25) -> None:
        self._callback = callback
        self._interval = interval
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._present: dict[str, bytes] = {}
        self._monitor: CardMonitor | None = None
        self._observer = _Observer(self)
        self.restarts = 0
        self._thread = threading.Thread(target=self._supervise, name="card-watch", daemon=True)
        self._thread.start()

    def _deliver(self, added: list[Card], removed: list[Card]) -> None:
        events = []
        with self._lock:
            if self._stop.is_set():
                return
            for card in removed:
                if card.reader in self._present:
                    self._present.pop(card.reader)
                    events.append(CardEvent("removed", card.reader, bytes(card.atr)))
            for card in added:
                self._present[card.reader] = bytes(card.atr)
                events.append(CardEvent("inserted", card.reader, bytes(card.atr)))
        for ev in events:
            self._callback(ev)

    def _monitor_alive(self) -> bool:
        thread = CardMonitoringThread.instance
        return thread is not None and thread.is_alive()

    def _pcscd_up(self) -> bool:
        try:
            ctx = _establish()
        except (PcscdNotRunningError, ReaderError):
            return False
        try:
            _list_readers(ctx)
            return True
        except (PcscdNotRunningError, ReaderError):
            return False
        finally:
            scard.SCardReleaseContext(ctx)

    def _start_monitor(self) -> None:
        _reset_pyscard_monitor()
        self._monitor = CardMonitor()
        self._monitor.addObserver(self._observer)

    def _release_monitor(self) -> None:
        monitor, self._monitor = self._monitor, None
        if monitor is not None:
            try:
                monitor.deleteObserver(self._observer)
            except ValueError:
                pass
        _reset_pyscard_monitor()

    def _drop_monitor(self) -> None:
        """The monitor died with pcscd: release it, and report every card as removed."""
        self._release_monitor()
        with self._lock:
            gone, self._present = self._present, {}
        for reader, atr in gone.items():
            self._callback(CardEvent("removed", reader, atr))

    def _supervise(self) -> None:
        while not self._stop.is_set():
            if self._monitor is not None and not self._monitor_alive():
                self._drop_monitor()
                self.restarts += 1
            if self._monitor is None and self._pcscd_up():
                try:
                    self._start_monitor()
                except Exception:  # pcscd went away again while starting: retry next round
                    self._monitor = None
            self._stop.wait(self._interval)

    def stop(self) -> None:
        """Stop delivering events and release pyscard's monitor."""
        self._stop.set()
        self._thread.join(timeout=5)
        self._release_monitor()
