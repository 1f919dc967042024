"""Request and response schemas of paper vouchers.

Only the server imports these; what the agent or mkp-admin also reads stays in ``mkp_core.wire``,
with the field types every schema is built from.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import Field

from mkp_core.wire import (
    Amount,
    CardProofBody,
    ClientId,
    DepartmentId,
    IsoDate,
    IssuedVoucher,
    Out,
    PlaceId,
    PlainText,
    PointCode,
    Serials,
    Strict,
    VoidReason,
    VoucherCount,
    VoucherKeyId,
    VoucherSerial,
    VoucherText,
)


class VoucherBatchCreate(Strict):
    """``count`` vouchers of ``amount`` points from the municipality's account (or a department's),
    good through ``last_day`` (default: as the code's rule would expire points credited now)."""

    client_id: ClientId
    point_code: PointCode
    amount: Amount
    count: VoucherCount = 1
    department: DepartmentId | None = None
    last_day: IsoDate | None = None


class VoucherBatch(Out):
    batch: str
    point_code: str
    amount: int
    count: int
    total: int
    source: str
    key_id: str
    municipality_name: str
    point_name: str
    places: list[str]
    vouchers: list[IssuedVoucher]
    replaces: str | None = None
    # True when this is the stored answer to a retry (same client id): the texts are not in it.
    replayed: bool = False


class VoucherSerials(Strict):
    client_id: ClientId
    serials: Serials


class VoucherVoid(Strict):
    client_id: ClientId
    serials: Serials
    reason: VoidReason = "operator"


class VoucherPath(Strict):
    serial: VoucherSerial


class VoucherPrinted(Out):
    printed: int
    serials: list[str]


class VoucherVoided(Out):
    voided: int
    points_returned: int
    serials: list[str]


class VoucherInfo(Out):
    serial: str
    point_code: str
    amount: int
    status: str
    issued_at: datetime
    expires_at: datetime
    last_day: str
    key_id: str
    batch: str | None = None
    printed_at: datetime | None = None
    voided_at: datetime | None = None
    void_reason: str | None = None
    replaced_by: str | None = None
    redeemed_at: datetime | None = None
    redeemed_place: str | None = None
    redeemed_place_name: str | None = None


class VoucherRedeem(Strict):
    """A voucher shown at this terminal's place: its scanned text (or the serial, typed)."""

    client_id: ClientId
    voucher: VoucherText | None = None
    serial: VoucherSerial | None = None


class VoucherRedeemed(Out):
    serial: str
    point_code: str
    amount: int
    place: str
    place_name: str
    redeemed_at: datetime
    transfer_id: int


class TerminalVoucherIssue(Strict):
    """The card holder turns ``amount`` of their points into a voucher printed here."""

    client_id: ClientId
    amount: Amount
    point_code: PointCode | None = None
    proof: CardProofBody


class VoucherKey(Out):
    key_id: str
    status: str  # signing | retired | withdrawn
    valid_from: datetime
    retired_at: datetime | None = None
    withdrawn_at: datetime | None = None
    withdraw_reason: str | None = None
    # On withdrawal: its vouchers still unused, and their points (void them: void-unused).
    outstanding: int | None = None
    outstanding_points: int | None = None


class VoucherKeyVoided(Out):
    """A withdrawn key's unused vouchers, voided: their points went back where they came from."""

    key_id: str
    voided: int
    points_returned: int
    serials: list[str]  # to reprint when their holders bring them (mkp-admin voucher reprint)


class VoucherKeyList(Out):
    keys: list[VoucherKey]


class VoucherKeyPath(Strict):
    key_id: VoucherKeyId


class VoucherKeyWithdraw(Strict):
    client_id: ClientId
    reason: Annotated[str, Field(min_length=1, max_length=200), PlainText] | None = None


class PhoneLinkCreate(Strict):
    client_id: ClientId
    place: PlaceId


class PhoneLinksRevoked(Out):
    place: str
    place_name: str
    revoked: int


class PhoneLink(Out):
    place: str
    place_name: str
    token: str | None = None  # shown once; a retry gets none
    path: str | None = None
