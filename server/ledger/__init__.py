"""The point ledger: accounts and transfers, double entry, append-only (modelled on TigerBeetle).

It knows no HTTP. ``transfers.create_transfers`` is the one way points move.
"""

from __future__ import annotations

from server.ledger.accounts import AccountKind, account_kind, balances, open_account, set_floor
from server.ledger.errors import IdempotencyConflict, InsufficientPoints, OverBudget, PointsExpired
from server.ledger.expiry import Expired, expire_lots
from server.ledger.transfers import (
    Transfer,
    TransferRequest,
    create_transfers,
    get_transfer,
    reversal_of,
    reverse,
    transfer,
)
from server.ledger.verify import VerifyReport, verify

__all__ = [
    "AccountKind",
    "Expired",
    "IdempotencyConflict",
    "InsufficientPoints",
    "OverBudget",
    "PointsExpired",
    "Transfer",
    "TransferRequest",
    "VerifyReport",
    "account_kind",
    "balances",
    "create_transfers",
    "expire_lots",
    "get_transfer",
    "open_account",
    "reversal_of",
    "reverse",
    "set_floor",
    "transfer",
    "verify",
]
