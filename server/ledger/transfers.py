"""Transfers: the one way points move. Batched, idempotent by client id, never overdrawing.

``create_transfers`` takes a batch (as TigerBeetle does) and answers per transfer: a failing
transfer changes nothing, the others still apply. Inside the caller's write transaction it
locks the accounts it touches (``FOR UPDATE`` on PostgreSQL; SQLite's ``BEGIN IMMEDIATE``
already serialises writers), so concurrent spends from one wallet cannot overdraw it.

Wallets hold their points in expiry lots (``server.ledger.lots``): a credit to a wallet makes a
lot with the request's ``expires_at``, a debit takes lots earliest-expiring first and never an
expired one. A department's account may go below zero down to its floor, never further.
"""

from __future__ import annotations

import gc
import hashlib
import re
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from json.encoder import encode_basestring_ascii as _quoted
from typing import Any, cast

from sqlalchemy import ColumnElement, Connection, select
from sqlalchemy.exc import IntegrityError

from mkp_core.errors import Conflict, MkpError, NotFound
from mkp_core.ids import MAX_AMOUNT
from server.db.client_ids import as_sent
from server.db.engine import (
    COPY_FROM_ROWS,
    IN_CHUNK,
    chunked,
    db_timestamp,
    executemany,
    fetch_raw,
    fetch_together,
    ids_ahead,
    is_postgres,
    new_ids,
    new_ids_statement,
    sent_together,
)
from server.ledger import known_accounts, periods
from server.ledger.accounts import ACCOUNT_KINDS, AccountKind, account_kind
from server.ledger.errors import IdempotencyConflict, InsufficientPoints, OverBudget
from server.ledger.lots import LOTS, LotBook, read_moves_later
from server.ledger.rows import insert_rows, update_by_ids
from server.ledger.tables import accounts, lots, mykeys, transfers

TRANSFER_KINDS = frozenset(
    {
        "grant",
        "convert",
        "premium",
        "spend",
        "voucher",
        "redeem",
        "expire",
        "settle",
        "reverse",
        "adjust",
        "support",
        "handover",
        "reward",
        "transit",
        # Converted partner points (and their premium) leave the holding account for the holder's
        # wallet when the hold ends: not a grant, so the settlement can tell them apart.
        "release",
        "migrate",
    }
)

__all__ = ["IdempotencyConflict", "InsufficientPoints", "Transfer", "TransferRequest", "create_transfers"]


@dataclass(frozen=True)
class TransferRequest:
    """What a client asks for. ``debit`` and ``credit`` are account owners."""

    client_id: str
    point_code: str
    debit: str
    credit: str
    amount: int
    kind: str
    memo: str | None = None
    reverses: int | None = None
    #: When the points a credit to a wallet gives stop being valid (None: never).
    expires_at: datetime | None = None

    def __init__(
        self,
        client_id: str,
        point_code: str,
        debit: str,
        credit: str,
        amount: int,
        kind: str,
        memo: str | None = None,
        reverses: int | None = None,
        expires_at: datetime | None = None,
    ) -> None:
        # The generated __init__ of a frozen dataclass sets each field through object.__setattr__:
        # a batch makes thousands of requests, and a write to the instance's dict costs a third.
        fields = self.__dict__
        fields["client_id"] = client_id
        fields["point_code"] = point_code
        fields["debit"] = debit
        fields["credit"] = credit
        fields["amount"] = amount
        fields["kind"] = kind
        fields["memo"] = memo
        fields["reverses"] = reverses
        fields["expires_at"] = expires_at

    def body_hash(self) -> str:
        """Everything but the client id: a retry must repeat exactly this (stored with a transfer
        only where its row cannot say it: ``_row_says_body``).

        The SHA-256 of ``json.dumps([point_code, debit, credit, amount, kind, memo, reverses])``
        (the expiry appended when there is one), written out by :func:`_json_list`, which gives
        the very same text faster: hashes stored by earlier versions still match their retries."""
        expiry = "" if self.expires_at is None else ", " + _quoted(_utc_text(self.expires_at))
        if (
            type(self.point_code) is str
            and type(self.debit) is str
            and type(self.credit) is str
            and type(self.amount) is int
            and self.kind in TRANSFER_KINDS  # plain ASCII words: quoted as they are
        ):
            # The usual request, written out in one go (a batch hashes every request once).
            memo = "null" if self.memo is None else _json_value(self.memo)
            reverses = "null" if self.reverses is None else _json_value(self.reverses)
            text = (
                f"[{_quoted(self.point_code)}, {_quoted(self.debit)}, {_quoted(self.credit)}, "
                f'{self.amount!r}, "{self.kind}", {memo}, {reverses}{expiry}]'
            )
        else:
            body: list[str | int | None] = [
                self.point_code,
                self.debit,
                self.credit,
                self.amount,
                self.kind,
                self.memo,
                self.reverses,
            ]
            text = _json_list(body)[:-1] + expiry + "]"
        return hashlib.sha256(text.encode()).hexdigest()


def _json_list(values: list[str | int | None]) -> str:
    """``json.dumps(values)`` for a list of strings, whole numbers and None (tests/server/
    test_ledger.py holds the two to the same text)."""
    return "[" + ", ".join(_json_value(v) for v in values) + "]"


def _json_value(value: str | int | None) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return repr(value)
    return str(_quoted(value))


@lru_cache(maxsize=256)
def _utc_text(when: datetime) -> str:
    """An expiry as a body hash writes it (a batch's lots share a handful of expiries)."""
    return when.astimezone(UTC).isoformat()


_new_object = object.__new__


