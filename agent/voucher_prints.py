"""Telling the server a voucher printed here came out, until it has heard it.

A voucher is valid only once the server marks it ``printed``. The paper is already in the holder's
hand when the terminal says so, so a confirmation lost (the network cut, the server restarting)
must not leave the voucher ``issued`` for the expiry sweep to void. The terminal writes the mark
"printed, not yet confirmed" in its queue file (``synchronous=FULL``) before it sends the
confirmation, and clears it only when the server answers; ``mkp-agent sync`` and the counter's run
loop send what is still marked, with its first client id (the server answers a repeat with its
first answer).

The server's refusal is final and clears the mark too: ``voucher_voided`` (voided meanwhile, say
by the expiry sweep: the paper is not valid and its points went back), ``voucher_expired`` ... It
is reported, so the operator can reprint the voucher for its holder. ``voucher_redeemed`` means the
voucher was confirmed already (only a printed voucher can be used): taken as confirmed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from agent.queue import OfflineQueue
from mkp_core.client import ApiError

PRINTED = "/v1/terminal/vouchers/printed"
#: A refusal that says the voucher was printed and confirmed before.
ALREADY_CONFIRMED = "voucher_redeemed"

Call = Callable[[str, str, dict[str, Any]], Any]


def _final(e: ApiError) -> bool:
    """A refusal the server will give again (4xx); a 5xx is worth sending again later."""
    return 400 <= e.status < 500


def confirm(queue: OfflineQueue, call: Call, client_id: str, serials: list[str]) -> list[dict[str, Any]]:
    """Send one confirmation; clear its mark when answered. The refusals, one per serial (empty:
    all confirmed). ``Unreachable`` and a 5xx ``ApiError`` leave the mark for the next sync."""
    try:
        call("POST", PRINTED, {"client_id": client_id, "serials": serials})
    except ApiError as e:
        if not _final(e):
            raise
        if len(serials) > 1:  # one refused serial refuses the batch: ask for each on its own
            return [r for i, s in enumerate(serials) for r in confirm(queue, call, f"{client_id}.{i}", [s])]
        if e.code == ALREADY_CONFIRMED:
            queue.print_answered(serials)
            return []
        queue.print_answered(serials, e.code)
        return [{"serial": serials[0], "code": e.code, "message": e.message}]
    queue.print_answered(serials)
    return []


def confirm_pending(queue: OfflineQueue, call: Call) -> dict[str, Any]:
    """Send every confirmation not yet answered: how many were confirmed, and the refusals."""
    confirmed = 0
    refused: list[dict[str, Any]] = []
    for client_id, serials in queue.unconfirmed_prints().items():
        said_no = confirm(queue, call, client_id, serials)
        confirmed += len(serials) - len(said_no)
        refused += said_no
    return {"prints_confirmed": confirmed, "prints_refused": refused}
