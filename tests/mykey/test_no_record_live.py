"""No record of use, against the server as it runs in production (gunicorn, its own log file):
after a thousand lookups at two services every table and the server's log are as they were.

The cards are virtual My Number cards in a reader of this process (no pcscd needed: the card's
answers are what the server sees, and the server is what this test is about).
"""

from __future__ import annotations

import pytest
from mkp_testing import tables_snapshot

from agent.card_session import proving_card
from agent.mykey import MyKeyClient, TerminalLookups
from drivers.card.virtual.card import VirtualMyNumberCard
from drivers.card.virtual.cardfile import new_card
from drivers.card.virtual.direct import DirectBackend
from mkp_core import signing
from mkp_core.client import ApiClient
from provisioning.enroll import make_csr
from server.db.engine import make_engine

pytestmark = pytest.mark.slow


def enroll(platform, place: str, service: str) -> TerminalLookups:
    platform.api.post(
        "/v1/places",
        {"place_id": place, "name": place, "kind": "shop", "municipality": "142018", "service": service},
    )
    code = platform.api.post("/v1/terminals/enrollments", {"place": place, "name": "counter"})["code"]
    key = signing.generate_terminal_key()
    done = ApiClient(platform.url).request("POST", "/v1/enroll", {"code": code, "csr": make_csr(key)})
    return TerminalLookups(ApiClient(platform.url, signing.TerminalAuth(done["terminal_id"], key)), service)


def test_a_thousand_lookups_leave_no_trace_in_the_database_or_the_log(live_server):
    platform = live_server
    for code, kind in (("A1", "shopping-street"), ("A2", "library")):
        platform.api.post(
            "/v1/services", {"code": code, "name": code, "kind": kind, "municipality": "142018"}
        )
    backend = DirectBackend()
    backend.insert(VirtualMyNumberCard(new_card(platform.ca)))
    with proving_card(backend, "1234") as card:
        holder = MyKeyClient(ApiClient(platform.url))
        holder.register(card)
        holder.link(card, "A1", "789")
        holder.link(card, "A2", "280212")
        a1, a2 = enroll(platform, "a1-shop", "A1"), enroll(platform, "a2-desk", "A2")
        a1.lookup(card), a2.lookup(card)  # first use in this worker: CRL and keys loaded
        engine = make_engine(platform.database_url)
        before, log_before = tables_snapshot(engine), platform.log_path.read_bytes()
        answers = [(a1 if n % 2 else a2).lookup(card) for n in range(1000)]
        after, log_after = tables_snapshot(engine), platform.log_path.read_bytes()
        engine.dispose()
    assert answers.count({"service": "A1", "service_id": "789"}) == 500
    assert answers.count({"service": "A2", "service_id": "280212"}) == 500
    assert after == before
    assert log_after == log_before, log_after[len(log_before) :].decode(errors="replace")[:500]
