"""The MyKey holders points belong to: a typed MyKey ID resolved to its wallet, one or many at once.

A wallet is owned by ``mykey:<number>``: the MyKey ID's row number, which never changes when the
holder changes the ID they see (:mod:`server.platform.mykey.registry`).
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import Connection, select

from mkp_core import mykey_id as rules
from server.db.engine import chunked
from server.ledger.tables import mykeys
from server.platform.mykey import registry
from server.platform.mykey.registry import MyKey


def find(conn: Connection, mykey_id: str) -> MyKey:
    """The holder of a typed MyKey ID (any case, look-alikes alike), or ``unknown_mykey``."""
    return registry.find(conn, mykey_id)


def find_many(conn: Connection, typed: Iterable[str]) -> dict[str, MyKey]:
    """Holders by the MyKey ID as typed, for the ones that exist (a CSV file's column at once)."""
    folded: dict[str, list[str]] = {}
    for text in set(typed):
        try:
            rules.validate_format(text)
        except rules.InvalidMyKeyId:
            continue
        folded.setdefault(rules.fold(text), []).append(text)
    found: dict[str, MyKey] = {}
    for part in chunked(sorted(folded)):
        for row in conn.execute(select(mykeys).where(mykeys.c.folded.in_(part))):
            holder = registry.from_row(row)
            for text in folded[row.folded]:
                found[text] = holder
    return found


def mykey_ids(conn: Connection, numbers: Iterable[int]) -> dict[int, str]:
    """The MyKey ID each holder number shows now."""
    out: dict[int, str] = {}
    for part in chunked(sorted(set(numbers))):
        out.update(conn.execute(select(mykeys.c.id, mykeys.c.mykey_id).where(mykeys.c.id.in_(part))).all())
    return out


def number_of(wallet: str) -> int | None:
    """The holder number of a wallet owner ``mykey:<number>`` (None for any other owner)."""
    prefix, _, rest = wallet.partition(":")
    return int(rest) if prefix == "mykey" and rest.isdigit() else None
