"""schemathesis over the partner API with a partner's real signature on every case (the shared
fuzz, tests/server/test_openapi_fuzz.py, rides an operator token, which the partner API refuses
before it reads a body): no input gets a 500, every answer matches the document. Both databases."""

import json

import pytest
import schemathesis
from hypothesis import given
from mkp_testing import fuzz_settings
from partners_helpers import add_partner, link, new_holder, signed_by

FUZZ = fuzz_settings(25)

pytestmark = pytest.mark.slow


def test_partner_api_never_fails_with_a_server_error(mykey):
    partner = add_partner(mykey, "ANA")
    link(mykey, new_holder(mykey), partner, "A-1")  # some bodies reach a real member
    schema = schemathesis.openapi.from_wsgi("/openapi.json", mykey.app)
    operations = [r.ok() for r in schema.get_all_operations() if r.ok().path.startswith("/partner/v1/")]
    assert {o.path for o in operations} == {
        "/partner/v1/links/confirm",
        "/partner/v1/conversions",
        "/partner/v1/conversions/batch",
        "/partner/v1/coupons",
    }
    for operation in operations:

        @given(case=operation.as_strategy())
        @FUZZ
        def fuzz(case):
            body = case.body if isinstance(case.body, dict | list | str | int | float | bool) else None
            if isinstance(body, dict) and "count" in body and isinstance(body["count"], int):
                body["count"] = min(body["count"], 50)  # a fuzzed batch of 100,000 codes is slow, not wrong
            response = signed_by(mykey.client, partner.auth, case.formatted_path, body)
            assert response.status_code < 500, (
                f"{case.operation.label}: {response.status_code} {response.text}"
            )
            assert response.status_code != 401, response.json  # the signature is good: the body is judged
            if response.status_code >= 400:
                assert set(json.loads(response.data)["error"]) >= {"code", "message"}

        fuzz()
