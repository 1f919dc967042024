"""Dates as municipalities mean them: days in Japan Standard Time, instants in UTC.

A municipality says "valid until 31 March" or "from 1 April": whole days in JST (UTC+9, no
daylight saving time). The server stores instants in UTC. These helpers turn one into the other,
and read the dates and instants people type (``2027-04-01``, ``2027-04-01T09:30:00+09:00``).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta, timezone

from mkp_core.errors import MkpError

JST = timezone(timedelta(hours=9), "JST")


class InvalidDate(MkpError, ValueError):
    """A date or instant that cannot be read."""

    def __init__(self, message: str) -> None:
        super().__init__("invalid_date", message)


def parse_date(text: str) -> date:
    """``YYYY-MM-DD`` as a date, or :class:`InvalidDate`."""
    try:
        if not isinstance(text, str) or len(text) != 10:
            raise ValueError
        return date.fromisoformat(text)
    except ValueError:
        raise InvalidDate(f"a date is YYYY-MM-DD, e.g. 2027-04-01, got {text!r}") from None


def parse_instant(text: str) -> datetime:
    """A date (its start in JST) or an ISO 8601 date-time with its UTC offset, as an aware datetime.

    A date-time without an offset is refused: "09:30" means different instants in Tokyo and in UTC.
    """
    if isinstance(text, str) and len(text) == 10:
        return start_of_day(parse_date(text))
    try:
        if not isinstance(text, str) or len(text) > 40:
            raise ValueError
        value = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidDate(
            f"a date or time is YYYY-MM-DD or YYYY-MM-DDTHH:MM:SS+09:00, got {text!r}"
        ) from None
    if value.tzinfo is None:
        raise InvalidDate(f"{text!r} has no UTC offset: add one, e.g. +09:00")
    return value.astimezone(UTC)


def start_of_day(day: date) -> datetime:
    """The instant ``day`` begins in Japan, in UTC."""
    return datetime.combine(day, time(0), JST).astimezone(UTC)


def jst_date(instant: datetime) -> date:
    """The day in Japan that ``instant`` falls on."""
    return instant.astimezone(JST).date()


def last_valid_day(expires_at: datetime) -> date:
    """The last day (JST) on which points that stop being valid at ``expires_at`` can be used."""
    return jst_date(expires_at - timedelta(microseconds=1))


def add_months(day: date, months: int) -> date:
    """The first day of the month ``months`` after ``day``'s month."""
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)
