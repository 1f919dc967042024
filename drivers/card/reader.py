"""The card-reader interface and the errors every card driver raises.

The agent talks to a reader only through :class:`ReaderBackend` and :class:`CardChannel`, so the
JPKI client and the card session never know whether the reader is PC/SC, a test double or
something else. Every failure a user can cause or meet (no reader, empty reader, card pulled out,
wrong PIN...) is a distinct exception with a message fit to show at a counter.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass

from mkp_core.errors import FixedCodeError


class CardError(FixedCodeError):
    """Base class of every card and reader failure; ``str()`` is a one-line human message."""

    code = "card_error"


class PcscdNotRunningError(CardError):
    """The PC/SC daemon (pcscd) does not answer, so no reader can be reached."""

    code = "pcscd_not_running"


class NoReaderError(CardError):
    """No card reader is connected (or none matches the name asked for)."""

    code = "no_reader"


class NoCardError(CardError):
    """A reader is there but holds no card."""

    code = "no_card"


class CardRemovedError(CardError):
    """The card left the reader (or was reset) while we were talking to it."""

    code = "card_removed"


class NotMyNumberCardError(CardError):
    """The card has no JPKI application: it is not a My Number card."""

    code = "not_my_number_card"


class InvalidPinFormatError(CardError):
    """The PIN is not 4 digits; refused before anything is sent, so no try is spent."""

    code = "invalid_pin_format"


class WrongPinError(CardError):
    """The card refused the PIN; ``tries_left`` more attempts remain before it blocks."""

    code = "wrong_pin"

    def __init__(self, tries_left: int) -> None:
        self.tries_left = tries_left
        super().__init__(f"wrong PIN: {tries_left} tries left before the card blocks")


class PinBlockedError(CardError):
    """The user-authentication PIN is blocked; only a municipal office can reset it."""

    code = "pin_blocked"

    def __init__(self, message: str | None = None) -> None:
        super().__init__(
            message
            or "the card's user-authentication PIN is blocked (too many wrong PINs); "
            "the holder must have it reset at their municipal office"
        )


class PinRequiredError(CardError):
    """The card needs a verified PIN for this command (status word 6982)."""

    code = "pin_required"


class CardCommandError(CardError):
    """The card answered a status word the driver has no specific meaning for."""

    code = "card_command_failed"

    def __init__(self, what: str, sw: int) -> None:
        self.sw = sw
        super().__init__(f"{what} failed: card answered status {sw:04X}")


class ReaderError(CardError):
    """The reader or its driver failed in a way not covered above."""

    code = "reader_error"


@dataclass(frozen=True)
class CardEvent:
    """A card was inserted into, or removed from, a reader."""

    kind: str  # "inserted" | "removed"
    reader: str
    atr: bytes = b""


class CardChannel(ABC):
    """An open connection to the card in one reader: APDUs in, response APDUs out."""

    reader: str
    atr: bytes

    @abstractmethod
    def transmit(self, apdu: bytes) -> tuple[bytes, int]:
        """Send one command APDU; return (response data, status word).

        Raises :class:`CardRemovedError` if the card is gone.
        """

    @abstractmethod
    def close(self) -> None:
        """Release the card (leave it powered for the next user)."""

    def __enter__(self) -> CardChannel:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class ReaderBackend(ABC):
    """A source of readers and card connections (PC/SC in production and tests)."""

    @abstractmethod
    def readers(self) -> list[str]:
        """Names of the readers present now.

        Raises :class:`PcscdNotRunningError` if the reader service is down.
        """

    @abstractmethod
    def connect(self, reader: str | None = None) -> CardChannel:
        """Connect to the card in ``reader``, or in the first reader holding a card.

        Raises :class:`NoReaderError`, :class:`NoCardError`, :class:`PcscdNotRunningError`.
        """

    @abstractmethod
    def watch(self, callback: Callable[[CardEvent], None]) -> CardWatch:
        """Call ``callback`` on every card insertion and removal until the watch is stopped."""


class CardWatch(ABC):
    """A running card-event subscription."""

    @abstractmethod
    def stop(self) -> None:
        """Stop delivering events."""
