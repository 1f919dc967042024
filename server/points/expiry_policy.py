"""How long granted points stay valid: a point code's expiry policy, as a municipality states it.

* ``none``: they never expire;
* ``days`` N: through the N-th day after the day of the credit (credited 1 April, 30 days:
  valid through 1 May);
* ``month_end`` N: through the last day of the month N months after the credit's month
  (N = 0: the end of that same month);
* ``fixed``: through a fixed last day, whenever they were credited.

Days are Japanese days (JST). A lot stores the first instant it is no longer valid: midnight in
Japan after its last valid day.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from mkp_core.dates import add_months, jst_date, start_of_day
from mkp_core.errors import MkpError

POLICIES = ("none", "days", "month_end", "fixed")
MAX_COUNT = 3660  # ten years of days; months are capped at 120


@dataclass(frozen=True)
class ExpiryPolicy:
    policy: str = "none"
    count: int | None = None
    last_day: date | None = None

    def __post_init__(self) -> None:
        if self.policy not in POLICIES:
            raise MkpError(
                "invalid_expiry", f"expiry policy is one of {', '.join(POLICIES)}, got {self.policy!r}"
            )
        if self.policy in ("days", "month_end"):
            top = MAX_COUNT if self.policy == "days" else 120
            low = 1 if self.policy == "days" else 0
            if type(self.count) is not int or not low <= self.count <= top:
                raise MkpError("invalid_expiry", f"{self.policy} needs a whole number from {low} to {top}")
        elif self.count is not None:
            raise MkpError("invalid_expiry", f"{self.policy} takes no number")
        if (self.policy == "fixed") != (self.last_day is not None):
            raise MkpError("invalid_expiry", "a fixed expiry, and only it, names its last valid day")

    def expires_at(self, credited_at: datetime) -> datetime | None:
        """The first instant points credited at ``credited_at`` are no longer valid (None: never)."""
        day = jst_date(credited_at)
        if self.policy == "days":
            assert self.count is not None
            return start_of_day(day + timedelta(days=self.count + 1))
        if self.policy == "month_end":
            assert self.count is not None
            return start_of_day(add_months(day, self.count + 1))
        if self.policy == "fixed":
            assert self.last_day is not None
            return start_of_day(self.last_day + timedelta(days=1))
        return None

    def describe(self) -> str:
        if self.policy == "days":
            return f"{self.count} days from the credit"
        if self.policy == "month_end":
            return "end of the month of the credit" + (f" + {self.count} months" if self.count else "")
        if self.policy == "fixed":
            return f"until {self.last_day}"
        return "never expire"

    def to_dict(self) -> dict[str, Any]:
        return {
            "policy": self.policy,
            "count": self.count,
            "last_day": self.last_day.isoformat() if self.last_day else None,
            "text": self.describe(),
        }