@dataclass(frozen=True)
class Transfer:
    """A posted transfer, as stored."""

    id: int
    client_id: str
    kind: str
    point_code: str
    debit: str
    credit: str
    amount: int
    memo: str | None
    reverses: int | None
    created_at: datetime
    expires_at: datetime | None = None

    def __init__(
        self,
        id: int,
        client_id: str,
        kind: str,
        point_code: str,
        debit: str,
        credit: str,
        amount: int,
        memo: str | None,
        reverses: int | None,
        created_at: datetime,
        expires_at: datetime | None = None,
    ) -> None:
        # As TransferRequest's: a batch answers every request with one.
        fields = self.__dict__
        fields["id"] = id
        fields["client_id"] = client_id
        fields["kind"] = kind
        fields["point_code"] = point_code
        fields["debit"] = debit
        fields["credit"] = credit
        fields["amount"] = amount
        fields["memo"] = memo
        fields["reverses"] = reverses
        fields["created_at"] = created_at
        fields["expires_at"] = expires_at

    @classmethod
    def posted(
        cls, transfer_id: int, request: TransferRequest, created_at: datetime, expires_at: datetime | None
    ) -> Transfer:
        """The transfer ``request`` was posted as: its fields and these three. Made by copying the
        request's fields (the same names) in one go: a batch answers each of its requests with one,
        and the eleven arguments of ``__init__`` cost half as much again (tests/server/
        test_ledger.py, ``test_a_large_batch_is_stored_as_its_requests_say``, holds the answers
        equal to the transfers read back)."""
        made = _new_object(cls)
        fields = made.__dict__
        fields.update(request.__dict__)
        fields["id"] = transfer_id
        fields["created_at"] = created_at
        fields["expires_at"] = expires_at
        return made

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "client_id": as_sent(self.client_id),  # the id its caller sent, not the stored key
            "kind": self.kind,
            "point_code": self.point_code,
            "debit": self.debit,
            "credit": self.credit,
            "amount": self.amount,
            "memo": self.memo,
            "reverses": self.reverses,
            "created_at": self.created_at,
            "expires_at": self.expires_at,
        }


def transfer(conn: Connection, request: TransferRequest, actor: str, now: datetime | None = None) -> Transfer:
    """Post one transfer or raise its ``MkpError``."""
    (result,) = create_transfers(conn, [request], actor, now)
    if isinstance(result, MkpError):
        raise result
    return result


def create_transfers(
    conn: Connection,
    requests: Sequence[TransferRequest],
    actor: str,
    now: datetime | None = None,
    cutoff: datetime | None = None,
) -> list[Transfer | MkpError]:
    """Post a batch; one result per request, in order. Call inside a write transaction.

    The steps: refuse malformed requests and unknown point codes; open and lock the accounts
    the rest touch, and load the lots of the wallets they debit; decide each request in order
    against the locked balances and lots (an earlier transfer of the batch counts for a later
    one); post the new transfers, their lots and their totals.

    ``now``: when the batch happens (lots valid then can be spent); ``cutoff``: what an
    ``expire`` transfer takes (lots expired by then; default ``now``).
    """
    if len(requests) < GC_PAUSE_FROM:
        return _create_transfers(conn, requests, actor, now, cutoff)
    with _cyclic_gc_paused():
        return _create_transfers(conn, requests, actor, now, cutoff)


#: Batches from this many requests run with the cyclic garbage collector paused (see below).
GC_PAUSE_FROM = 64


@contextmanager
def _cyclic_gc_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector for one batch, if it runs.

    A batch makes a handful of objects a request, all alive until the batch ends and all freed
    by reference counting then (they form no cycles). While alive, they tip the collector's
    counters into full collections, each a walk over every object of the process (a server's
    modules, SQLAlchemy's caches: over 100,000): a quarter of a large batch's time, finding
    nothing to free. Paused, the counters see only the objects still alive at the end. Left
    alone if something else has disabled it, and not resumed then."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def _create_transfers(
    conn: Connection,
    requests: Sequence[TransferRequest],
    actor: str,
    now: datetime | None,
    cutoff: datetime | None,
) -> list[Transfer | MkpError]:
    """:func:`create_transfers`, the work itself."""
    now = now or datetime.now(UTC)
    kinds: dict[str, AccountKind] = {}  # each owner's, found once a batch
    results: list[Transfer | MkpError | None] = [_check_shape(r, kinds) for r in requests]
    todo = [i for i, r in enumerate(results) if r is None]
    if todo:
        # The booking's hold is taken before the point codes are read, in one round trip with them.
        todo = _refuse_unknown_point_codes(conn, requests, todo, results, periods.booking_hold(conn))
        todo = _refuse_closed_periods(conn, requests, todo, results, now)
    if todo:
        batch = _Batch(requests, todo, actor, now, cutoff or now, kinds, results)
        if is_postgres(conn) or len(todo) < PROBE_AFTER_FROM:
            _book(conn, batch, probe=True)
        else:
            _book_probing_after(conn, batch)
    _name_wallets_by_mykey_id(conn, requests, results)
    return cast(list[Transfer | MkpError], results)  # every request has its answer by now


#: On SQLite, batches from this many requests to book look up stored client ids only where they
#: must (:func:`_book_probing_after`); smaller ones, and PostgreSQL's, look them all up first.
PROBE_AFTER_FROM = 64


@dataclass(frozen=True)
class _Batch:
    """The requests a batch books (``todo``: their indexes) and where their answers go."""

    requests: Sequence[TransferRequest]
    todo: list[int]
    actor: str
    now: datetime
    cutoff: datetime
    kinds: dict[str, AccountKind]
    results: list[Transfer | MkpError | None]


class _RepeatedClientId(Exception):
    """A request refused in a batch booked without the probe repeats a stored client id."""


