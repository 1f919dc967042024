"""The counter as its own process, for the crash tests: ``python counter_proc.py HOME CARD ACTION``.

ACTION is ``spend AMOUNT`` (online, or offline with ``--offline``: nothing answers at the
server's address), ``queue COUNT AMOUNT`` (COUNT offline spends in one card session) or ``sync``. The card is a virtual card file in a reader of this process, so
no pcscd is needed; everything else is the agent's own code. ``MKP_AGENT_CRASH_AT`` kills it
with SIGKILL at that place (agent/failpoints.py). The result is printed as JSON.
"""

from __future__ import annotations

import json
import sys
import uuid

from agent.card_session import proving_card
from agent.counter.service import Counter, SpendRequest
from agent.downloads import terminal_client
from agent.terminal import Terminal
from drivers.card.virtual.card import VirtualMyNumberCard
from drivers.card.virtual.cardfile import load_card
from drivers.card.virtual.direct import DirectBackend


def main(argv: list[str]) -> int:
    home, card, action, *rest = argv
    backend = DirectBackend()
    backend.insert(VirtualMyNumberCard(load_card(card)))
    terminal = Terminal.open(home)
    counter = Counter(terminal, backend)
    if "--offline" in rest:
        counter.api = terminal_client("http://127.0.0.1:9", terminal.terminal_id, terminal.key, timeout=0.5)
    if action == "spend":
        result = counter.spend("1234", amount=int(rest[0]))
    elif action == "queue":
        with proving_card(backend, "1234") as card:
            for _ in range(int(rest[0])):
                client_id = f"{terminal.terminal_id}-{uuid.uuid4()}"
                counter._spend_offline(card, SpendRequest(int(rest[1])), client_id)
        result = {"pending": counter.queue.totals().pending}
    else:
        result = counter.sync()
    print(json.dumps(result, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
