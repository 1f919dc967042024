"""An offline spend as it travels from the counter's queue to the ledger, and how both ends check it.

When the server cannot be reached, the counter still takes a spend within its offline limits:
the card signs the transaction itself (there is no server challenge: the transaction's client id
stands in for it, and the ledger takes a client id once), and the terminal signs the whole entry
with its own key, so the server can tell, entry by entry and however late, that this terminal
took this card's consent to exactly this transaction. The entry's fields are strings and whole
numbers only, serialised canonically, so both ends sign and verify the same bytes.

**Two versions, one queue.** Version 1 (domain ``mkp-offline-entry/1``, no ``version`` field) is a
card spend: ``{"transaction", "proof", "terminal_signature"}``; entries queued before version 2
existed still verify, byte for byte. Version 2 (domain ``mkp-offline-entry/2``) names its
``kind`` and carries a ``body`` of that kind: ``{"version": 2, "kind": "voucher", "body": {...},
"terminal_signature"}``, the terminal signing ``{"domain", "kind", "body"}``. The first kind is a
paper voucher accepted offline (:class:`VoucherRedemption`): no card is involved, the voucher's
own signature (checked against the trust list's voucher keys) is its proof, and the terminal's
signature says this terminal took it at this place at this moment. :func:`kind_of` tells an
entry's kind before it is opened.

**Every field fits where the server keeps it.** A signature says who wrote an entry, not that it
is sane: a terminal's key can sign a sequence number past 2^63, an item longer than its column, a
NUL, or a time in year 1 (which PostgreSQL, shifted to UTC, kept as 1 BC). Reading an entry
refuses such a field with :class:`EntryError` naming it, so that entry alone is refused and kept
as an exception, and nothing unstorable reaches the database. Whether a sane time is *plausible*
(after the terminal's last contact, before the sync) is the server's to judge.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from mkp_core import cardproof, ids
from mkp_core.cardproof import CardProof, CardProofError
from mkp_core.errors import FixedCodeError

#: Domain of the terminal's signature over an entry (version 1: a card spend).
DOMAIN = "mkp-offline-entry/1"
#: Domain of version 2 entries, which name their kind.
DOMAIN_V2 = "mkp-offline-entry/2"
SPEND, VOUCHER = "spend", "voucher"
KINDS = (SPEND, VOUCHER)
#: A voucher's QR text is at most a few hundred characters (the codec refuses longer ones itself).
MAX_VOUCHER_TEXT = 400
#: Largest sequence number (the server keeps it in a signed 64-bit column, and adds to nothing).
MAX_SEQ = 2**62
#: Largest quantity of an item (as an online spend allows).
MAX_QUANTITY = 100
#: Longest text of each field, as the server's columns keep it.
MAX_TERMINAL, MAX_PLACE, MAX_ITEM, MAX_POINT_CODE = 16, 40, 32, 24
#: Times an entry may name at all, in UTC (both ends of the calendar are refused: one hour either
#: way would leave it, and PostgreSQL keeps year 1 shifted to UTC as 1 BC).
EARLIEST, LATEST = datetime(1970, 1, 1, tzinfo=UTC), datetime(9000, 1, 1, tzinfo=UTC)


class EntryError(FixedCodeError):
    """An offline entry that cannot be read or whose terminal signature does not verify."""

    code = "invalid_entry"


@dataclass(frozen=True)
class Transaction:
    """What was taken offline, as the card consented to it."""

    terminal: str
    seq: int
    client_id: str
    place: str
    at: datetime  # when the card was tapped (the terminal's clock, UTC)
    amount: int | None
    item: str | None = None
    quantity: int = 1
    point_code: str | None = None

    def action(self) -> dict[str, str]:
        """What the card signs (with the client id as its challenge)."""
        return {
            **cardproof.spend_action(
                self.client_id, self.place, self.amount, self.item, self.quantity, self.point_code
            ),
            "terminal": self.terminal,
            "seq": str(self.seq),
            "at": self.at.isoformat(),
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "terminal": self.terminal,
            "seq": self.seq,
            "client_id": self.client_id,
            "place": self.place,
            "at": self.at.isoformat(),
            "amount": self.amount,
            "item": self.item,
            "quantity": self.quantity,
            "point_code": self.point_code,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Transaction:
        if not isinstance(data, Mapping):
            raise EntryError("not an offline transaction: a transaction is an object")
        try:
            amount = data.get("amount")
            return cls(
                terminal=_text("terminal", data["terminal"], MAX_TERMINAL),
                seq=_whole("seq", data["seq"], 0, MAX_SEQ),
                client_id=_client_id(data["client_id"]),
                place=_text("place", data["place"], MAX_PLACE),
                at=_time(data["at"]),
                amount=None if amount is None else _whole("amount", amount, 1, ids.MAX_AMOUNT),
                item=None if data.get("item") is None else _text("item", data["item"], MAX_ITEM),
                quantity=_whole("quantity", data.get("quantity", 1), 1, MAX_QUANTITY),
                point_code=None
                if data.get("point_code") is None
                else _text("point_code", data["point_code"], MAX_POINT_CODE),
            )
        except KeyError as e:
            raise EntryError(f"not an offline transaction: {e} is missing") from None
        except (TypeError, ValueError) as e:
            raise EntryError(f"not an offline transaction: {e}") from None


def _client_id(value: object) -> str:
    """A client id by the one rule every mutation's id follows (``mkp_core.ids``): the ledger and
    the idempotency records keep nothing longer or odder, whoever signed it."""
    if not isinstance(value, str) or not ids.CLIENT_ID_RE.fullmatch(value):
        raise ValueError(f"{value!r} is not a client id (8-64 of A-Z a-z 0-9 . _ : -)")
    return value


def _text(field: str, value: object, longest: int) -> str:
    """A short printable text: no control characters (a NUL cannot even be stored), no lone
    surrogates (not UTF-8), at most ``longest`` characters (its column's width)."""
    if not isinstance(value, str) or not value or len(value) > longest:
        raise ValueError(f"{field} must be a text of 1 to {longest} characters")
    if not _printable(value):
        raise ValueError(f"{field} must not contain control characters")
    return value


def _printable(value: str) -> bool:
    return not any(ord(ch) < 0x20 or 0x7F <= ord(ch) < 0xA0 or 0xD800 <= ord(ch) < 0xE000 for ch in value)


def _whole(field: str, value: object, least: int, most: int) -> int:
    if type(value) is not int or not least <= value <= most:
        raise ValueError(f"{field} must be a whole number from {least} to {most}")
    return value


def _time(value: object) -> datetime:
    """An ISO 8601 time with its offset, between :data:`EARLIEST` and :data:`LATEST` once in UTC.
    It is kept as written (the signatures cover its text); the server compares it in UTC."""
    if not isinstance(value, str) or len(value) > 40:
        raise ValueError("at must be an ISO 8601 time")
    try:
        at = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"at is not an ISO 8601 time: {value!r}") from None
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError("at must say its offset from UTC (a naive time)")
    try:
        utc = at.astimezone(UTC)
    except OverflowError:
        utc = None
    if utc is None or not EARLIEST <= utc < LATEST:
        raise ValueError(f"at is out of range: {value!r} (from {EARLIEST:%Y} to {LATEST:%Y})")
    return at


