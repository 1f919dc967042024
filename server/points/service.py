"""What an operator may do to the ledger directly: reverse a transfer (scoped operators only
their own municipality's points; another's transfer is as if missing). Spends, refunds and the rest have their own modules."""

from __future__ import annotations

from sqlalchemy import Connection

from mkp_core.ids import point_code_municipality
from server import ledger
from server.db.client_ids import operator_key
from server.ledger.transfers import unknown_transfer
from server.platform.operators.service import Operator
from server.points import schemas


def reverse(conn: Connection, op: Operator, transfer_id: int, body: schemas.ReverseCreate) -> ledger.Transfer:
    """Undo a transfer by an opposite one (never by editing it); lots go back where they were."""
    original = ledger.get_transfer(conn, transfer_id)
    if not op.covers(point_code_municipality(original.point_code)):
        raise unknown_transfer(transfer_id)  # another municipality's: as if it were not there
    return ledger.reverse(conn, transfer_id, operator_key(op.id, body.client_id), op.actor, body.memo)
