"""The offline entry format (mkp_core.offline): version 1 card spends and version 2 voucher entries
side by side, each verifying only as its terminal signed it, every malformed one a clear EntryError."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from mkp_core import offline, signing
from mkp_core.offline import EntryError, VoucherRedemption

KEY = signing.generate_terminal_key()
AT = datetime(2026, 12, 7, 3, 0, tzinfo=UTC)


def _redemption(**changes: object) -> VoucherRedemption:
    fields: dict[str, object] = {
        "terminal": "t1234567890ab",
        "seq": 7,
        "client_id": "t1234567890ab-1",
        "place": "yokosuka-shop",
        "at": AT,
        "voucher": "MKP1:" + "A" * 150,
    }
    return VoucherRedemption(**{**fields, **changes})  # type: ignore[arg-type]


def test_a_voucher_entry_opens_as_it_was_sealed():
    entry = offline.seal_voucher(KEY, _redemption())
    assert (entry["version"], entry["kind"], offline.kind_of(entry)) == (2, "voucher", "voucher")
    assert offline.open_voucher_entry(entry, KEY.public_key()) == _redemption()
    assert offline.client_id_of(entry) == "t1234567890ab-1"


def test_a_version_1_entry_is_a_card_spend():
    v1 = {"transaction": {"client_id": "c-000001"}, "proof": {}, "terminal_signature": ""}
    assert offline.kind_of(v1) == "spend" and offline.client_id_of(v1) == "c-000001"
    with pytest.raises(EntryError):
        offline.open_voucher_entry(v1, KEY.public_key())


@pytest.mark.parametrize(
    "field, value",
    [("seq", 8), ("place", "yokosuka-museum"), ("at", "2026-12-07T02:00:00+00:00"), ("voucher", "MKP1:B")],
)
def test_any_field_changed_after_sealing_fails_the_signature(field, value):
    entry = offline.seal_voucher(KEY, _redemption())
    changed = {**entry, "body": {**entry["body"], field: value}}
    with pytest.raises(EntryError, match="does not verify"):
        offline.open_voucher_entry(changed, KEY.public_key())
    with pytest.raises(EntryError, match="does not verify"):  # another terminal's key
        offline.open_voucher_entry(entry, signing.generate_terminal_key().public_key())


@pytest.mark.parametrize(
    "entry",
    [
        None,
        [],
        {"version": 3, "kind": "voucher"},
        {"version": 2, "kind": "spend"},
        {"version": 2, "kind": "voucher"},
        {"version": 2, "kind": "voucher", "body": "x"},
        {"version": 2, "kind": "voucher", "body": {"seq": -1}},
        {"version": 1, "kind": "voucher"},
    ],
)
def test_malformed_entries_are_refused_clearly(entry):
    with pytest.raises(EntryError):
        offline.open_voucher_entry(entry, KEY.public_key())


def test_bad_fields_are_refused():
    good = offline.seal_voucher(KEY, _redemption())
    for body in (
        {**good["body"], "at": "2026-12-07T03:00:00"},  # naive
        {**good["body"], "voucher": "M" * 401},
        {**good["body"], "voucher": 5},
        {**good["body"], "seq": True},
    ):
        with pytest.raises(EntryError):
            offline.open_voucher_entry({**good, "body": body}, KEY.public_key())
    with pytest.raises(EntryError, match="unreadable"):
        offline.open_voucher_entry({**good, "terminal_signature": "%%%"}, KEY.public_key())
