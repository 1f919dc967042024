"""What the counter tests share: the desk (a counter with a registered card holding points), the
town's department and price list, the network cut and back, the counter page's keypad."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mkp_testing import PLACE, Platform

from agent.counter.service import Counter
from agent.downloads import terminal_client
from agent.terminal import Terminal
from drivers.card.virtual.card import CardData
from drivers.card.virtual.direct import DirectBackend

PIN = "1234"
DEPARTMENT = "142018-kosodate"


@dataclass
class Desk:
    platform: Platform
    home: Path
    counter: Counter
    backend: DirectBackend
    mykey_id: str

    def points(self) -> int:
        held = self.platform.api.get(f"/v1/mykeys/{self.mykey_id}/balances")["balances"]
        return sum(b["balance"] for b in held)

    def verify(self) -> dict:
        report = self.platform.api.get("/v1/ledger/verify")
        assert report["ok"], report
        return report

    def reopen(self) -> Counter:
        """The counter as a restarted agent finds it (its queue file and journal on disk)."""
        self.counter.queue.close()
        self.counter = Counter(Terminal.open(self.home), self.backend)
        return self.counter


def furnish_points(platform: Platform) -> None:
    platform.api.post(
        "/v1/municipalities/142018/departments",
        {"code": "kosodate", "name": "子育て支援課", "budget": 100_000},
    )
    platform.api.post(
        f"/v1/departments/{DEPARTMENT}/grant-kinds", {"code": "childcare", "name": "子育て応援"}
    )
    platform.api.post(f"/v1/places/{PLACE}/items", {"code": "ippan", "name": "一般", "price": 500})


# --- the counter page in a browser (a Playwright tab) -------------------------------------------


def type_keys(page: Any, target: str, digits: str) -> None:
    """Touch the on-screen keypad's keys, one digit after another."""
    for digit in digits:
        page.get_by_test_id(f"key-{target}-{digit}").click()


def enter_pin(page: Any, pin: str = PIN) -> None:
    """Type the PIN on its screen and wait for the result screen."""
    page.get_by_test_id("screen-pin").wait_for(state="visible")
    type_keys(page, "pin", pin)
    page.get_by_test_id("pin-ok").click()
    page.get_by_test_id("screen-result").wait_for(state="visible", timeout=20_000)


def offline(desk: Desk) -> None:
    """The network is cut: nothing answers at the server's address."""
    terminal = desk.counter.terminal
    desk.counter.api = terminal_client("http://127.0.0.1:9", terminal.terminal_id, terminal.key, timeout=0.5)


def online(desk: Desk) -> None:
    desk.counter.api = desk.counter.terminal.client(timeout=5.0)


_KEYS: list = []


def quick_card(ca) -> CardData:
    """A fresh card of ``ca`` (its own certificate) on an RSA key made once per test process: the
    key is the slow part, and the server keys on the certificate."""
    from cryptography.hazmat.primitives.serialization import Encoding

    from drivers.card.virtual.pki import build_auth_certificate, new_rsa_key

    if not _KEYS:
        _KEYS.append(new_rsa_key())
    certificate = build_auth_certificate(ca.certificate, ca.key, _KEYS[0].public_key())
    return CardData(
        auth_key=_KEYS[0],
        auth_certificate=certificate.public_bytes(Encoding.DER),
        ca_certificate=ca.certificate.public_bytes(Encoding.DER),
        pin=PIN,
    )
