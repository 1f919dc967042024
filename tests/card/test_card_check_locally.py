"""The terminal's own look at a card before it asks the server (the counter and `mkp-agent mykey`
both make it): a card its downloaded trust list or CRL already condemns is refused with the
certificate's code and one line; a card it cannot judge for want of a fresh CRL goes on to the
server, which has one."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from agent.card_session import ProvingCard, check_card_locally
from drivers.card.virtual.ca import TestCA
from drivers.card.virtual.cardfile import new_card
from mkp_core.crl import CrlStore
from mkp_core.errors import Forbidden
from mkp_core.trust import TrustStore


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> TestCA:
    return TestCA.init(tmp_path_factory.mktemp("local-check") / "ca")


def _trust(ca: TestCA) -> TrustStore:
    return TrustStore.from_pem(ca.certificate.public_bytes(Encoding.PEM))


def _crl(ca: TestCA, trust: TrustStore) -> list[CrlStore]:
    return [CrlStore.load(ca.issue_crl().public_bytes(Encoding.DER), trust)]


def _card(ca: TestCA, **kw: bool) -> ProvingCard:
    # Only the certificate is looked at: no reader, no card channel.
    return ProvingCard(card=None, reader="", certificate=new_card(ca, **kw).auth_certificate)  # type: ignore[arg-type]


def test_a_good_card_with_a_fresh_crl_passes(ca):
    trust = _trust(ca)
    check_card_locally(_card(ca), trust, _crl(ca, trust))


def test_a_revoked_card_is_refused_with_its_code_and_one_line(ca):
    card, trust = _card(ca), _trust(ca)
    ca.revoke(x509.load_der_x509_certificate(card.certificate).serial_number)
    with pytest.raises(Forbidden) as refused:
        check_card_locally(card, trust, _crl(ca, trust))
    assert refused.value.code == "certificate_revoked"
    assert refused.value.message.startswith("the card's certificate cannot be used: ")


def test_an_expired_card_is_refused(ca):
    trust = _trust(ca)
    with pytest.raises(Forbidden) as refused:
        check_card_locally(_card(ca, expired=True), trust, _crl(ca, trust))
    assert refused.value.code == "certificate_expired"


def test_a_card_from_another_ca_is_refused(ca, tmp_path: Path):
    other = TestCA.init(tmp_path / "other")
    trust = _trust(ca)
    with pytest.raises(Forbidden) as refused:
        check_card_locally(_card(other), trust, _crl(ca, trust))
    assert refused.value.code == "certificate_untrusted"


def test_without_a_fresh_crl_the_card_goes_on_to_the_server(ca):
    trust = _trust(ca)
    check_card_locally(_card(ca), trust, [])  # no CRL downloaded yet: crl_stale, not refused here


def test_it_judges_at_the_time_it_is_given(ca):
    card, trust = _card(ca), _trust(ca)
    later = datetime.now(UTC) + timedelta(days=365 * 6)  # past the five-year certificate
    with pytest.raises(Forbidden) as refused:
        check_card_locally(card, trust, [], at=later)
    assert refused.value.code == "certificate_expired"