def _book(conn: Connection, batch: _Batch, probe: bool) -> None:
    """Book the batch's requests to do: lock their accounts, load the lots their debits take,
    decide each in order, post. ``probe``: look up every client id among the stored transfers
    first; else only those of refused requests, after deciding (raising ``_RepeatedClientId``
    if one is stored), and a posted one that is stored fails the INSERT."""
    requests, todo, results = batch.requests, batch.todo, batch.results
    client_ids = {requests[i].client_id for i in todo} if probe else set()
    debited = {(requests[i].debit, requests[i].point_code) for i in todo}
    reversed_ids = [r for i in todo if (r := requests[i].reverses) is not None]
    # Before the accounts, as ``reverse`` locks the original before them: never in a circle.
    originals = _read_originals(conn, reversed_ids) if reversed_ids else {}
    after_lock = _reads_after_lock(conn, debited, batch.kinds, client_ids)
    # A few transfers' new ids are read with the lock too: the writes then wait for nothing.
    few = bool(after_lock) and len(todo) < COPY_FROM_ROWS
    states, read = _open_and_lock_accounts(
        conn, [requests[i] for i in todo], batch.now, batch.kinds, after_lock, len(todo) if few else 0
    )
    book = LotBook.load(
        conn,
        [s.id for key, s in states.items() if s.holds_lots and key in debited],
        reversed_ids,
        None if read is None else read[0],
    )
    clock = _Clock(batch.now, batch.cutoff, db_timestamp(conn, batch.now))
    used = None if read is None or len(read) < 2 else [r[0] for r in read[1]]
    existing = _transfers_by_client_id(conn, client_ids, used) if probe else {}
    plan = _decide(requests, todo, existing, originals, states, book, batch.actor, clock, results)
    if not probe:
        refused = {requests[i].client_id for i in todo if results[i] is not None}
        if refused and _stored_client_ids(conn, refused):
            raise _RepeatedClientId
    _post(conn, requests, plan, states, book, batch.kinds, batch.now, results)


def _reads_after_lock(
    conn: Connection, debited: set[_AccountKey], kinds: dict[str, AccountKind], client_ids: set[str]
) -> list[tuple[str, list[Any]]]:
    """What a small batch on PostgreSQL reads once its accounts are locked, sent with the lock in
    one round trip (``_lock_accounts``): the open lots of the wallets it debits, then which of
    ``client_ids`` stored transfers have. None elsewhere: SQLite makes its reads one after another
    anyway, and a large batch locks its accounts in more than one statement."""
    if not is_postgres(conn) or len(debited) > IN_CHUNK // 2:
        return []
    reads = [_open_lots_of(sorted(key for key in debited if kinds[key[0]].holds_lots))]
    if client_ids:
        reads.append((_STORED_CLIENT_IDS, sorted(client_ids)))
    return reads


def _book_probing_after(conn: Connection, batch: _Batch) -> None:
    """:func:`_book` for a large batch on SQLite, without first looking up every client id.

    Nearly every request of a large batch is new, and the probe cost a lookup in the client ids'
    unique index per request, which the INSERT then makes again. So the batch is booked in a
    savepoint as if every request were new: one that repeats a stored transfer fails that index
    when posted, or is looked up when refused (refusals are few). Either way the savepoint is
    rolled back and the batch booked again, probing first: a retry still gets its first answer.
    """
    try:
        with conn.begin_nested():
            _book(conn, batch, probe=False)
        return
    except _RepeatedClientId:
        pass
    except (sqlite3.IntegrityError, IntegrityError) as e:  # the driver's own, or SQLAlchemy's
        # A repeated reversal also repeats its reversed id, whose unique index SQLite may check
        # first. Booked again with the probe, a retry gets its first answer; a second reversal
        # with another client id fails that index again, as it does in a small batch.
        if "transfers.client_id" not in str(e) and "transfers.reverses_id" not in str(e):
            raise
    for i in batch.todo:
        batch.results[i] = None
    _book(conn, batch, probe=True)


_WALLET = re.compile(r"mykey:(\d+)")


def _name_wallets_by_mykey_id(
    conn: Connection, requests: Sequence[TransferRequest], results: list[Transfer | MkpError | None]
) -> None:
    """A refusal names a holder's wallet by the MyKey ID people know, never by the ledger's row id
    (``mykey:17``): the message reaches the API, mkp-admin and the counter as it is said here."""
    refused = [(i, r) for i, r in enumerate(results) if isinstance(r, MkpError)]
    rows = {
        int(m.group(1))
        for i, _ in refused
        for owner in (requests[i].debit, requests[i].credit)
        if (m := _WALLET.fullmatch(owner))
    }
    if not rows:
        return
    found = conn.execute(select(mykeys.c.id, mykeys.c.mykey_id).where(mykeys.c.id.in_(rows)))
    names = {int(row_id): str(mykey_id) for row_id, mykey_id in found}

    def public(match: re.Match[str]) -> str:
        mykey_id = names.get(int(match.group(1)))
        return f"MyKey ID {mykey_id}" if mykey_id else match.group(0)

    for _, error in refused:
        error.message = _WALLET.sub(public, error.message)
        error.args = (error.message,)


def reverse(
    conn: Connection,
    transfer_id: int,
    client_id: str,
    actor: str,
    memo: str | None = None,
    now: datetime | None = None,
) -> Transfer:
    """Undo a transfer with a new, opposite one (history is never edited).

    A reversal of a debit from a wallet gives back to the very lots it took (a refund keeps the
    points' expiry); a reversal of a credit takes back the lot that credit made.

    The ledger itself (:func:`create_transfers`) locks the original, refuses a reversal of a
    reversal and tells a second reversal with another client id ``already_reversed`` (one racing
    another waits for it on the original's row), so this only builds the mirror request.
    """
    original = get_transfer(conn, transfer_id)
    request = TransferRequest(
        client_id=client_id,
        point_code=original.point_code,
        debit=original.credit,
        credit=original.debit,
        amount=original.amount,
        kind="reverse",
        memo=memo,
        reverses=original.id,
    )
    (result,) = create_transfers(conn, [request], actor, now)
    if isinstance(result, MkpError):
        raise result
    return result


