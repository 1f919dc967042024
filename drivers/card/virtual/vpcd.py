"""Serve a virtual card to pcscd's ``vpcd`` reader driver over its TCP socket.

vpcd (package vsmartcard-vpcd) listens on 127.0.0.1:35963 for slot 0 (reader
``Virtual PCD 00 00``) and 35964 for slot 1. The card side connects; each frame is a 2-byte
big-endian length and a payload. A 1-byte payload is a control (00 power off, 01 power on,
02 reset: no reply; 04 get ATR: reply the ATR); a longer one is a command APDU, answered
with the response APDU. Connected means inserted; closing the socket means removed.

When pcscd stops, the socket closes but the card is still "in the reader": the link keeps
retrying until pcscd is back, as a physical card would still be there.

vpcd listens on all interfaces: never install it on a production kiosk.
"""

from __future__ import annotations

import socket
import struct
import threading
from collections.abc import Callable
from typing import Protocol

VPCD_HOST = "127.0.0.1"
VPCD_BASE_PORT = 35963


def vpcd_port(slot: int) -> int:
    """TCP port of vpcd's ``slot`` (0 or 1)."""
    if slot not in (0, 1):
        raise ValueError("vpcd has slots 0 and 1")
    return VPCD_BASE_PORT + slot


def reader_name(slot: int) -> str:
    """The PC/SC reader name pcscd gives vpcd's ``slot``."""
    return f"Virtual PCD 00 {slot:02d}"


class ServedCard(Protocol):
    """What vpcd needs of a card: an ATR, power events, and APDU processing."""

    atr: bytes

    def power_on(self) -> None: ...
    def power_off(self) -> None: ...
    def reset(self) -> None: ...
    def process(self, raw: bytes) -> bytes: ...


_QUICKACK = getattr(socket, "TCP_QUICKACK", None)


def _recv_exact(sock: socket.socket, n: int) -> bytes | None:
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            return None
        buf += chunk
        if _QUICKACK is not None:
            # vpcd writes the length and the APDU in two sends; without an immediate ACK,
            # Nagle on its side and delayed ACK on ours add ~40 ms to every APDU.
            sock.setsockopt(socket.IPPROTO_TCP, _QUICKACK, 1)
    return bytes(buf)


class VpcdLink:
    """One card inserted into one vpcd slot, served from a background thread.

    ``pull_on`` is for fault tests: when it returns True for a command APDU, the card is pulled
    out before answering, exactly what happens when a user snatches the card mid-command.
    """

    def __init__(
        self,
        card: ServedCard,
        *,
        slot: int = 0,
        host: str = VPCD_HOST,
        port: int | None = None,
        pull_on: Callable[[bytes], bool] | None = None,
        retry_interval: float = 0.1,
    ) -> None:
        self.card = card
        self.host = host
        self.port = port if port is not None else vpcd_port(slot)
        self.pull_on = pull_on
        self.retry_interval = retry_interval
        self._stop = threading.Event()
        self._connected = threading.Event()
        self._sock: socket.socket | None = None
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self.error: BaseException | None = None
        self.pulled = False  # True once pull_on took the card out mid-command

    # -- lifecycle ------------------------------------------------------------------------
    def insert(self, timeout: float = 5.0) -> VpcdLink:
        """Start serving; returns once vpcd accepted the connection."""
        self._thread = threading.Thread(target=self.run, name=f"vpcd:{self.port}", daemon=True)
        self._thread.start()
        if not self._connected.wait(timeout):
            self.remove()
            raise ConnectionError(f"vpcd is not listening on {self.host}:{self.port} (is pcscd running?)")
        return self

    def remove(self) -> None:
        """Take the card out of the reader."""
        self._stop.set()
        self._close()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)

    @property
    def inserted(self) -> bool:
        return self._connected.is_set() and not self._stop.is_set()

    def _close(self) -> None:
        with self._lock:
            sock, self._sock = self._sock, None
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()
        self._connected.clear()

    # -- serving --------------------------------------------------------------------------
    def run(self) -> None:
        """Connect (and reconnect after a pcscd restart) until :meth:`remove` is called."""
        while not self._stop.is_set():
            try:
                sock = socket.create_connection((self.host, self.port), timeout=1.0)
            except OSError:
                self._stop.wait(self.retry_interval)
                continue
            sock.settimeout(None)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self._lock:
                if self._stop.is_set():
                    sock.close()
                    return
                self._sock = sock
            self._connected.set()
            try:
                self._serve(sock)
            except OSError:
                pass
            except BaseException as e:  # a bug in the card must not hang the reader silently
                self.error = e
                self._stop.set()
            finally:
                self._close()
                self.card.power_off()
            self._stop.wait(self.retry_interval)

    def _serve(self, sock: socket.socket) -> None:
        while not self._stop.is_set():
            head = _recv_exact(sock, 2)
            if head is None:
                return
            (length,) = struct.unpack(">H", head)
            payload = _recv_exact(sock, length) if length else b""
            if payload is None:
                return
            if len(payload) == 1:
                ctl = payload[0]
                if ctl == 0x00:
                    self.card.power_off()
                elif ctl == 0x01:
                    self.card.power_on()
                elif ctl == 0x02:
                    self.card.reset()
                elif ctl == 0x04:
                    sock.sendall(struct.pack(">H", len(self.card.atr)) + self.card.atr)
                continue
            if not payload:
                continue
            if self.pull_on is not None and self.pull_on(payload):
                self.pulled = True
                self._stop.set()
                return
            response = self.card.process(payload)
            sock.sendall(struct.pack(">H", len(response)) + response)
