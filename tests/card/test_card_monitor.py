"""Card inserted/removed events from pyscard's CardMonitor, and their survival of a pcscd restart."""

from __future__ import annotations

import queue

import pytest
from mkp_testing import READER0, READER1

from drivers.card.pcsc import PcscBackend
from drivers.card.reader import CardEvent
from drivers.card.virtual.card import JPKI_ATR

pytestmark = pytest.mark.pcsc


def next_event(q: queue.Queue, timeout: float = 5.0) -> CardEvent:
    try:
        return q.get(timeout=timeout)
    except queue.Empty:
        raise AssertionError("no card event") from None


@pytest.fixture
def events(pcscd):
    q: queue.Queue[CardEvent] = queue.Queue()
    watch = PcscBackend().watch(q.put)
    yield q, watch
    watch.stop()


def test_insert_and_remove_events(events, slots, make_card):
    q, _ = events
    slots.insert(make_card())
    ev = next_event(q)
    assert (ev.kind, ev.reader, ev.atr) == ("inserted", READER0, JPKI_ATR)
    slots.insert(make_card(), slot=1)
    assert next_event(q) == CardEvent("inserted", READER1, JPKI_ATR)
    slots.remove(slots.links[0])
    assert next_event(q) == CardEvent("removed", READER0, JPKI_ATR)


# pyscard's CardRequest.__del__ raises when it releases a context of the pcscd that is gone
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_watch_survives_a_pcscd_restart(events, slots, make_card, pcscd):
    if not pcscd.owned:
        pytest.skip("pcscd was not started by this test session; not restarting someone else's daemon")
    q, watch = events
    slots.insert(make_card())
    assert next_event(q).kind == "inserted"
    pcscd.restart()
    # the card is still in the reader; events go on after the daemon came back
    kinds = []
    while len(kinds) < 2:
        kinds.append(next_event(q, 10).kind)
    assert kinds == ["removed", "inserted"]
    assert watch.restarts >= 1
    slots.remove()
    assert next_event(q).kind == "removed"
