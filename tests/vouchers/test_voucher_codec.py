"""Voucher codec: signed QR text that fits the code, verified offline; every bad text refused clearly."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

import base45
import pytest
import qrcode
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mkp_core.errors import MkpError
from mkp_core.keyring import KeyRing, KeyRingError, RingKey, key_id_of
from mkp_core.voucher import (
    JST,
    MAX_TEXT_LENGTH,
    PREFIX,
    Voucher,
    VoucherError,
    decode_voucher,
    encode_voucher,
    format_serial,
    issue_voucher,
    parse_serial,
)

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
EXPIRES = datetime(2027, 3, 31, 15, 0, tzinfo=UTC)  # 2027-04-01 00:00 JST: good through 31 March
KEY = ed25519.Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
OTHER_KEY = ed25519.Ed25519PrivateKey.from_private_bytes(bytes(range(1, 33)))
RING = KeyRing([KEY.public_key()])
LONGEST_POINT_CODE = "142018-ABCDEFGHIJKLMNOP"  # 6 + 1 + 16: the longest a point code can be


def issue(**overrides) -> tuple[Voucher, str]:
    fields = {"point_code": "142018", "amount": 500, "expires": EXPIRES, "issued": NOW - timedelta(days=1)}
    return issue_voucher(overrides.pop("key", KEY), **{**fields, **overrides})


def _fixed(**overrides) -> tuple[Voucher, str]:
    """A voucher with a fixed serial: its text names test cases, the same in every xdist worker."""
    return issue(serial=bytes.fromhex("0123456789abcdef0123"), **overrides)


def code_of(text: str, ring: KeyRing = RING, now: datetime = NOW) -> str:
    with pytest.raises(VoucherError) as info:
        decode_voucher(text, ring, now=now)
    assert isinstance(info.value, MkpError)
    assert info.value.message and "\n" not in info.value.message
    return info.value.code


VOUCHER, TEXT = _fixed()


# --- the happy path ------------------------------------------------------------------------------


def test_a_voucher_decodes_to_what_was_issued():
    voucher = decode_voucher(TEXT, RING, now=NOW)
    assert voucher == VOUCHER
    assert (voucher.point_code, voucher.amount, voucher.key_id) == (
        "142018",
        500,
        key_id_of(KEY.public_key()),
    )
    assert voucher.expires == EXPIRES and voucher.issued == NOW - timedelta(days=1)
    assert TEXT.startswith(PREFIX) and re.fullmatch(r"MKP1:[0-9A-Z $%*+\-./:]+", TEXT)


def test_the_text_as_bytes_decodes_too():
    assert decode_voucher(TEXT.encode(), RING, now=NOW) == VOUCHER


def test_serials_are_random_and_printed_in_groups():
    serials = {issue()[0].serial for _ in range(50)}
    assert len(serials) == 50
    assert re.fullmatch(r"[0-9A-HJKMNP-TV-Z]{4}(-[0-9A-HJKMNP-TV-Z]{4}){3}", VOUCHER.serial_text)


def test_a_serial_is_read_back_as_people_type_it():
    text = format_serial(bytes.fromhex("00" * 9 + "21"))
    assert text == "0000-0000-0000-0011"
    assert parse_serial("oooo oooo-OOOO 00iL") == bytes.fromhex("00" * 9 + "21")
    assert parse_serial(VOUCHER.serial_text.lower()) == VOUCHER.serial


@pytest.mark.parametrize(
    "typed", ["", "ABCD-EFGH", "ABCD-EFGH-JKMN-PQRS-TVWX", "ABCD-EFGH-JKMN-PQRU", "ÀBCD-EFGH-JKMN-PQRS"]
)
def test_a_serial_that_is_not_one_is_refused(typed):
    with pytest.raises(VoucherError) as info:
        parse_serial(typed)
    assert info.value.code == "invalid_voucher_serial"


def test_the_last_valid_day_is_in_japan():
    assert VOUCHER.last_valid_day == date(2027, 3, 31)
    assert VOUCHER.expires.astimezone(JST).hour == 0


@pytest.mark.parametrize("point_code", ["142018", LONGEST_POINT_CODE])
def test_the_qr_code_fits_version_10_at_error_correction_q(point_code):
    _, text = issue(point_code=point_code, amount=1_000_000_000)
    assert len(text) <= MAX_TEXT_LENGTH
    qr = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_Q)
    qr.add_data(text)
    qr.make(fit=True)
    assert qr.version <= 10
    assert [segment.mode for segment in qr.data_list] == [qrcode.util.MODE_ALPHA_NUM]


@pytest.mark.parametrize(
    "data, text",
    [(b"AB", "BB8"), (b"Hello!!", "%69 VD92EX0"), (b"base-45", "UJCLQE7W581"), (b"ietf!", "QED8WEX0")],
)
def test_base45_is_rfc_9285(data, text):
    assert base45.b45encode(data).decode() == text
    assert base45.b45decode(text) == data


def test_base45_refuses_what_rfc_9285_refuses():
    with pytest.raises(ValueError):
        base45.b45decode("GGW")  # 65536: one more than two bytes hold


# --- time and keys -------------------------------------------------------------------------------


def test_expiry_is_the_instant_it_names():
    assert decode_voucher(TEXT, RING, now=EXPIRES - timedelta(seconds=1)) == VOUCHER
    with pytest.raises(VoucherError) as info:
        decode_voucher(TEXT, RING, now=EXPIRES)
    assert info.value.code == "voucher_expired"
    assert info.value.voucher == VOUCHER
    assert "2027-03-31" in info.value.message and VOUCHER.serial_text in info.value.message


def test_a_voucher_from_the_future_is_not_yet_valid_beyond_the_clock_leeway():
    issued = VOUCHER.issued
    assert decode_voucher(TEXT, RING, now=issued - timedelta(minutes=4)) == VOUCHER
    assert code_of(TEXT, now=issued - timedelta(minutes=6)) == "voucher_not_yet_valid"


def test_an_unknown_key_says_to_refresh_the_trust_list():
    ring = KeyRing([OTHER_KEY.public_key()])
    assert code_of(TEXT, ring) == "voucher_unknown_key"
    assert code_of(TEXT, KeyRing()) == "voucher_unknown_key"


def test_rotation_keeps_old_vouchers_good_until_they_expire():
    rotated_at = NOW - timedelta(hours=1)
    ring = RING.rotated(OTHER_KEY.public_key(), at=rotated_at)
    assert decode_voucher(TEXT, ring, now=NOW) == VOUCHER  # issued a day before the rotation
    fresh, fresh_text = issue(key=OTHER_KEY, issued=NOW)
    assert decode_voucher(fresh_text, ring, now=NOW) == fresh
    _, late_text = issue(issued=rotated_at)  # the old key, signing after it was retired
    assert code_of(late_text, ring) == "voucher_key_retired"
    assert code_of(TEXT, ring, now=EXPIRES) == "voucher_expired"


def test_a_withdrawn_key_verifies_nothing():
    ring = RING.withdrawing(VOUCHER.key_id)
    assert code_of(TEXT, ring) == "voucher_key_withdrawn"
    assert code_of(TEXT, KeyRing(withdrawn=[VOUCHER.key_id])) == "voucher_key_withdrawn"


def test_a_voucher_cannot_name_a_key_that_does_not_sign_it():
    stranger = Voucher(
        VOUCHER.serial, "142018", 500, VOUCHER.issued, EXPIRES, key_id_of(OTHER_KEY.public_key())
    )
    with pytest.raises(VoucherError) as info:
        encode_voucher(stranger, KEY)
    assert info.value.code == "voucher_malformed"


def test_the_key_ring_travels_as_json():
    ring = RING.rotated(OTHER_KEY.public_key(), at=NOW).withdrawing("0badc0de")
    again = KeyRing.from_json(ring.to_json())
    assert [(k.key_id, k.retired) for k in again] == [(k.key_id, k.retired) for k in ring]
    assert again.withdrawn == {"0badc0de"}
    assert decode_voucher(TEXT, again, now=NOW) == VOUCHER


def _pem(key) -> str:
    return key.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo).decode()


@pytest.mark.parametrize(
    "doc",
    [
        "not json",
        "[]",
        '{"keys": {}}',
        '{"keys": [], "extra": 1}',
        '{"keys": [{"key_id": "00000000"}]}',
        '{"keys": [{"key_id": "00000000", "public_key": "garbage"}]}',
        '{"withdrawn": [1]}',
    ],
)
def test_a_bad_key_ring_is_refused_in_one_line(doc):
    with pytest.raises(KeyRingError) as info:
        KeyRing.from_json(doc)
    assert info.value.code == "bad_key_ring"


def test_a_ring_refuses_a_key_id_that_is_not_its_keys_or_a_key_that_is_not_ed25519():
    entry = {"key_id": "00000000", "public_key": _pem(KEY.public_key()), "retired": None}
    with pytest.raises(KeyRingError, match="not the id of its key"):
        KeyRing.from_dict({"keys": [entry]})
    p256 = ec.generate_private_key(ec.SECP256R1()).public_key()
    with pytest.raises(KeyRingError, match="Ed25519"):
        KeyRing.from_dict({"keys": [{**entry, "public_key": _pem(p256)}]})
    with pytest.raises(KeyRingError, match="aware"):
        KeyRing([RingKey(KEY.public_key(), retired=datetime(2027, 1, 1))])


# --- bad input: each gets its own code, never a crash --------------------------------------------

BODY = TEXT[len(PREFIX) :]


def _flip_byte(text: str, index: int) -> str:
    payload = bytearray(base45.b45decode(text[len(PREFIX) :]))
    payload[index] ^= 0x01
    return PREFIX + base45.b45encode(bytes(payload)).decode()


@pytest.mark.parametrize(
    "text, code",
    [
        ("", "not_a_voucher"),
        ("https://example.jp/voucher/123", "not_a_voucher"),
        ("ABCD-EFGH-JKMN-PQRS", "not_a_voucher"),
        ("MKP" + BODY, "not_a_voucher"),
        ("MKP2:" + BODY, "voucher_version"),
        ("MKP10:" + BODY, "voucher_version"),
        ("mkp1:" + BODY, "voucher_lowercase"),
        (PREFIX + BODY.lower(), "voucher_lowercase"),
        (TEXT + "\n", "voucher_whitespace"),
        (TEXT + "\r\n", "voucher_whitespace"),
        (" " + TEXT, "voucher_whitespace"),
        (TEXT + " ", "voucher_whitespace"),
        (TEXT[:60] + "\t" + TEXT[60:], "voucher_whitespace"),
        (TEXT[:60] + "\n" + TEXT[60:], "voucher_whitespace"),
        ("X" * 10_000, "voucher_too_long"),
        (TEXT + "00", "voucher_too_long"),
        (TEXT + "000", "voucher_too_long"),
        (TEXT[:-3], "voucher_truncated"),
        (TEXT[:20], "voucher_truncated"),
        (PREFIX, "voucher_truncated"),
        (TEXT[:40] + "é" + TEXT[41:], "voucher_encoding"),
        (TEXT[:40] + "#" + TEXT[41:], "voucher_encoding"),
        (PREFIX + "GGW" + BODY[3:], "voucher_encoding"),
        (_flip_byte(TEXT, 0), "voucher_version"),
        (_flip_byte(TEXT, 2), "voucher_unknown_key"),
        (_flip_byte(TEXT, 10), "voucher_bad_signature"),  # the serial
        (_flip_byte(TEXT, 26), "voucher_bad_signature"),  # the amount
        (_flip_byte(TEXT, 22), "voucher_bad_signature"),  # the expiry
        (_flip_byte(TEXT, 30), "voucher_bad_signature"),  # the point code
        (_flip_byte(TEXT, -1), "voucher_bad_signature"),  # the signature
    ],
)
def test_bad_text_gets_a_clear_code(text, code):
    assert code_of(text) == code


def test_junk_bytes_are_refused():
    assert code_of(b"\xff" * 10_000) == "voucher_too_long"
    assert code_of(b"MKP1:\xff\xfe") == "voucher_encoding"


def test_every_truncation_is_truncated():
    for cut in range(len(PREFIX), len(TEXT)):
        assert code_of(TEXT[:cut]) == "voucher_truncated", cut


def test_every_single_character_change_is_refused():
    alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"
    codes = set()
    for i in range(len(PREFIX), len(TEXT)):
        other = alphabet[(alphabet.index(TEXT[i]) + 7) % len(alphabet)]
        codes.add(code_of(TEXT[:i] + other + TEXT[i + 1 :]))
    assert "voucher_bad_signature" in codes
    assert codes <= {
        "voucher_bad_signature",
        "voucher_encoding",
        "voucher_version",
        "voucher_unknown_key",
        "voucher_malformed",
        "voucher_truncated",
        "voucher_too_long",
        "voucher_whitespace",
    }


def test_a_signed_voucher_with_bad_fields_is_still_refused():
    # A payload that the key signed but that breaks the field rules (amount 0): refused after the
    # signature, never returned as a voucher.
    from mkp_core.voucher import _CONTEXT, _HEADER

    header = _HEADER.pack(1, bytes.fromhex(VOUCHER.key_id), VOUCHER.serial, 1, 2**31, 0, 6) + b"142018"
    text = PREFIX + base45.b45encode(header + KEY.sign(_CONTEXT + header)).decode()
    assert code_of(text) == "voucher_malformed"


@pytest.mark.parametrize(
    "fields, needle",
    [
        ({"amount": 0}, "amount"),
        ({"amount": -5}, "amount"),
        ({"amount": True}, "amount"),
        ({"amount": 500.0}, "amount"),
        ({"amount": 1_000_000_001}, "amount"),
        ({"point_code": "142019"}, "check digit"),
        ({"point_code": "142018-fest"}, "point code"),
        ({"expires": NOW - timedelta(days=1)}, "not after"),
        ({"expires": datetime(2027, 3, 31)}, "naive"),
        ({"expires": datetime(2200, 1, 1, tzinfo=UTC)}, "2106"),
        ({"serial": b"short"}, "serial"),
    ],
)
def test_issuing_refuses_bad_fields(fields, needle):
    with pytest.raises(VoucherError, match=needle) as info:
        issue(**fields)
    assert info.value.code == "voucher_malformed"


# --- fuzzing -------------------------------------------------------------------------------------
# A hundred examples of each kind in the fast set; the whole suite fuzzes at length (slow).

FAST = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
AT_LENGTH = settings(max_examples=5000, deadline=None, suppress_health_check=[HealthCheck.too_slow])

ANY_TEXT = st.text(max_size=400)
ANY_PAYLOAD = st.binary(max_size=130).map(lambda payload: PREFIX + base45.b45encode(payload).decode())
CHANGED = st.builds(
    lambda start, stop, replacement: TEXT[:start] + replacement + TEXT[max(start, stop) :],
    st.integers(0, len(TEXT) - 1),
    st.integers(0, len(TEXT)),
    st.text(alphabet="0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:\n\té", max_size=5),
)


def _refused_or_unchanged(text: str) -> None:
    """Decoding ``text`` either gives the one voucher that was issued or a VoucherError: nothing else."""
    try:
        assert decode_voucher(text, RING, now=NOW) == VOUCHER
    except VoucherError:
        return
    assert text == TEXT


@FAST
@given(ANY_TEXT)
def test_fuzz_any_text_is_refused_with_a_voucher_error(text):
    _refused_or_unchanged(text)


@FAST
@given(ANY_PAYLOAD)
def test_fuzz_any_payload_behind_the_prefix_is_refused(text):
    _refused_or_unchanged(text)


@FAST
@given(CHANGED)
def test_fuzz_a_changed_voucher_is_refused_or_unchanged(text):
    _refused_or_unchanged(text)


@pytest.mark.slow
@AT_LENGTH
@given(st.one_of(ANY_TEXT, ANY_PAYLOAD, CHANGED))
def test_fuzz_at_length(text):
    _refused_or_unchanged(text)
