"""What My Page's templates call: times in Japan's time, a lot's last day, a transfer's kind in words."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from mkp_core.dates import JST, last_valid_day
from server.logins.browsers import browser_name
from server.mypage.words import _
from server.site import gettext

KINDS = {
    "grant": _("Granted"),
    "convert": _("Converted from a partner"),
    "premium": _("Premium"),
    "release": _("Arrived from hold"),
    "spend": _("Spent"),
    "voucher": _("Paper voucher"),
    "redeem": _("Voucher redeemed"),
    "expire": _("Expired"),
    "reverse": _("Given back"),
    "adjust": _("Adjusted"),
    "support": _("Event support"),
    "reward": _("Reward claimed"),
    "transit": _("To a transit card"),
    "migrate": _("Moved from the shopping street's points"),
}


def jst(when: datetime | None) -> str:
    """``2026-12-07 21:04`` in Japan's time ('' for none)."""
    return when.astimezone(JST).strftime("%Y-%m-%d %H:%M") if when else ""


def last_day(when: datetime) -> str:
    """The last day points expiring at ``when`` can be used (Japan's calendar)."""
    return last_valid_day(when).isoformat()


def kind_words(kind: str) -> str:
    known = KINDS.get(kind)
    return gettext(known) if known else kind


def template_helpers() -> dict[str, Any]:
    return {"jst": jst, "last_day": last_day, "kind_words": kind_words, "browser_name": browser_name}
