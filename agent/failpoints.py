"""Named places where the agent can be made to die, for the tests that prove nothing is lost.

``MKP_AGENT_CRASH_AT=spend:after-queue`` makes the agent kill itself with SIGKILL when it reaches
that place: no cleanup, no flush, as a power cut or the OOM killer would. The tests run a spend or
a sync with each place set, start the agent again, sync, and check that every transaction is in
the ledger exactly once and every receipt printed matches one. In production the variable is not
set and :func:`reach` is one dictionary lookup.
"""

from __future__ import annotations

import os
import signal

ENV = "MKP_AGENT_CRASH_AT"

#: Every place, in the order a spend and a sync pass them.
PLACES = (
    "spend:card-signed",  # the card signed; nothing sent, nothing queued
    "spend:sent",  # the online spend reached the server; the answer not read
    "spend:before-queue",  # offline: about to write the queue
    "spend:after-queue",  # offline: queued (on disk), no receipt yet
    "spend:before-print",  # the receipt is kept, not printed
    "spend:after-print",  # printed, not marked printed
    "sync:before-send",  # a batch read from the queue, not sent
    "sync:sent",  # the server answered (committed), the answers not recorded
    "sync:mid-answer",  # half the answers recorded
)


def reach(place: str) -> None:
    """Die here if the test asked for it (the variable names ``place``)."""
    if os.environ.get(ENV) == place:
        os.kill(os.getpid(), signal.SIGKILL)
