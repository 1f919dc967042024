"""Why the ledger refuses a transfer: each a member of the one error family, with its own code."""

from __future__ import annotations

from mkp_core.errors import Conflict


class InsufficientPoints(Conflict):
    """The debit account cannot pay (``insufficient_points``)."""


class PointsExpired(InsufficientPoints):
    """The wallet would have enough, but some of it has expired (``points_expired``)."""


class OverBudget(InsufficientPoints):
    """An account with a floor (a department's budget) would pass it (``over_budget``)."""


class IdempotencyConflict(Conflict):
    pass
