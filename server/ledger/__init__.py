"""The point ledger: accounts and transfers, double entry, append-only (modelled on TigerBeetle).

It knows no HTTP. ``transfers.create_transfers`` is the one way points move.
"""

from server.ledger.accounts import AccountKind, account_kind, balances
from server.ledger.transfers import (
    IdempotencyConflict,
    InsufficientPoints,
    Transfer,
    TransferRequest,
    create_transfers,
    reverse,
    transfer,
)
from server.ledger.verify import VerifyReport, verify

__all__ = [
    "AccountKind",
    "IdempotencyConflict",
    "InsufficientPoints",
    "Transfer",
    "TransferRequest",
    "VerifyReport",
    "account_kind",
    "balances",
    "create_transfers",
    "reverse",
    "transfer",
    "verify",
]
