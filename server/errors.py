"""Domain errors: a machine-readable code, a human message and what kind of mistake it is.

Domain code raises these without knowing HTTP; the API layer maps ``kind`` to a status.
"""

from __future__ import annotations


class DomainError(Exception):
    """A request the system refuses; nothing was changed."""

    kind = "invalid"

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class NotFound(DomainError):
    kind = "not_found"


class Conflict(DomainError):
    kind = "conflict"


class Forbidden(DomainError):
    kind = "forbidden"


class Unauthorized(DomainError):
    kind = "unauthorized"