def _signed_bytes(transaction: Transaction, proof: CardProof) -> bytes:
    document = {"domain": DOMAIN, "transaction": transaction.to_dict(), "proof": proof.to_wire()}
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def seal(key: ec.EllipticCurvePrivateKey, transaction: Transaction, proof: CardProof) -> dict[str, Any]:
    """The entry as it is queued and sent: transaction, card proof, the terminal's signature."""
    signature = key.sign(_signed_bytes(transaction, proof), ec.ECDSA(hashes.SHA256()))
    return {
        "transaction": transaction.to_dict(),
        "proof": proof.to_wire(),
        "terminal_signature": base64.b64encode(signature).decode(),
    }


def open_entry(
    entry: Mapping[str, Any], terminal_key: ec.EllipticCurvePublicKey
) -> tuple[Transaction, CardProof]:
    """Read an entry and check the terminal's signature over it; :class:`EntryError` if it fails.

    The card's signature is checked by whoever trusts the card (``proof.verifies(OFFLINE_SPEND,
    transaction.action())``) once the certificate itself is checked.
    """
    if not isinstance(entry, Mapping):
        raise EntryError("an entry is an object")
    transaction = Transaction.from_dict(entry.get("transaction") or {})
    wire_proof = entry.get("proof") or {}
    if not isinstance(wire_proof, Mapping):
        raise EntryError("the entry's card proof is an object")
    try:
        proof = CardProof.from_wire(wire_proof)
        signature = base64.b64decode(str(entry.get("terminal_signature", "")), validate=True)
    except (CardProofError, binascii.Error, ValueError) as e:
        raise EntryError(f"the entry's proof or signature is unreadable: {e}") from None
    if proof.challenge != transaction.client_id:
        raise EntryError("the card's proof answers another transaction")
    try:
        terminal_key.verify(signature, _signed_bytes(transaction, proof), ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        raise EntryError("the terminal's signature over the entry does not verify") from None
    return transaction, proof


# --- version 2: entries that name their kind -------------------------------------------------------


@dataclass(frozen=True)
class VoucherRedemption:
    """A paper voucher this terminal accepted while the server could not be reached."""

    terminal: str
    seq: int
    client_id: str
    place: str
    at: datetime  # when the voucher was scanned (the terminal's clock, UTC)
    voucher: str  # its QR text as scanned (MKP1:...): the server verifies it again

    def to_dict(self) -> dict[str, Any]:
        return {
            "terminal": self.terminal,
            "seq": self.seq,
            "client_id": self.client_id,
            "place": self.place,
            "at": self.at.isoformat(),
            "voucher": self.voucher,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> VoucherRedemption:
        if not isinstance(data, Mapping):
            raise EntryError("not an offline voucher redemption: its body is an object")
        try:
            return cls(
                terminal=_text("terminal", data["terminal"], MAX_TERMINAL),
                seq=_whole("seq", data["seq"], 0, MAX_SEQ),
                client_id=_client_id(data["client_id"]),
                place=_text("place", data["place"], MAX_PLACE),
                at=_time(data["at"]),
                voucher=_text("voucher", data["voucher"], MAX_VOUCHER_TEXT),
            )
        except KeyError as e:
            raise EntryError(f"not an offline voucher redemption: {e} is missing") from None
        except (TypeError, ValueError) as e:
            raise EntryError(f"not an offline voucher redemption: {e}") from None


def kind_of(entry: Any) -> str:
    """``spend`` (a version 1 entry) or the kind a version 2 entry names; :class:`EntryError` else."""
    if not isinstance(entry, Mapping):
        raise EntryError("an entry is an object")
    version = entry.get("version", 1)
    if version == 1 and "kind" not in entry:
        return SPEND
    if version != 2 or entry.get("kind") not in KINDS[1:]:
        raise EntryError(f"unknown entry version {version!r} or kind {entry.get('kind')!r}")
    return str(entry["kind"])


def _signed_bytes_v2(kind: str, body: Mapping[str, Any]) -> bytes:
    document = {"domain": DOMAIN_V2, "kind": kind, "body": dict(body)}
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def seal_voucher(key: ec.EllipticCurvePrivateKey, redemption: VoucherRedemption) -> dict[str, Any]:
    """A voucher redemption as it is queued and sent (version 2, kind ``voucher``)."""
    body = redemption.to_dict()
    signature = key.sign(_signed_bytes_v2(VOUCHER, body), ec.ECDSA(hashes.SHA256()))
    return {
        "version": 2,
        "kind": VOUCHER,
        "body": body,
        "terminal_signature": base64.b64encode(signature).decode(),
    }


def open_voucher_entry(entry: Any, terminal_key: ec.EllipticCurvePublicKey) -> VoucherRedemption:
    """Read a voucher entry and check the terminal's signature over it; :class:`EntryError` if it fails."""
    if kind_of(entry) != VOUCHER:
        raise EntryError("not a voucher entry")
    body = entry.get("body")
    if not isinstance(body, Mapping):
        raise EntryError("a voucher entry's body is an object")
    redemption = VoucherRedemption.from_dict(body)
    try:
        signature = base64.b64decode(str(entry.get("terminal_signature", "")), validate=True)
        signed = _signed_bytes_v2(VOUCHER, redemption.to_dict())  # what is used is what was signed
        terminal_key.verify(signature, signed, ec.ECDSA(hashes.SHA256()))
    except (binascii.Error, ValueError):
        raise EntryError("the entry's signature is unreadable") from None
    except InvalidSignature:
        raise EntryError("the terminal's signature over the entry does not verify") from None
    return redemption


def client_id_of(entry: Any) -> str | None:
    """The entry's client id if it can be read at all, whatever its kind (None: garbled)."""
    if not isinstance(entry, Mapping):
        return None
    inner = entry.get("body") if entry.get("version") == 2 else entry.get("transaction")
    value = inner.get("client_id") if isinstance(inner, Mapping) else None
    if isinstance(value, str) and ids.CLIENT_ID_RE.fullmatch(value):
        return value
    return None
