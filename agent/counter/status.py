"""What the counter page shows around the actions: the place, online or not, the queue, the card,
the price list, and the spends made here today that may be refunded."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from agent.counter.service import Counter
from agent.queue import day_start


def counter_state(counter: Counter) -> dict[str, Any]:
    config = counter.config()
    totals = counter.queue.totals()
    return {
        "terminal": {"id": counter.terminal.terminal_id, "name": config.get("name")},
        "place": counter.place,
        "service": counter.place.get("service"),
        "online": counter.online,
        "last_contact": counter.last_contact(),
        "queue": {"pending": totals.pending, "pending_amount": totals.pending_amount},
        "card": {"present": counter.card_present},
        "price_list": config.get("price_list") or [],
        "refundable": refundable_today(counter),
        "language": counter.language,
        "idle_timeout_s": counter.idle_timeout_s,
        "action_timeout_s": counter.action_timeout_s,
        "scanner": counter.has_scanner,
    }


def refundable_today(counter: Counter) -> list[dict[str, Any]]:
    """Online spends printed here since the start of today (Japan time), newest first."""
    since = day_start(datetime.now(UTC))
    out = []
    for receipt in counter.queue.last_receipts(50):
        body = receipt["body"]
        if receipt["kind"] != "spend" or body.get("offline") or not body.get("transfer_id"):
            continue
        at = datetime.fromisoformat(body["at"])
        if at < since:
            continue
        item = body.get("item") or {}
        out.append(
            {
                "transfer_id": body["transfer_id"],
                "amount": body["amount"],
                "time": at.astimezone(counter.zone).strftime("%H:%M"),
                "what": item.get("name") or "",
            }
        )
    return out