def get_transfer(conn: Connection, transfer_id: int) -> Transfer:
    rows = _select_transfers(conn, transfers.c.id == transfer_id)
    if not rows:
        raise unknown_transfer(transfer_id)
    return rows[0][0]


def unknown_transfer(transfer_id: int) -> NotFound:
    """The refusal for a transfer that is not there (or not the caller's to see)."""
    return NotFound("unknown_transfer", f"no transfer {transfer_id}")


def reversal_of(conn: Connection, transfer_id: int) -> int | None:
    """The id of the transfer that reversed ``transfer_id``, if one did."""
    found = conn.execute(select(transfers.c.id).where(transfers.c.reverses_id == transfer_id)).scalar()
    return None if found is None else int(found)


# The steps of create_transfers, in the order it takes them.


@dataclass(frozen=True)
class _Clock:
    """When a batch happens, and what its ``expire`` transfers take (lots expired by ``cutoff``)."""

    now: datetime
    cutoff: datetime
    stored_now: Any  # ``now`` as the transfers' ``created_at`` is written
    now_ts: float = 0.0  # ``now`` and ``cutoff`` as the lot book compares them
    cutoff_ts: float = 0.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "now_ts", self.now.timestamp())
        object.__setattr__(self, "cutoff_ts", self.cutoff.timestamp())


@dataclass(slots=True)
class _AccountState:
    """A locked account as this batch sees it: its posted totals plus what the batch adds.

    Each debit is checked against the balance including the batch's earlier transfers; only
    the pending amounts are written back (``posted + pending`` in SQL), under the row lock.
    An account whose balance decides nothing (a wallet, an issuer without a floor) may have
    been found by its remembered id alone, its posted totals left 0 (``_remembered_accounts``).
    """

    id: int
    owner: str
    may_go_negative: bool
    holds_lots: bool
    floor: int | None
    debits_posted: int
    credits_posted: int
    pending_debits: int = 0
    pending_credits: int = 0

    @property
    def balance(self) -> int:
        return self.credits_posted + self.pending_credits - self.debits_posted - self.pending_debits

    def refusal(self, amount: int, point_code: str) -> InsufficientPoints | None:
        """Why this account cannot pay ``amount`` (lots aside), or None."""
        if self.floor is not None:
            if self.balance - amount < self.floor:
                return OverBudget(
                    "over_budget",
                    f"{self.owner} has {self.balance - self.floor} of its {-self.floor} {point_code} "
                    f"budget left, {amount} needed",
                )
            return None
        if self.may_go_negative or self.balance >= amount:
            return None
        return InsufficientPoints(
            "insufficient_points",
            f"{self.owner} holds {self.balance} of {point_code}, {amount} needed",
            details=[{"balance": max(self.balance, 0)}],  # a counter names it to the resident
        )


_AccountKey = tuple[str, str]
"""(owner, point code): what names an account."""


@dataclass
class _Plan:
    """What a batch will post: new transfer rows in request order, and in-batch retries.

    ``rows`` hold every column but ``memo``, ``reverses_id`` and ``body_hash``, which most
    transfers leave NULL; ``extras`` has them for the rows (by position) that set any.
    ``replays`` maps a request's index to the index of the identical request earlier in the
    same batch that it repeats: it gets that request's answer once it is posted.
    """

    rows: list[tuple[Any, ...]] = field(default_factory=list)
    extras: dict[int, tuple[str | None, int | None, str | None]] = field(default_factory=dict)
    posted: list[int] = field(default_factory=list)
    first_in_batch: dict[str, int] = field(default_factory=dict)
    replays: dict[int, int] = field(default_factory=dict)


def _refuse_unknown_point_codes(
    conn: Connection,
    requests: Sequence[TransferRequest],
    todo: list[int],
    results: list[Transfer | MkpError | None],
    first: list[tuple[str, list[Any]]],
) -> list[int]:
    """Refuse those of the requests ``todo`` to unknown point codes, having run the statements
    ``first``; the rest still to do (``todo`` itself when every code is known, as it usually is)."""
    codes = {requests[i].point_code for i in todo}
    known_codes = _existing_point_codes(conn, codes, first)
    if known_codes >= codes:
        return todo
    left = []
    for i in todo:
        if requests[i].point_code in known_codes:
            left.append(i)
        else:
            results[i] = NotFound("unknown_point_code", f"point code {requests[i].point_code} does not exist")
    return left


def _refuse_closed_periods(
    conn: Connection,
    requests: Sequence[TransferRequest],
    todo: list[int],
    results: list[Transfer | MkpError | None],
    now: datetime,
) -> list[int]:
    """Those of the requests ``todo`` explicitly dated (``now``) into a settlement period their
    municipality closed are refused; the rest still to do."""
    closed = periods.refuse_dated_into_closed(conn, (requests[i].point_code for i in todo), now)
    if not closed:
        return todo
    left = []
    for i in todo:
        refusal = closed.get(requests[i].point_code)
        if refusal is None:
            left.append(i)
        else:
            results[i] = refusal
    return left


