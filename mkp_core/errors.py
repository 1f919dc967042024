"""The one error family of mkp: every refusal has a machine-readable ``code`` and a human ``message``.

Server, HTTP client, card driver, signatures, releases and CRLs all raise subclasses of
:class:`MkpError`. Programs decide by ``code`` (or by class), never by the message text; people
read the ``message``, one line. ``kind`` says what sort of mistake it is, so the server can answer
with the right HTTP status without every domain module knowing HTTP (see ``server/app.py``).

Families whose code is fixed per class (card, signature, CRL errors) set ``code`` on the class and
take only a message; the others take ``(code, message)``.
"""

from __future__ import annotations

from typing import Any, ClassVar


class MkpError(Exception):
    """A request or operation that was refused; nothing was changed."""

    code: str = "error"
    #: invalid | not_found | conflict | forbidden | unauthorized | too_large | unavailable | throttled
    kind: ClassVar[str] = "invalid"
    #: What a refusal of many things at once found, one entry each (every bad row of a CSV file).
    details: list[dict[str, Any]] | None = None

    def __init__(self, code: str, message: str, details: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        if details is not None:
            self.details = details

    def __str__(self) -> str:
        return self.message

    def to_dict(self) -> dict[str, Any]:
        """The error as the API's error body shows it."""
        body: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.details:
            body["details"] = self.details
        return body


class FixedCodeError(MkpError):
    """An error family whose classes each carry their own ``code``: raised with a message only."""

    def __init__(self, message: str) -> None:
        super().__init__(type(self).code, message)


class NotFound(MkpError):
    kind = "not_found"


class Conflict(MkpError):
    kind = "conflict"


class Forbidden(MkpError):
    kind = "forbidden"


class Unauthorized(MkpError):
    kind = "unauthorized"


class TooLarge(MkpError):
    kind = "too_large"


class Throttled(MkpError):
    """Too many tries from one source (coupon codes guessed, challenges asked): wait, then try again.

    ``retry_after``: the seconds to wait, when known (the server sends it as ``Retry-After``).
    """

    kind = "throttled"
    retry_after: int | None = None

    def __init__(self, code: str, message: str, retry_after: int | None = None) -> None:
        super().__init__(code, message)
        self.retry_after = retry_after
