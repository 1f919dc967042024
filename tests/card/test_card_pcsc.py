"""The JPKI client over the real PC/SC stack: pyscard → pcscd → vpcd → virtual card."""

from __future__ import annotations

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from mkp_testing import READER0, READER1

from drivers.card.jpki import JPKI_AID, JpkiCard
from drivers.card.pcsc import PcscBackend
from drivers.card.reader import (
    CardRemovedError,
    InvalidPinFormatError,
    NoCardError,
    NoReaderError,
    NotMyNumberCardError,
    PinBlockedError,
    PinRequiredError,
    WrongPinError,
)
from drivers.card.virtual.card import JPKI_ATR, NonJpkiCard
from drivers.card.virtual.cardfile import load_card

pytestmark = pytest.mark.pcsc


def open_card(reader: str | None = None) -> JpkiCard:
    return JpkiCard(PcscBackend().connect(reader))


def test_vpcd_readers_are_listed(pcscd):
    names = PcscBackend().readers()
    assert READER0 in names and READER1 in names


def test_reads_the_certificate_the_card_holds(slots, make_card):
    path = make_card()
    slots.insert(path)
    card = open_card()
    assert card.channel.reader == READER0
    assert card.channel.atr == JPKI_ATR
    assert card.identify().startswith("JPKIAPICCTOKEN2")
    assert card.read_auth_certificate() == load_card(path).auth_certificate
    assert card.read_auth_ca_certificate() == load_card(path).ca_certificate
    card.channel.close()


def test_pin_then_signature_verifies_with_the_certificate(slots, make_card):
    path = make_card(pin="2580")
    slots.insert(path)
    with PcscBackend().connect() as ch:
        card = JpkiCard(ch)
        assert card.pin_tries_left() == 3
        card.verify_pin("2580")
        sig = card.sign(b"server challenge")
        cert = x509.load_der_x509_certificate(card.read_auth_certificate())
        cert.public_key().verify(sig, b"server challenge", padding.PKCS1v15(), hashes.SHA256())


def test_sign_without_pin_is_refused(slots, make_card):
    slots.insert(make_card())
    with PcscBackend().connect() as ch, pytest.raises(PinRequiredError):
        JpkiCard(ch).sign(b"challenge")


def test_verified_pin_does_not_outlive_the_connection(slots, make_card):
    slots.insert(make_card())
    with PcscBackend().connect() as ch:
        JpkiCard(ch).verify_pin("1234")
    with PcscBackend().connect() as ch, pytest.raises(PinRequiredError):
        JpkiCard(ch).sign(b"challenge")


def test_only_the_jpki_application_is_ever_selected(slots, make_card):
    vcard = slots.insert(make_card())
    with PcscBackend().connect() as ch:
        card = JpkiCard(ch)
        card.read_auth_certificate()
        card.pin_tries_left()
        card.verify_pin("1234")
        card.sign(b"x")
    assert vcard.selected_aids and set(vcard.selected_aids) == {JPKI_AID}


def test_wrong_pin_three_times_blocks_and_stays_blocked_after_reinsertion(slots, make_card):
    path = make_card()
    slots.insert(path)
    with PcscBackend().connect() as ch:
        card = JpkiCard(ch)
        with pytest.raises(WrongPinError) as e1:
            card.verify_pin("0000")
        assert e1.value.tries_left == 2 and "2 tries left" in str(e1.value)
        with pytest.raises(WrongPinError) as e2:
            card.verify_pin("0000")
        assert e2.value.tries_left == 1
        with pytest.raises(PinBlockedError):
            card.verify_pin("0000")
        assert card.pin_tries_left() == 0
    slots.remove()
    assert load_card(path).pin_tries_left == 0
    slots.insert(path)
    with PcscBackend().connect() as ch:
        card = JpkiCard(ch)
        assert card.pin_tries_left() == 0
        with pytest.raises(PinBlockedError):
            card.verify_pin("1234")  # the right PIN no longer helps


@pytest.mark.parametrize("pin", ["123", "12345", "12a4", "abcd", "", "１２３４", " 1234"])
def test_malformed_pin_is_refused_before_anything_is_sent(slots, make_card, pin):
    vcard = slots.insert(make_card())
    with PcscBackend().connect() as ch:
        card = JpkiCard(ch)
        card.identify()
        sent = len(vcard.commands)
        with pytest.raises(InvalidPinFormatError):
            card.verify_pin(pin)
        assert len(vcard.commands) == sent
        assert card.pin_tries_left() == 3


def test_empty_reader(pcscd, slots):
    with pytest.raises(NoCardError, match="no card"):
        PcscBackend().connect(READER0)
    with pytest.raises(NoCardError):
        PcscBackend().connect()


def test_unknown_reader_name(pcscd):
    with pytest.raises(NoReaderError, match="no reader named"):
        PcscBackend().connect("ACS ACR39U")


@pytest.mark.parametrize("atr", [JPKI_ATR, NonJpkiCard().atr], ids=["jpki-atr", "other-atr"])
def test_a_card_without_jpki_is_not_a_my_number_card(slots, atr):
    # even with the My Number card's ATR: the card is identified by its application, not its ATR
    slots.insert_card(NonJpkiCard(atr=atr))
    # the reader named: a card another test left in the second slot may still be seen for a moment
    with (
        PcscBackend().connect(READER0) as ch,
        pytest.raises(NotMyNumberCardError, match="not a My Number card"),
    ):
        JpkiCard(ch).read_auth_certificate()


def test_second_slot(slots, make_card):
    path = make_card()
    slots.insert(path, slot=1)
    with PcscBackend().connect() as ch:
        assert ch.reader == READER1
        assert JpkiCard(ch).read_auth_certificate() == load_card(path).auth_certificate


def _read_at_offset(apdu: bytes) -> bool:
    return apdu[1] == 0xB0 and (apdu[2] or apdu[3])


def test_card_removed_mid_read(slots, make_card):
    slots.insert(make_card(), pull_on=_read_at_offset)
    with PcscBackend().connect() as ch, pytest.raises(CardRemovedError, match="removed"):
        JpkiCard(ch).read_auth_certificate()


def test_card_removed_mid_sign(slots, make_card):
    slots.insert(make_card(), pull_on=lambda apdu: apdu[1] == 0x2A)
    with PcscBackend().connect() as ch:
        card = JpkiCard(ch)
        card.verify_pin("1234")
        with pytest.raises(CardRemovedError):
            card.sign(b"challenge")
        with pytest.raises(CardRemovedError):
            card.read_auth_certificate()  # and it stays gone