def _open_and_lock_accounts(
    conn: Connection,
    requests: list[TransferRequest],
    now: datetime,
    kinds: dict[str, AccountKind],
    after_lock: list[tuple[str, list[Any]]],
    ids: int = 0,
) -> tuple[dict[_AccountKey, _AccountState], list[list[tuple[Any, ...]]] | None]:
    """Lock every account the batch touches, opening those it may need first; and the rows of
    the reads ``after_lock``, made once the locks are held (None: not made, where the lock could
    not take them along: the caller makes them; only the first where accounts had to be opened
    after the lock, the rest the caller makes again). ``ids``: new transfer ids to read along
    (``ids_ahead``), if the reads go.

    Accounts that may receive points, or may go negative, are opened on first use; a debit
    from a wallet that was never credited fails later without leaving an empty account. An
    account with a floor (a department's) is never opened here: only with its floor. Most
    accounts exist already: they are found first, and only the missing ones are inserted.
    """
    credited = {(r.credit, r.point_code) for r in requests}
    touched = credited | {(r.debit, r.point_code) for r in requests}
    along = [new_ids_statement("transfers", ids)] if ids and after_lock else []
    states, read = _lock_accounts(conn, touched, kinds, after_lock + along)
    if read is not None and along:
        ids_ahead(conn, "transfers", read.pop())
    missing = sorted(
        (owner, code)
        for owner, code in touched - states.keys()
        if not kinds[owner].has_floor and ((owner, code) in credited or kinds[owner].may_go_negative)
    )
    if missing:
        stamp = db_timestamp(conn, now)
        executemany(
            conn,
            "INSERT INTO accounts (owner, point_code, kind, debits_posted, credits_posted, created_at) "
            "VALUES (?, ?, ?, 0, 0, ?) ON CONFLICT (owner, point_code) DO NOTHING",
            [(owner, code, kinds[owner].name, stamp) for owner, code in missing],
        )
        states.update(_lock_accounts(conn, set(missing), kinds, [])[0])
        # The reads came before these locks: the client-id probe is made again after them; the
        # lots stand unless an account just opened is debited (a twin may have given it some).
        debited = {(r.debit, r.point_code) for r in requests}
        read = None if read is None or debited.intersection(missing) else read[:1]
    return states, read


def _decide(
    requests: Sequence[TransferRequest],
    todo: list[int],
    existing: dict[str, tuple[Transfer, str | None]],
    originals: dict[int, _Original],
    states: dict[_AccountKey, _AccountState],
    book: LotBook,
    actor: str,
    clock: _Clock,
    results: list[Transfer | MkpError | None],
) -> _Plan:
    """Answer retries and refusals in ``results``; plan the rest as new transfers, in order.

    ``existing``: the stored transfers (and body hashes) of the batch's client ids, found after
    the locks, so a concurrent twin has committed by then. A body hash is worked out only where
    a client id comes again, or where the new row cannot say the body itself (:func:`_row_says_body`).
    ``originals``: the transfers the batch's reversals name (:func:`_reversal_refusal`).
    """
    plan = _Plan()
    reversed_here: set[int] = set()  # the originals this batch's planned reversals reverse
    first_in_batch, posted, rows = plan.first_in_batch, plan.posted, plan.rows
    stored_now, now_ts, cutoff_ts = clock.stored_now, clock.now_ts, clock.cutoff_ts
    for i in todo:
        req = requests[i]
        client_id = req.client_id
        if existing and client_id in existing:
            prior_transfer, prior_hash = existing[client_id]
            same = _same_body(req, prior_transfer, prior_hash)
            results[i] = prior_transfer if same else _conflict(client_id)
        elif client_id in first_in_batch:
            if requests[first_in_batch[client_id]].body_hash() == req.body_hash():
                plan.replays[i] = first_in_batch[client_id]
            else:
                results[i] = _conflict(client_id)
        else:
            reverses = req.reverses
            if reverses is not None:
                refused = _reversal_refusal(req, reverses, originals, states, reversed_here)
                if refused is not None:
                    results[i] = refused
                    continue
            moved = _move(i, req, states, book, now_ts, cutoff_ts)
            if isinstance(moved, MkpError):
                results[i] = moved
                continue
            if reverses is not None:
                reversed_here.add(reverses)
            first_in_batch[client_id] = i
            posted.append(i)
            if req.memo is not None or req.reverses is not None or req.expires_at is not None:
                credit = states[(req.credit, req.point_code)]
                body_hash = None if _row_says_body(req, credit.holds_lots) else req.body_hash()
                if req.memo is not None or req.reverses is not None or body_hash is not None:
                    plan.extras[len(rows)] = (req.memo, req.reverses, body_hash)
            rows.append(
                (
                    client_id,
                    req.kind,
                    req.point_code,
                    moved[0],
                    moved[1],
                    req.amount,
                    actor,
                    stored_now,
                )
            )
    return plan


@dataclass(frozen=True, slots=True)
class _Original:
    """A transfer that a request of the batch reverses, as the mirror check reads it."""

    kind: str
    point_code: str
    debit_id: int
    credit_id: int
    amount: int
    reversed_by: str | None  # the client id of its stored reversal, if there is one


_ORIGINALS = (
    "SELECT id, kind, point_code, debit_account_id, credit_account_id, amount FROM transfers WHERE id IN (?*)"
)
_REVERSALS_OF = "SELECT reverses_id, client_id FROM transfers WHERE reverses_id IN (?*)"


def _read_originals(conn: Connection, ids: list[int]) -> dict[int, _Original]:
    """The transfers ``ids`` (those that exist), each with the client id of its stored reversal:
    two statements a chunk, sent together. On PostgreSQL the originals are locked first (in id
    order, as ``reverse`` locks one), so the reversals are read once a racing one has committed."""
    lock = " ORDER BY id FOR UPDATE" if is_postgres(conn) else ""
    found: dict[int, _Original] = {}
    for part in chunked(sorted(set(ids))):
        rows, reversals = fetch_together(conn, [(_ORIGINALS + lock, list(part)), (_REVERSALS_OF, list(part))])
        reversed_by = {int(original): str(client_id) for original, client_id in reversals}
        for tid, kind, code, debit_id, credit_id, amount in rows:
            found[int(tid)] = _Original(
                kind, code, int(debit_id), int(credit_id), int(amount), reversed_by.get(int(tid))
            )
    return found


