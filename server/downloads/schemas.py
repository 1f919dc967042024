"""Request and response schemas of what an enrolled terminal downloads.

Only the server imports these; what the agent or mkp-admin also reads stays in ``mkp_core.wire``,
with the field types every schema is built from.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from mkp_core.wire import (
    ConntestAnnouncement,
    OfflineLimits,
    Out,
    PriceListItem,
    TerminalPlace,
)


class Ping(Out):
    terminal_id: str
    place: str
    server_time: datetime


class TerminalConfig(Out):
    terminal_id: str
    name: str
    place: TerminalPlace
    point_codes: list[str]
    price_list: list[PriceListItem] = []
    offline: OfflineLimits
    version: str
    conntest: ConntestAnnouncement | None = None  # the connection test to run next


class TrustList(Out):
    version: str
    jpki_anchors: list[str]
    terminal_ca: str
    release_keys: list[str]
    # The server's voucher keys as a key ring (mkp_core.keyring: key id, PEM, valid from, retired;
    # withdrawn ids): what a terminal verifies paper vouchers with, offline.
    voucher_keys: dict[str, Any] = {"keys": [], "withdrawn": []}
