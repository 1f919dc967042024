"""Partner signatures: a terminal's signature with its own tag, ``mkp-partner``; a
signature made under one tag never verifies under the other (fast path and library path alike)."""

from __future__ import annotations

import pytest

from mkp_core import signing

URL = "https://mkp.example/partner/v1/conversions"
BODY = b'{"order_id": "o-1"}'


@pytest.mark.parametrize("key_id", ["partner:ANA", "partner:ANA with space"])  # fast path, library path
def test_a_signature_counts_only_under_its_own_tag(key_id):
    key = signing.generate_terminal_key()
    keys = signing.InMemoryKeyResolver({key_id: key.public_key()})
    headers = signing.RequestSigner(key_id, key, tag=signing.PARTNER_TAG).headers("POST", URL, BODY)
    signed = signing.verify_signature("POST", URL, headers, keys, tag=signing.PARTNER_TAG)
    assert signed.key_id == key_id
    with pytest.raises(signing.MissingSignature):
        signing.verify_signature("POST", URL, headers, keys)  # a terminal's endpoint
    terminal = signing.RequestSigner(key_id, key).headers("POST", URL, BODY)
    with pytest.raises(signing.MissingSignature):
        signing.verify_signature("POST", URL, terminal, keys, tag=signing.PARTNER_TAG)


def test_partner_auth_names_the_partner():
    auth = signing.partner_auth("ANA", signing.generate_terminal_key())
    assert auth.key_id == "partner:ANA" and auth.signer.tag == signing.PARTNER_TAG