def _reversal_refusal(
    req: TransferRequest,
    reverses: int,
    originals: dict[int, _Original],
    states: dict[_AccountKey, _AccountState],
    reversed_here: set[int],
) -> MkpError | None:
    """Why ``req``, a reversal of transfer ``reverses``, cannot be made, or None.

    A reversal gives back (or takes back) the very lots its original moved, all of them: it must
    move the original's amount of its point code from the account it credited to the one it
    debited, or the lots and the balances would part. Only once: a transfer stored or planned
    here as reversed already is not reversed again (a retry of the stored reversal is answered
    before this is asked); nor is a reversal reversed (as :func:`reverse` refuses)."""
    original = originals.get(reverses)
    if original is None:
        return NotFound("unknown_transfer", f"no transfer {reverses} to reverse: check the id sent")
    if original.kind == "reverse":
        return Conflict("cannot_reverse", f"transfer {reverses} is itself a reversal and cannot be reversed")
    if original.reversed_by is not None or reverses in reversed_here:
        return Conflict("already_reversed", f"transfer {reverses} was already reversed: nothing to do")
    code = req.point_code
    debit, credit = states.get((req.debit, code)), states.get((req.credit, code))
    if (
        req.amount != original.amount
        or debit is None
        or credit is None
        or debit.id != original.credit_id
        or credit.id != original.debit_id
    ):
        return MkpError(
            "reversal_mismatch",
            f"a reversal of transfer {reverses} must move its {original.amount} {original.point_code} "
            "points back from the account it credited to the one it debited: send exactly that",
        )
    return None


def _row_says_body(req: TransferRequest, credit_holds_lots: bool) -> bool:
    """Does the transfer row (with the lot its credit makes) give back all that the request's body
    hash covers, so that the row needs no hash stored beside it?

    It does unless an expiry goes into no lot (a credit to an account without lots, or a reversal,
    which gives back the lots its original took), or a memo or reversed id is of a type the
    database would store as another (a number as a memo, ``True`` as an id)."""
    if req.expires_at is not None and (req.kind == "reverse" or not credit_holds_lots):
        return False
    return (req.memo is None or type(req.memo) is str) and (req.reverses is None or type(req.reverses) is int)


def _same_body(req: TransferRequest, prior: Transfer, prior_hash: str | None) -> bool:
    """Does ``req`` repeat the body of the stored transfer ``prior``? By the hash stored with it,
    or else by the hash of the body its row says (the same text, so the same answer)."""
    if prior_hash is None:
        prior_hash = TransferRequest(
            prior.client_id,
            prior.point_code,
            prior.debit,
            prior.credit,
            prior.amount,
            prior.kind,
            prior.memo,
            prior.reverses,
            prior.expires_at,
        ).body_hash()
    return prior_hash == req.body_hash()


def _move(
    index: int,
    req: TransferRequest,
    states: dict[_AccountKey, _AccountState],
    book: LotBook,
    now_ts: float,
    cutoff_ts: float,
) -> MkpError | tuple[int, int]:
    """Debit and credit the two accounts' states (and lots): their ids; or say why the debit
    cannot be made. ``now_ts`` and ``cutoff_ts``: the batch's clock, as the lot book compares it.
    Every request of a batch passes here: each field is read once."""
    code, amount = req.point_code, req.amount
    debit = states.get((req.debit, code))
    credit = states.get((req.credit, code))
    if credit is None:
        return NotFound("unknown_account", f"{req.credit} has no {code} account")
    if debit is None:
        if account_kind(req.debit).has_floor:
            return NotFound("unknown_account", f"{req.debit} has no {code} account")
        return InsufficientPoints("insufficient_points", f"{req.debit} holds 0 of {code}, {amount} needed")
    refused: MkpError | None
    if debit.holds_lots:
        refused = book.take(index, req, debit.id, now_ts, cutoff_ts)
    elif debit.may_go_negative and debit.floor is None:
        refused = None  # an issuer: nothing to check (``_AccountState.refusal``)
    else:
        refused = debit.refusal(amount, code)
    if refused is not None:
        return refused
    debit.pending_debits += amount
    credit.pending_credits += amount
    if credit.holds_lots:
        book.credit(index, req, credit.id)
    return debit.id, credit.id


def _post(
    conn: Connection,
    requests: Sequence[TransferRequest],
    plan: _Plan,
    states: dict[_AccountKey, _AccountState],
    book: LotBook,
    kinds: dict[str, AccountKind],
    now: datetime,
    results: list[Transfer | MkpError | None],
) -> None:
    """Insert the planned transfers and their lots, add the pending amounts to the posted totals, answer.

    On PostgreSQL the writes go together (``sent_together``): a single spend's four writes cost
    one round trip, not four (a new lot's id is waited for; a few transfers' own ids were read
    with the accounts' lock); a large batch's go by COPY."""
    if plan.rows:
        ids = new_ids(conn, "transfers", len(plan.rows))
        few = len(plan.rows) < COPY_FROM_ROWS
        with sent_together(conn, few=few):
            _insert_transfers(conn, plan, ids)
            book.post(conn, dict(zip(plan.posted, ids, strict=True)))
            _add_pending_to_posted(conn, states.values())
            # A spend's receipt names the lots it took: read with the writes, not after them.
            keep_moves = read_moves_later(conn, ids) if few and book.moves and is_postgres(conn) else None
        if keep_moves is not None:
            keep_moves()
        gave_back = book.gave_back
        for i, transfer_id in zip(plan.posted, ids, strict=True):
            r = requests[i]
            # The expiry of the lot it made, as a replay reads it back: None if it made none (a
            # credit to an account without lots, or a reversal that gave back the lots it took).
            expires_at = r.expires_at
            if expires_at is not None and (not kinds[r.credit].holds_lots or i in gave_back):
                expires_at = None
            results[i] = Transfer.posted(transfer_id, r, now, expires_at)
    for i, first in plan.replays.items():
        results[i] = results[first]


