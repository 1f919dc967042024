"""The words printed on paper (receipts, vouchers, the My Page code slip): the one catalogue's, in Japanese.

Why the catalogue: a resident reads the same wording on paper as at the counter and on My Page,
and a reviewer finds every word of mkp in one place (:mod:`mkp_core.i18n`); the test that every
marked string has its Japanese covers paper too. The code marks each printed line's English msgid
with ``N_()`` and prints it with :func:`printed`.

Why Japanese only: paper cannot switch language as the counter page does, and it is read after the
counter is left, by the resident and by the clerk a voucher is handed to, in a Japanese town. So
:data:`PRINTED_LANGUAGE` is not the page's or the locale's choice. A day is written as Japanese
writes it (the CLDR's long date, from Babel like the catalogue: 2027年3月31日), not by hand.
"""

from __future__ import annotations

from datetime import date, datetime

from babel.dates import format_date

from mkp_core.i18n import N_, gettext

PRINTED_LANGUAGE = "ja"
"""The language of everything mkp prints on paper."""
POINTS = N_("%(points)s points")
"""A number of points, as a receipt or a voucher prints it."""


def printed(msgid: str, **values: object) -> str:
    """``msgid`` as printed: in :data:`PRINTED_LANGUAGE`, its ``%(name)s`` placeholders filled."""
    text = gettext(msgid, PRINTED_LANGUAGE)
    return text % values if values else text


def printed_day(day: date) -> str:
    """A day as printed: ``2027年3月31日``."""
    return format_date(day, "long", locale=PRINTED_LANGUAGE)


def printed_time(at: datetime) -> str:
    """A moment as printed, in ``at``'s own time zone (the caller's is Japan's): ``2026年12月8日 12:05``."""
    return f"{printed_day(at.date())} {at:%H:%M}"


def printed_points(points: int, sign: str = "") -> str:
    """A number of points as printed: ``3,000ポイント``, ``-1,500ポイント`` with ``sign="-"``."""
    return printed(POINTS, points=f"{sign}{points:,}")
