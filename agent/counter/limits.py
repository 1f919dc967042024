"""Offline limits: how much the counter may take, on the card's word alone, while the server is away.

The server sets them in the terminal's config (``offline``): the most for one spend, the most one
card may spend here offline in a day, the most the terminal may hold unsent, the longest it may go
without the server, and the oldest CRL a card may be checked against. A spend past any of them is
refused at the counter with a clear reason, and nothing is queued.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from mkp_core.errors import Forbidden

DEFAULTS = {
    "max_spend": 3000,
    "max_card_day": 5000,
    "max_total": 20000,
    "max_hours": 24,
    "max_crl_hours": 48,
}


class OfflineRefused(Forbidden):
    """A spend the offline limits do not allow (``values`` fill in the counter's message).

    Not ``details``: that is the error family's list of per-row findings, another thing.
    """

    def __init__(self, code: str, message: str, **values: Any) -> None:
        super().__init__(code, message)
        self.values = values


@dataclass(frozen=True)
class OfflineLimits:
    max_spend: int
    max_card_day: int
    max_total: int
    max_hours: int
    max_crl_hours: int

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> OfflineLimits:
        given = config.get("offline") or {}
        return cls(**{k: int(given.get(k, v)) for k, v in DEFAULTS.items()})

    def check(
        self,
        amount: int,
        card_today: int,
        pending_total: int,
        last_contact: datetime | None,
        crl_this_update: datetime | None,
        now: datetime,
    ) -> None:
        """Refuse (``OfflineRefused``) unless this spend fits every limit."""
        self._check_contact(last_contact, now)
        if crl_this_update is None or now - crl_this_update > timedelta(hours=self.max_crl_hours):
            raise OfflineRefused("offline_crl_too_old", f"the CRL here is older than {self.max_crl_hours} h")
        self._check_entry(amount)
        if card_today + amount > self.max_card_day:
            left = max(0, self.max_card_day - card_today)
            raise OfflineRefused(
                "offline_limit", f"this card may spend {left} more points offline today", limit=left
            )
        self._check_total(amount, pending_total)

    def check_voucher(
        self, amount: int, pending_total: int, last_contact: datetime | None, now: datetime
    ) -> None:
        """Refuse unless a paper voucher of ``amount`` points fits: it counts like a spend (per
        entry, and in the terminal's unsent total, within the hours without the server); no card
        is involved, so neither the per-card day nor the CRL's age applies."""
        self._check_contact(last_contact, now)
        self._check_entry(amount)
        self._check_total(amount, pending_total)

    def _check_contact(self, last_contact: datetime | None, now: datetime) -> None:
        if last_contact is None or now - last_contact > timedelta(hours=self.max_hours):
            raise OfflineRefused(
                "offline_too_long", f"no contact with the server for more than {self.max_hours} h"
            )

    def _check_entry(self, amount: int) -> None:
        if amount > self.max_spend:
            raise OfflineRefused(
                "offline_limit", f"at most {self.max_spend} points a spend offline", limit=self.max_spend
            )

    def _check_total(self, amount: int, pending_total: int) -> None:
        if pending_total + amount > self.max_total:
            left = max(0, self.max_total - pending_total)
            raise OfflineRefused(
                "offline_limit", f"this terminal may take {left} more points before it syncs", limit=left
            )
