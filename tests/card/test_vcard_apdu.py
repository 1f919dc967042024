"""The virtual card's APDU state machine, without any I/O: status words as a real JPKI card's."""

from __future__ import annotations

import copy
import hashlib

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding

from drivers.card.virtual.ca import TestCA
from drivers.card.virtual.card import CERT_EF_SIZE, JPKI_AID, NonJpkiCard, VirtualMyNumberCard
from drivers.card.virtual.cardfile import new_card

SELECT_JPKI = "00A4040C0A" + JPKI_AID.hex()
DIGESTINFO = bytes.fromhex("3031300d060960864801650304020105000420")


@pytest.fixture(scope="module")
def card_data(test_ca: TestCA):
    return new_card(test_ca, pin="4321")


@pytest.fixture
def card(card_data) -> VirtualMyNumberCard:
    c = VirtualMyNumberCard(copy.deepcopy(card_data))
    c.power_on()
    return c


def tx(card, hexapdu: str) -> tuple[bytes, str]:
    resp = card.process(bytes.fromhex(hexapdu.replace(" ", "")))
    return resp[:-2], resp[-2:].hex().upper()


def in_ap(card, ef: str) -> None:
    assert tx(card, SELECT_JPKI)[1] == "9000"
    assert tx(card, "00A4020C02" + ef)[1] == "9000"


def test_atr_is_the_contact_atr_of_a_my_number_card(card):
    assert card.atr.hex().upper() == "3BE000FF8131FE4514"


def test_token_info_names_the_jpki_application(card):
    in_ap(card, "0006")
    data, sw = tx(card, "00B0000020")
    assert sw == "9000" and data.startswith(b"JPKIAPICCTOKEN2")


def test_certificate_is_read_in_chunks_and_followed_by_filler(card, card_data):
    in_ap(card, "000A")
    out = b""
    while len(out) < CERT_EF_SIZE:
        data, sw = tx(card, f"00B0{len(out):04X}00")
        assert sw in ("9000", "6282")
        out += data
    der = card_data.auth_certificate
    assert out[: len(der)] == der
    assert set(out[len(der) :]) == {0xFF}
    x509.load_der_x509_certificate(der)  # a real certificate, length from its DER header


def test_ca_certificate_readable_without_pin(card, card_data):
    in_ap(card, "000B")
    data, sw = tx(card, "00B0000004")
    assert sw == "9000" and data == card_data.ca_certificate[:4]


def test_read_past_end_is_6b00(card):
    in_ap(card, "000A")
    assert tx(card, f"00B0{CERT_EF_SIZE:04X}10")[1] == "6B00"


def test_unknown_file_is_6a82_and_unknown_aid_is_6a82(card):
    assert tx(card, SELECT_JPKI)[1] == "9000"
    assert tx(card, "00A4020C021234")[1] == "6A82"
    assert tx(card, "00A4040C07A0000000031010")[1] == "6A82"


def test_ef_cannot_be_selected_before_the_application(card):
    assert tx(card, "00A4020C02000A")[1] == "6A82"


def test_wrong_p1_p2_is_6a86(card):
    assert tx(card, "00A404000A" + JPKI_AID.hex())[1] == "6A86"
    assert tx(card, SELECT_JPKI)[1] == "9000"
    assert tx(card, "00A4020002000A")[1] == "6A86"
    assert tx(card, "00A4020C020018")[1] == "9000"
    assert tx(card, "00200081")[1] == "6A86"
    assert tx(card, "802A0081023031")[1] == "6A86"


def test_unknown_instruction_is_6d00_and_wrong_class_is_6e00(card):
    assert tx(card, "00CA010000")[1] == "6D00"
    assert tx(card, "80A4040C0A" + JPKI_AID.hex())[1] == "6E00"


def test_malformed_apdu_is_6700(card):
    assert tx(card, "00A4")[1] == "6700"
    assert tx(card, "00A4040C0AD392")[1] == "6700"


def test_pin_tries_query_spends_nothing(card):
    in_ap(card, "0018")
    assert tx(card, "00200080")[1] == "63C3"
    assert tx(card, "00200080")[1] == "63C3"


def test_wrong_pin_counts_down_then_blocks(card):
    changes = []
    card.on_change = lambda d: changes.append(d.pin_tries_left)
    in_ap(card, "0018")
    assert tx(card, "002000800431313131")[1] == "63C2"
    assert tx(card, "002000800431313131")[1] == "63C1"
    assert tx(card, "002000800431313131")[1] == "63C0"
    assert tx(card, "00200080")[1] == "63C0"
    # blocked: even the right PIN is refused
    assert tx(card, "00200080" + "04" + b"4321".hex())[1] == "6983"
    assert changes == [2, 1, 0]


def test_right_pin_resets_the_counter(card):
    in_ap(card, "0018")
    assert tx(card, "002000800431313131")[1] == "63C2"
    assert tx(card, "00200080" + "04" + b"4321".hex())[1] == "9000"
    assert card.data.pin_tries_left == 3
    assert tx(card, "00200080")[1] == "9000"  # verified


def _sign_apdu(message: bytes) -> str:
    info = DIGESTINFO + hashlib.sha256(message).digest()
    return "802A0080" + f"{len(info):02X}" + info.hex() + "00"


def test_sign_needs_the_pin(card):
    in_ap(card, "0017")
    assert tx(card, _sign_apdu(b"challenge"))[1] == "6982"


def test_sign_after_pin_makes_a_pkcs1_signature(card, card_data):
    in_ap(card, "0018")
    assert tx(card, "00200080" + "04" + b"4321".hex())[1] == "9000"
    assert tx(card, "00A4020C020017")[1] == "9000"
    sig, sw = tx(card, _sign_apdu(b"challenge"))
    assert sw == "9000" and len(sig) == 256
    cert = x509.load_der_x509_certificate(card_data.auth_certificate)
    cert.public_key().verify(sig, b"challenge", padding.PKCS1v15(), hashes.SHA256())


def test_reset_forgets_the_verified_pin(card):
    in_ap(card, "0018")
    assert tx(card, "00200080" + "04" + b"4321".hex())[1] == "9000"
    card.reset()
    in_ap(card, "0017")
    assert tx(card, _sign_apdu(b"x"))[1] == "6982"


def test_signing_password_and_certificates_answer_like_a_real_card(card):
    # what OpenSC's jpki driver touches besides the user-authentication files
    in_ap(card, "001B")
    assert tx(card, "00200080")[1] == "63C5"
    assert tx(card, "00A4020C020001")[1] == "9000"
    assert tx(card, "00B0000004")[1] == "6982"
    assert tx(card, "00A4020C020002")[1] == "9000"
    assert tx(card, "00B0000004")[1] == "6982"


def test_keys_and_pins_are_not_readable(card):
    in_ap(card, "0017")
    assert tx(card, "00B0000004")[1] == "6981"
    assert tx(card, "00A4020C020018")[1] == "9000"
    assert tx(card, "00B0000004")[1] == "6981"


def test_a_non_jpki_card_refuses_the_jpki_application():
    card = NonJpkiCard()
    assert tx(card, SELECT_JPKI)[1] == "6A82"
