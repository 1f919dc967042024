"""Point operations on top of the ledger, with the rules of who may do what.

Owners: a municipality's budget is ``muni:<code>``, a wallet ``holder:<id>``, a shop or
facility ``payee:<id>``.
"""

from __future__ import annotations

from sqlalchemy import Connection, select

from mkp_core import wire
from mkp_core.errors import MkpError, NotFound
from mkp_core.ids import general_point_code, point_code_municipality
from server import ledger
from server.db.tables import point_codes
from server.ledger.transfers import get_transfer
from server.municipalities.service import get_municipality
from server.operators.service import Operator


def grant(conn: Connection, op: Operator, body: wire.GrantCreate) -> ledger.Transfer:
    """Move points from the municipality's budget into a holder's wallet."""
    op.require_scope(body.municipality)
    get_municipality(conn, body.municipality)
    code = body.point_code or general_point_code(body.municipality)
    if point_code_municipality(code) != body.municipality:
        raise MkpError(
            "point_code_mismatch", f"point code {code} does not belong to municipality {body.municipality}"
        )
    _require_point_code(conn, code)
    return ledger.transfer(
        conn,
        ledger.TransferRequest(
            client_id=body.client_id,
            point_code=code,
            debit=f"muni:{body.municipality}",
            credit=f"holder:{body.holder}",
            amount=body.amount,
            kind="grant",
            memo=body.memo,
        ),
        op.actor,
    )


def spend(conn: Connection, op: Operator, body: wire.SpendCreate) -> ledger.Transfer:
    """Move points from a holder's wallet to a payee; never below zero."""
    op.require_scope(point_code_municipality(body.point_code))
    _require_point_code(conn, body.point_code)
    return ledger.transfer(
        conn,
        ledger.TransferRequest(
            client_id=body.client_id,
            point_code=body.point_code,
            debit=f"holder:{body.holder}",
            credit=f"payee:{body.payee}",
            amount=body.amount,
            kind="spend",
            memo=body.memo,
        ),
        op.actor,
    )


def reverse(conn: Connection, op: Operator, transfer_id: int, body: wire.ReverseCreate) -> ledger.Transfer:
    """Undo a transfer by an opposite one (never by editing it)."""
    original = get_transfer(conn, transfer_id)
    op.require_scope(point_code_municipality(original.point_code))
    return ledger.reverse(conn, transfer_id, body.client_id, op.actor, body.memo)


def holder_balances(conn: Connection, op: Operator, holder: str) -> list[dict]:
    """A holder's balances; a scoped operator sees only its own municipality's points."""
    return [
        {"point_code": code, "balance": value}
        for code, value in ledger.balances(conn, f"holder:{holder}").items()
        if op.municipality is None or point_code_municipality(code) == op.municipality
    ]


def _require_point_code(conn: Connection, code: str) -> None:
    if conn.execute(select(point_codes.c.code).where(point_codes.c.code == code)).first() is None:
        raise NotFound("unknown_point_code", f"point code {code} does not exist")
