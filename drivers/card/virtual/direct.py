"""Virtual cards in a reader of this process: the card's APDUs without pcscd in between.

The PC/SC path (pcscd, vpcd, pyscard) is tested on its own; what stands on the card session (the
MyKey server's checks, the benchmarks that make thousands of card signatures ahead) needs many
cards fast, so it talks to :class:`~drivers.card.virtual.card.VirtualMyNumberCard` through this
:class:`~drivers.card.reader.ReaderBackend`: the same JPKI client, the same APDUs, the same card.
Never a production reader.
"""

from __future__ import annotations

from collections.abc import Callable

from drivers.card.reader import (
    CardChannel,
    CardEvent,
    CardRemovedError,
    CardWatch,
    NoCardError,
    NoReaderError,
    ReaderBackend,
)
from drivers.card.virtual.vpcd import ServedCard


class DirectChannel(CardChannel):
    """A connection to a card object: each APDU is handed to its ``process``."""

    def __init__(self, card: ServedCard, reader: str) -> None:
        self.card = card
        self.reader = reader
        self.atr = card.atr
        self._open = True

    def transmit(self, apdu: bytes) -> tuple[bytes, int]:
        if not self._open:
            raise CardRemovedError("the card connection is closed")
        answer = self.card.process(apdu)
        return answer[:-2], int.from_bytes(answer[-2:], "big")

    def close(self) -> None:
        self._open = False


class _Watch(CardWatch):
    def __init__(self, backend: DirectBackend, callback: Callable[[CardEvent], None]) -> None:
        self.backend = backend
        self.callback = callback

    def stop(self) -> None:
        if self in self.backend.watches:
            self.backend.watches.remove(self)


class DirectBackend(ReaderBackend):
    """Named readers holding card objects (``None``: an empty reader)."""

    def __init__(self, readers: dict[str, ServedCard | None] | None = None) -> None:
        self.slots: dict[str, ServedCard | None] = dict(readers or {})
        self.watches: list[_Watch] = []

    def insert(self, card: ServedCard, reader: str = "Direct 00") -> None:
        self.slots[reader] = card
        card.power_on()
        for watch in list(self.watches):
            watch.callback(CardEvent("inserted", reader, card.atr))

    def remove(self, reader: str = "Direct 00") -> None:
        self.slots[reader] = None
        for watch in list(self.watches):
            watch.callback(CardEvent("removed", reader))

    def readers(self) -> list[str]:
        return list(self.slots)

    def connect(self, reader: str | None = None) -> CardChannel:
        if reader is None:
            reader = next((name for name, card in self.slots.items() if card is not None), None)
            if reader is None:
                raise NoCardError("no card in any reader") if self.slots else NoReaderError("no reader")
        if reader not in self.slots:
            raise NoReaderError(f"no reader named {reader!r}")
        card = self.slots[reader]
        if card is None:
            raise NoCardError(f"no card in {reader}")
        card.reset()
        return DirectChannel(card, reader)

    def watch(self, callback: Callable[[CardEvent], None]) -> CardWatch:
        watch = _Watch(self, callback)
        self.watches.append(watch)
        return watch