_INSERT_TRANSFERS = (
    "INSERT INTO transfers (client_id, kind, point_code, debit_account_id, credit_account_id, amount, "
    "actor, created_at, id"
)


def _insert_transfers(conn: Connection, plan: _Plan, ids: list[int]) -> None:
    """Insert the planned rows with their ids: those without a memo, a reversed transfer or a body
    hash leave the three columns out on SQLite, whose driver runs every ``None`` it binds through
    its adapter registry (as long as the rest of the row's binding); PostgreSQL takes all in one
    go (COPY)."""
    extras = plan.extras
    rows = [(*row, tid) for row, tid in zip(plan.rows, ids, strict=True)]
    if not extras:
        insert_rows(conn, _INSERT_TRANSFERS + ")", 9, rows)
    elif is_postgres(conn):
        none = (None, None, None)
        full = [(*row, *extras.get(n, none)) for n, row in enumerate(rows)]
        insert_rows(conn, _INSERT_TRANSFERS + ", memo, reverses_id, body_hash)", 12, full)
    else:
        insert_rows(conn, _INSERT_TRANSFERS + ")", 9, [row for n, row in enumerate(rows) if n not in extras])
        full = [(*rows[n], *extra) for n, extra in extras.items()]
        insert_rows(conn, _INSERT_TRANSFERS + ", memo, reverses_id, body_hash)", 12, full)


def _add_pending_to_posted(conn: Connection, states: Iterable[_AccountState]) -> None:
    """``posted += pending`` in SQL, accounts that change alike in one statement."""
    alike: dict[tuple[Any, ...], list[int]] = {}
    for a in states:
        if a.pending_debits or a.pending_credits:
            alike.setdefault((a.pending_debits, a.pending_credits), []).append(a.id)
    update_by_ids(
        conn,
        "UPDATE accounts SET debits_posted = debits_posted + ?, credits_posted = credits_posted + ?",
        alike,
    )


# Helpers.


def _check_shape(r: TransferRequest, kinds: dict[str, AccountKind]) -> MkpError | None:
    """Why a request cannot be a transfer at all, or None; ``kinds`` gets its owners' kinds."""
    amount, debit, credit = r.amount, r.debit, r.credit  # read once: a batch checks every request
    if type(amount) is not int or not 0 < amount <= MAX_AMOUNT:
        return MkpError(
            "invalid_amount", f"amount must be a whole number from 1 to {MAX_AMOUNT}, got {amount!r}"
        )
    if r.kind not in TRANSFER_KINDS:
        return MkpError("invalid_kind", f"unknown transfer kind {r.kind!r}")
    if debit == credit:
        return MkpError("same_account", "a transfer needs two different accounts")
    if r.expires_at is not None and r.expires_at.tzinfo is None:
        return MkpError("invalid_expiry", "an expiry must be an aware datetime")
    try:
        if debit not in kinds:
            kinds[debit] = account_kind(debit)
        if credit not in kinds:
            kinds[credit] = account_kind(credit)
    except MkpError as e:
        return e
    return None


def _conflict(client_id: str) -> IdempotencyConflict:
    return IdempotencyConflict(
        "idempotency_conflict", f"client id {as_sent(client_id)} was already used for a different request"
    )


def _existing_point_codes(conn: Connection, codes: set[str], first: list[tuple[str, list[Any]]]) -> set[str]:
    """Those of ``codes`` that exist, asked straight through the driver: every batch asks, a single
    spend too, and SQLAlchemy's expanding IN cost 70 us a time on SQLite, the driver 7 us. The
    statements ``first`` go before, with the first question (PostgreSQL: one round trip)."""
    found: set[str] = set()
    for part in chunked(sorted(codes)):
        *_, rows = fetch_together(
            conn, [*first, ("SELECT code FROM point_codes WHERE code IN (?*)", list(part))]
        )
        found.update(r[0] for r in rows)
        first = []
    return found


_ACCOUNTS = "SELECT id, owner, point_code, debits_posted, credits_posted, floor FROM accounts WHERE "


def _lock_accounts(
    conn: Connection,
    pairs: set[_AccountKey],
    kinds: dict[str, AccountKind],
    after_lock: list[tuple[str, list[Any]]],
) -> tuple[dict[_AccountKey, _AccountState], list[list[tuple[Any, ...]]] | None]:
    """The accounts named by ``pairs``, locked (PostgreSQL: ``FOR UPDATE`` in id order, so two
    batches never wait on each other in a circle; SQLite's write transaction locks everything),
    and the rows of the reads ``after_lock``, made after the lock in the same round trip where
    the lock is one statement (else None: the caller makes them).

    Found by owner (the unique index leads with it), the owners' other point codes left out.
    On PostgreSQL a batch of up to ``IN_CHUNK`` accounts (every single request) is found and
    locked in one statement; a larger one is found first, then locked in id order a chunk at a time.
    """
    if is_postgres(conn) and len(pairs) <= IN_CHUNK:
        ordered = sorted(pairs)
        lock = (
            _ACCOUNTS + "(owner, point_code) IN (" + ", ".join(["(?, ?)"] * len(ordered)) + ") "
            "ORDER BY id FOR UPDATE",
            [value for pair in ordered for value in pair],
        )
        if after_lock and all(len(params) <= IN_CHUNK for _, params in after_lock):
            found, *read = fetch_together(conn, [lock, *after_lock])
            return _account_states(found, kinds), read
        return _account_states(fetch_raw(conn, *lock), kinds), None
    states: dict[_AccountKey, _AccountState] = {}
    if not is_postgres(conn):
        states = _remembered_accounts(conn, pairs, kinds)
        if states:
            pairs = pairs - states.keys()
    owners = sorted({owner for owner, _ in pairs})
    rows: list[tuple[Any, ...]] = []
    for part in chunked(owners):
        rows.extend(r for r in fetch_raw(conn, _ACCOUNTS + "owner IN (?*)", part) if (r[1], r[2]) in pairs)
    if is_postgres(conn):
        ids = sorted(r[0] for r in rows)
        rows = []
        for part_ids in chunked(ids):
            rows.extend(fetch_raw(conn, _ACCOUNTS + "id IN (?*) ORDER BY id FOR UPDATE", part_ids))
    else:
        known_accounts.remember(conn, [(r[0], r[1], r[2]) for r in rows])
    states.update(_account_states(rows, kinds))
    return states, None


def _remembered_accounts(
    conn: Connection, pairs: set[_AccountKey], kinds: dict[str, AccountKind]
) -> dict[_AccountKey, _AccountState]:
    """The accounts of ``pairs`` whose balance decides nothing and whose ids this process
    remembers, if they are all still there (``server.ledger.known_accounts``): their posted
    totals are not read, and stay 0 here (only the pending amounts are written back)."""
    ids = known_accounts.remembered(conn)
    if len(ids) < known_accounts.CHECK_FROM:
        return {}
    found: list[tuple[int, str, str]] = []
    states: dict[_AccountKey, _AccountState] = {}
    for pair in pairs:  # one pass: a large batch names a thousand accounts
        account_id = ids.get(pair)
        if account_id is None:
            continue
        owner = pair[0]
        kind = kinds[owner]
        if kind.name in _BALANCE_DECIDES:
            continue
        found.append((account_id, owner, pair[1]))
        states[pair] = _AccountState(account_id, owner, kind.may_go_negative, kind.holds_lots, None, 0, 0)
    if len(found) < known_accounts.CHECK_FROM or not known_accounts.still_there(conn, found):
        return {}
    return states


#: The account kinds (by name) whose debits are checked against their balance and floor: not a
#: wallet (its lots decide), nor an issuer without a floor (it may go negative).
_BALANCE_DECIDES = frozenset(
    k.name for k in ACCOUNT_KINDS.values() if k.has_floor or not (k.may_go_negative or k.holds_lots)
)


def _account_states(
    rows: list[tuple[Any, ...]], kinds: dict[str, AccountKind]
) -> dict[_AccountKey, _AccountState]:
    """The locked accounts' rows as the batch sees them."""
    states = {}
    for aid, owner, code, d, c, floor in rows:
        kind = kinds[owner]
        states[(owner, code)] = _AccountState(
            aid,
            owner,
            kind.may_go_negative,
            kind.holds_lots,
            None if floor is None else int(floor),
            int(d),
            int(c),
        )
    return states


_STORED_CLIENT_IDS = "SELECT client_id FROM transfers WHERE client_id IN (?*)"


def _open_lots_of(wallets: list[_AccountKey]) -> tuple[str, list[Any]]:
    """The read of the open lots of the ``wallets`` (owner, point code), as ``LotBook.load``
    reads those of their accounts' ids."""
    if not wallets:
        return LOTS + "false", []
    named = ", ".join(["(?, ?)"] * len(wallets))
    return (
        LOTS + f"account_id IN (SELECT id FROM accounts WHERE (owner, point_code) IN ({named})) "
        "AND remaining > 0",
        [value for pair in wallets for value in pair],
    )


def _stored_client_ids(conn: Connection, client_ids: set[str]) -> list[str]:
    """Those of ``client_ids`` that stored transfers have."""
    used: list[str] = []
    for part in chunked(sorted(client_ids)):
        used.extend(r[0] for r in fetch_raw(conn, _STORED_CLIENT_IDS, part))
    return used


def _transfers_by_client_id(
    conn: Connection, client_ids: set[str], used: list[str] | None
) -> dict[str, tuple[Transfer, str | None]]:
    """The transfers already made with any of ``client_ids`` (usually none: a cheap probe first,
    unless ``used`` already says which are stored)."""
    if used is None:
        used = _stored_client_ids(conn, client_ids)
    found: dict[str, tuple[Transfer, str | None]] = {}
    for part in chunked(used):
        found.update(
            (t.client_id, (t, h)) for t, h in _select_transfers(conn, transfers.c.client_id.in_(part))
        )
    return found


def _select_transfers(conn: Connection, condition: ColumnElement[bool]) -> list[tuple[Transfer, str | None]]:
    """Transfers as stored, each with its body hash (None: its row says the body, ``_same_body``)."""
    debit, credit = accounts.alias("debit"), accounts.alias("credit")
    rows = conn.execute(
        select(
            transfers.c.id,
            transfers.c.client_id,
            transfers.c.kind,
            transfers.c.point_code,
            debit.c.owner,
            credit.c.owner,
            transfers.c.amount,
            transfers.c.memo,
            transfers.c.reverses_id,
            transfers.c.created_at,
            lots.c.expires_at,
            transfers.c.body_hash,
        )
        .join(debit, debit.c.id == transfers.c.debit_account_id)
        .join(credit, credit.c.id == transfers.c.credit_account_id)
        .outerjoin(lots, lots.c.transfer_id == transfers.c.id)
        .where(condition)
        .order_by(transfers.c.id)
    )
    return [(Transfer(*fields), body_hash) for *fields, body_hash in rows]
